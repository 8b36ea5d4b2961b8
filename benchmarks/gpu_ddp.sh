#!/usr/bin/env bash
# For a GPU machine (not run by the suite): MNIST-70k on one GPU, then on every GPU of the
# machine through torchrun + NCCL (--nproc = the GPU count), with a short recipe that fits the
# device budget (about 8 minutes in all on one H200-class GPU). Writes its logs and the two runs'
# metrics under $OUT (default: benchmarks/results/gpu_ddp).
#
#     bash benchmarks/gpu_ddp.sh
set -euo pipefail
OUT=${OUT:-benchmarks/results/gpu_ddp}
mkdir -p "$OUT"
make venv >/dev/null
GPUS=$(.venv/bin/python -c "import torch; print(torch.cuda.device_count())")
if [ "$GPUS" -lt 1 ]; then echo "no GPU here" >&2; exit 1; fi
.venv/bin/python - <<'PY'
import numpy as np
from deepclust.datasets import load_mnist
X, y = load_mnist("../shared/data/mnist", split="all")
np.save("/tmp/mnist70k.npy", X)
np.save("/tmp/mnist70k-labels.npy", y)
PY
RECIPE=(-k 10 --labels /tmp/mnist70k-labels.npy --pretrain-epochs 30 --batch-size 256 --epochs 5 --seed 0)
nvidia-smi --query-gpu=name,memory.total --format=csv > "$OUT/gpus.csv"
for N in 1 "$GPUS"; do
  /usr/bin/time -v .venv/bin/deepclust fit /tmp/mnist70k.npy "${RECIPE[@]}" --out "/tmp/gpu-$N" --nproc "$N" \
    2> "$OUT/fit-$N-gpus.log"
  cp "/tmp/gpu-$N/metrics.json" "$OUT/metrics-$N-gpus.json"
  [ "$N" = "$GPUS" ] && break
done
grep -h '"acc"\|"seconds"' "$OUT"/metrics-*.json
