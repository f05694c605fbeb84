#!/usr/bin/env bash
# The main job: set up the environment if needed, validate every params file, run each notebook
# headlessly with papermill, then rebuild figures/README.md.
#
#   ./run_all.sh [--profile smoke|cpu|paper] [--only NAME,...]
#
# Executed copies go to runs/<profile>/<notebook>.ipynb; figures to figures/<notebook>/.
set -euo pipefail
cd "$(dirname "$0")"

PROFILE=cpu
ONLY=""
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE="${2:?--profile needs a value}"; shift 2 ;;
    --profile=*) PROFILE="${1#*=}"; shift ;;
    --only) ONLY="${2:?--only needs a value}"; shift 2 ;;
    --only=*) ONLY="${1#*=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_all.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case "$PROFILE" in
  smoke|cpu|paper) ;;
  *) echo "run_all.sh: unknown profile '$PROFILE'; valid profiles: smoke cpu paper" >&2; exit 2 ;;
esac

bash scripts/setup.sh
PY="${ALKIT_VENV:-.venv}/bin/python"
export ALKIT_PROFILE="$PROFILE"
export TOKENIZERS_PARALLELISM=false

# Every notebook that exists, in a fixed order; --only narrows it (names checked first).
ALL=()
for nb in notebooks/*.ipynb; do ALL+=("$(basename "$nb" .ipynb)"); done
SELECTED=("${ALL[@]}")
if [ -n "$ONLY" ]; then
  IFS=',' read -r -a SELECTED <<< "$ONLY"
  for name in "${SELECTED[@]}"; do
    if [ ! -f "notebooks/$name.ipynb" ]; then
      echo "run_all.sh: unknown notebook '$name'; valid names: ${ALL[*]}" >&2
      exit 2
    fi
  done
fi

echo "[run_all] validating params"
"$PY" -m alkit validate params/*/*.yaml

mkdir -p "runs/$PROFILE"
i=0
for name in "${SELECTED[@]}"; do
  i=$((i + 1))
  params="params/$name/$PROFILE.yaml"
  out="runs/$PROFILE/$name.ipynb"
  echo "[run_all] ($i/${#SELECTED[@]}) $name, profile $PROFILE -> $out  ($(date +%H:%M:%S))"
  start=$(date +%s)
  if ! "$PY" -m papermill "notebooks/$name.ipynb" "$out" -f "$params" --log-output --no-progress-bar \
       --kernel python3 --cwd notebooks; then
    echo "[run_all] FAILED: notebook '$name' (profile $PROFILE). The failing cell and its traceback are" >&2
    echo "          printed above and saved in $out." >&2
    exit 1
  fi
  echo "[run_all] $name done in $(( $(date +%s) - start )) s"
done

"$PY" -m alkit index
echo "[run_all] figures index: figures/README.md"
