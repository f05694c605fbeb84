"""``python -m alkit``: list registries, validate params, build the figure index.

    python -m alkit list datasets|models|strategies|notebooks
    python -m alkit validate params/mteb_sweep/cpu.yaml [...]   # exit 1 naming the bad key/value
    python -m alkit index [--profile cpu]                        # rebuild figures/README.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

LISTS = ("datasets", "models", "strategies", "notebooks")


def _list(what: str) -> list[str]:
    if what == "datasets":
        from alkit.data import DATASETS

        return [f"{k:22s} {v.task:15s} {v.description}" for k, v in sorted(DATASETS.items())]
    if what == "models":
        from alkit.models import MODELS

        return [f"{k:50s} {v.kind}" for k, v in sorted(MODELS.items())]
    if what == "strategies":
        from alkit.strategies import INIT_STRATEGIES, STRATEGIES

        return [f"{k:18s} needs={sorted(v.needs)}" + ("  (also an initial-pool selector)" if k in INIT_STRATEGIES else "")
                for k, v in sorted(STRATEGIES.items())]  # fmt: skip
    from alkit.config import NOTEBOOK_CONFIGS

    return sorted(NOTEBOOK_CONFIGS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alkit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list datasets, models, strategies or notebooks")
    p_list.add_argument("what", choices=LISTS)
    p_val = sub.add_parser("validate", help="validate params files strictly")
    p_val.add_argument("files", nargs="+", type=Path)
    p_idx = sub.add_parser("index", help="rebuild figures/README.md")
    p_idx.add_argument("--profile", default=None, help="profile to record for figures made now")
    args = parser.parse_args(argv)

    if args.command == "list":
        print("\n".join(_list(args.what)))
        return 0
    if args.command == "validate":
        from alkit.config import ConfigError, validate_file

        failed = 0
        for path in args.files:
            try:
                validate_file(path)
                print(f"ok      {path}")
            except (ConfigError, FileNotFoundError) as err:
                failed += 1
                print(f"INVALID {err}", file=sys.stderr)
        return 1 if failed else 0
    if args.command == "index":
        from alkit.index import write_index

        path = write_index()
        print(f"wrote {path}")
        return 0
    return 2
