#!/usr/bin/env bash
# NON-STANDARD CPU evidence for Birodkar et al. 2019 (see summary.md): cnn4 at width 16 on a fixed 5%
# of Fashion-MNIST and of the CIFAR-10 JPEG copy, the paper's CNN presets cut to 6 epochs, tested on a
# fixed 1000-image test subset; CV over layer {2,3} x alpha 5 x norm l1 on 5 folds of 20%; 5 seeds.
# Resumable: rerun the same command to continue; add --report-only to print the table only.
set -euo pipefail
cd "$(dirname "$0")/../.."
SETTING=${1:?cnn-fmnist-5pct or cnn-cifar10jpg-5pct}
shift
case "$SETTING" in
  cnn-fmnist-5pct) DATA=(--data-path ../shared/data/fashion-mnist) ;;
  cnn-cifar10jpg-5pct) DATA=(--data-path ../shared/data/cifar10-jpg.tar.gz) ;;
  *) echo "unknown setting $SETTING" >&2; exit 2 ;;
esac
PYTHONPATH=src OMP_NUM_THREADS=1 exec nice -n 10 "${PYTHON:-python}" -m poolbench reproduce birodkar2019 "$SETTING" \
  --seeds 0-4 --folds 5 --layers 2,3 --alphas 5 --norms l1 --epochs 6 --test-subset 1000 \
  --model-arg width=16 --runs-dir experiments/birodkar2019-cpu/runs --device cpu "${DATA[@]}" "$@"
