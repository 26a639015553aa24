#!/usr/bin/env bash
# One lent GPU session in one go (see benchmarks/gpu_run.py and benchmarks/README.md):
#   bash benchmarks/gpu_run.sh --budget-s 450 --out "$OUT"
# Runs from the source tree (PYTHONPATH=src) with the machine's own python3; no install, no network.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "${PYTHON:-python3}" benchmarks/gpu_run.py "$@"
