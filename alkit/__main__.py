from alkit.cli import main

raise SystemExit(main())
