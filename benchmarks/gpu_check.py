"""The prepared device check (``bash benchmarks/gpu_check.sh``): one script for a lent GPU.

Not a test. On one GPU, in about 8 minutes, it measures and writes to ``OUT/gpu_check.{md,json}``
(default ``benchmarks/results``):

- the demo's wall time (``deepclust demo``, a new process);
- MNIST-70k with N2D's ``fast`` and ``default`` presets, end to end in new processes
  (``benchmarks/presets.py``): wall time and ACC;
- training samples per second of the standard autoencoder (d-500-500-2000-10) at batch 256 and
  4096, ``precision="auto"``, and the peak GPU memory of those runs;
- whether ``deterministic=True`` gives the same labels twice (N2D ``fast`` on the bundled sample).

``--dry-run`` runs every step on a few hundred rows of the bundled sample with one epoch, in
this process and on whatever device there is: it checks the script, not the hardware (the test
suite runs it on the CPU).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from deepclust import N2D, Autoencoder, evaluate
from deepclust.datasets import load_mnist, load_mnist_sample
from deepclust.files import atomic_write_bytes
from deepclust.training import flushing_denormals
from run import DEFAULT_MNIST, machine

HERE = Path(__file__).resolve().parent
DEEPCLUST = Path(sys.executable).with_name("deepclust")
#: the dry run's rows of the bundled sample, and its settings that keep every step to seconds
DRY_ROWS = 300
DRY = dict(pretrain_epochs=1, epochs=1, n_init=1)


def demo(dry: bool, scratch: Path) -> dict:
    """Wall time of the demo (dry: ``deepclust fit`` on a few rows, one epoch, no report)."""
    if dry:
        X, y = load_mnist_sample()
        np.save(scratch / "rows.npy", X[:DRY_ROWS])
        np.save(scratch / "labels.npy", y[:DRY_ROWS])
        command = [str(DEEPCLUST), "fit", str(scratch / "rows.npy"), "--labels", str(scratch / "labels.npy"),
                   "-k", "10", "--method", "ae-kmeans", "--pretrain-epochs", "1", "--no-report"]
    else:
        command = [str(DEEPCLUST), "demo"]
    start = time.perf_counter()
    subprocess.run([*command, "--quiet", "--out", str(scratch / "demo")], check=True)
    metrics = json.loads((scratch / "demo" / "metrics.json").read_text())
    return {"seconds": round(time.perf_counter() - start, 1), "acc": round(metrics["acc"], 4)}


def presets(dry: bool, mnist_dir: Path) -> dict:
    """MNIST-70k end to end with the ``fast`` and ``default`` presets (dry: a few rows, in process)."""
    found = {}
    for preset in ("fast", "default"):
        if dry:
            X, y = load_mnist_sample()
            start = time.perf_counter()
            model = N2D(10, preset=preset, random_state=0, **DRY).fit(X[:DRY_ROWS])
            found[preset] = {"total_s": round(time.perf_counter() - start, 1),
                             "acc": round(evaluate(y[:DRY_ROWS], model.labels_)["acc"], 4)}
            continue
        done = subprocess.run([sys.executable, str(HERE / "presets.py"), "--child", "--presets", preset, "--seeds",
                               "0", "--mnist-dir", str(mnist_dir)], check=True, capture_output=True, text=True)
        run = json.loads(done.stdout.strip().splitlines()[-1])
        found[preset] = {"total_s": run["total_s"], "acc": run["acc"]}
    return found


def throughput(dry: bool, mnist_dir: Path) -> dict:
    """Training samples per second of the standard autoencoder at batch 256 and 4096, and the
    peak GPU memory of those runs (MB; ``None`` on a CPU)."""
    X = load_mnist_sample()[0][:DRY_ROWS] if dry else load_mnist(mnist_dir, split="all")[0]
    epochs = 1 if dry else 3
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    rates = {}
    for batch in (256, 4096):
        model = Autoencoder(10, epochs=epochs, batch_size=batch, precision="auto", random_state=0).fit(X)
        seconds = sum(record["seconds"] for record in model.history_)
        rates[batch] = round(len(X) * epochs / seconds)
    peak = round(torch.cuda.max_memory_allocated() / 2**20) if cuda else None
    return {"samples_per_s": rates, "peak_gpu_mb": peak}


def deterministic(dry: bool) -> dict:
    """Whether two fits with ``deterministic=True`` and one seed give the same labels."""
    X, _ = load_mnist_sample()
    X = X[:DRY_ROWS] if dry else X
    extra = DRY if dry else {}
    labels = [N2D(10, preset="fast", deterministic=True, random_state=0, **extra).fit(X).labels_ for _ in range(2)]
    return {"same_labels": bool(np.array_equal(*labels))}


def markdown(result: dict) -> str:
    m, r = result["machine"], result["results"]
    rates = r["throughput"]["samples_per_s"]
    peak = r["throughput"]["peak_gpu_mb"]
    lines = [
        "# Device check" + (" (dry run: a few rows, one epoch; it checks the script, not the hardware)"
                            if result["dry_run"] else ""), "",
        f"Machine: {result['gpu'] or 'no GPU'}; {m['processor']}, {m['cpu_count']} cores, torch {m['torch']}. "
        f"Command: `{result['command']}`, {result['date']}, seed 0. Wall time in all: {result['seconds']:.0f} s.", "",
        "| measurement | value |", "|---|---|",
        f"| demo wall time | {r['demo']['seconds']:.1f} s (ACC {r['demo']['acc']:.4f}) |",
        *(f"| MNIST-70k `{p}` end to end | {v['total_s']:.1f} s, ACC {v['acc']:.4f} |"
          for p, v in r["presets"].items()),
        *(f"| autoencoder training, batch {b}, precision auto | {v:,} samples/s |" for b, v in rates.items()),
        f"| peak GPU memory (the training runs) | {'n/a (no GPU)' if peak is None else f'{peak:,} MB'} |",
        f"| `deterministic=True`: same labels twice | {'yes' if r['deterministic']['same_labels'] else 'NO'} |",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="every step on a few rows (checks the script)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder of gpu_check.{md,json}")
    parser.add_argument("--mnist-dir", type=Path, default=DEFAULT_MNIST)
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch, flushing_denormals():
        results = {"demo": demo(args.dry_run, Path(scratch)), "presets": presets(args.dry_run, args.mnist_dir),
                   "throughput": throughput(args.dry_run, args.mnist_dir), "deterministic": deterministic(args.dry_run)}
    result = {"results": results, "dry_run": args.dry_run, "machine": machine(),
              "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
              "seconds": time.perf_counter() - start, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": "bash benchmarks/gpu_check.sh" + (" --dry-run" if args.dry_run else "")}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out / "gpu_check.json", (json.dumps(result, indent=2) + "\n").encode())
    atomic_write_bytes(args.out / "gpu_check.md", markdown(result).encode())
    print(markdown(result))


if __name__ == "__main__":
    main()
