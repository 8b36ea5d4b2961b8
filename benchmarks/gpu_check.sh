#!/usr/bin/env bash
# The prepared device check for a lent GPU machine (about 8 minutes on one H100/H200-class GPU):
# demo time, MNIST-70k with the fast and default presets, autoencoder samples/s at batch 256 and
# 4096, peak GPU memory, deterministic=True giving the same labels twice. Writes
# benchmarks/results/gpu_check.{md,json} (or --out DIR). `--dry-run` runs every step on a few rows
# on any machine: the test suite runs it on the CPU. See benchmarks/gpu_check.py.
#
#     bash benchmarks/gpu_check.sh [--dry-run] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || make venv >/dev/null
exec .venv/bin/python benchmarks/gpu_check.py "$@"
