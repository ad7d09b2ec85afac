#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU, in under 10 minutes,
#   1. benchmarks/train_speed.py: training images/s per strategy and precision, and the key number:
#      full fine-tuning through fit as a share of the bare training step of the same model (goal >= 70%);
#   2. notebooks 02-04 top to bottom in the gpu profile, each within a time budget;
# then writes OUT/results.md and OUT/results.json with the hardware (nvidia-smi) and versions.
#
#   bash benchmarks/gpu_check.sh [--out DIR]   # default DIR: gpu_check_results
#   bash benchmarks/gpu_check.sh --cpu         # the same steps on the CPU at tiny sizes, notebooks
#                                              # only checked, not run, the speed goal not judged: a test of this script
# Exit status: 0 passed, 1 a goal missed or a notebook failed, 2 no GPU (or bad arguments).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
OUT=gpu_check_results
MODE=gpu
SPEED_BUDGET=200     # seconds for train_speed.py (about 2 minutes on a big GPU with the defaults)
NOTEBOOK_BUDGET=120  # seconds for each notebook; the three and the benchmark fit in 10 minutes
NOTEBOOKS=(notebooks/02_feature_extraction.ipynb notebooks/03_fine_tuning.ipynb notebooks/04_nlp_transfer.ipynb)

while [ $# -gt 0 ]; do
  case $1 in
    --out) OUT=$2; shift 2 ;;
    --cpu) MODE=cpu; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ ! -x "$PY" ]; then
  echo "gpu_check: no Python at $PY: run 'make setup-dev' first, or set PYTHON=/path/to/python" >&2
  exit 2
fi
cd "$ROOT"
mkdir -p "$OUT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

if [ "$MODE" = gpu ]; then
  if ! command -v nvidia-smi >/dev/null || ! nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1; then
    echo "gpu_check: no NVIDIA GPU here (nvidia-smi is missing or failed). Run this on a machine" \
         "with a GPU, or 'bash benchmarks/gpu_check.sh --cpu' to test the script itself." >&2
    exit 2
  fi
  if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: nvidia-smi sees a GPU but torch.cuda.is_available() is False: install the CUDA" \
         "build of torch that matches the driver (see README, 'GPU or Mac')." >&2
    exit 2
  fi
  nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm --format=csv \
    >> "$OUT/nvidia-smi.txt" 2>&1 || true
  SPEED_ARGS=(--device cuda)
  NOTEBOOK_ARGS=(--profile gpu --budget "$NOTEBOOK_BUDGET")
else
  SPEED_ARGS=(--device cpu --model small_cnn --images 16 --repeats 1 --epochs 1)
  NOTEBOOK_ARGS=(--check)
fi

echo "gpu_check: training speed (at most $SPEED_BUDGET s) ..." >&2
if ! timeout "$SPEED_BUDGET" "$PY" benchmarks/train_speed.py "${SPEED_ARGS[@]}" --json "$OUT/train_speed.json" \
    > "$OUT/train_speed.txt"; then
  echo "gpu_check: benchmarks/train_speed.py failed or ran past $SPEED_BUDGET s: see $OUT/train_speed.txt" >&2
  exit 1
fi
echo "gpu_check: notebooks ${NOTEBOOKS[*]} ..." >&2
"$PY" benchmarks/run_notebooks.py "${NOTEBOOK_ARGS[@]}" --out "$OUT/notebooks" --json "$OUT/notebooks.json" \
  "${NOTEBOOKS[@]}" || true  # a failed notebook is in notebooks.json; the report says so
"$PY" -m pip freeze --quiet > "$OUT/versions.txt" 2>/dev/null || true
"$PY" benchmarks/gpu_check_report.py "$OUT"
