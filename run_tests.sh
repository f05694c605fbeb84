#!/usr/bin/env bash
# The test command: set up the environment if needed, then run the whole suite offline
# (unit tests, strategy contract, resume-after-kill, and every notebook with its smoke params).
#   ./run_tests.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "${ALKIT_VENV:-.venv}/bin/python" -m pytest -m "not gpu" "$@"
