"""Benchmark: peak memory of ``deepclust predict`` on a 1,000,000 × 784 float32 ``.npy`` (3.1 GB).

Not a test. Builds the file once in ``benchmarks/cache/`` (the bundled 10k MNIST digits, each
repeated 100 times with its pixels shifted by a random number of rows, written block by block),
fits the default method (N2D, 5 pretraining epochs: the figure measured is memory, not accuracy)
on the bundled sample, then runs the CLI under ``/usr/bin/time -v`` and records its maximum
resident set size, wall time and the machine in ``benchmarks/results/stream_predict.{json,md}``.

    python benchmarks/stream_predict.py --rows 1000000
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from deepclust import N2D
from deepclust.datasets import load_mnist_sample
from deepclust.files import atomic_write_bytes
from run import CACHE, machine, time_v

RESULTS = Path(__file__).resolve().parent / "results"
DEEPCLUST = Path(sys.executable).with_name("deepclust")


def build_file(path: Path, rows: int, seed: int) -> None:
    """``rows`` shifted copies of the MNIST sample as one float32 .npy, written in blocks."""
    if path.exists() and np.load(path, mmap_mode="r").shape == (rows, 784):
        return
    X, _ = load_mnist_sample()
    X = X.reshape(len(X), 784)
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f4", "fortran_order": False, "shape": (rows, 784)}
        )
        for start in range(0, rows, len(X)):
            count = min(len(X), rows - start)
            block = np.roll(X[:count], int(rng.integers(-2, 3)) * 28, axis=1)
            block.astype("<f4").tofile(fh)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = CACHE / f"stream-{args.rows}.npy"
    build_file(data, args.rows, args.seed)
    model = CACHE / "stream-model"
    if not (model / "config.json").exists():
        X, _ = load_mnist_sample()
        N2D(10, pretrain_epochs=5, random_state=args.seed, device="cpu", verbose=0).fit(X).save(model)
    labels = CACHE / "stream-labels.csv"
    command = [str(DEEPCLUST), "predict", str(model), str(data), "--out", str(labels), "--device", "cpu"]
    peak_mb, seconds, _ = time_v(command)
    with open(labels) as fh:
        written = sum(1 for _ in fh) - 1
    result = {
        "rows": args.rows, "file_gb": round(data.stat().st_size / 1e9, 2), "peak_rss_mb": round(peak_mb),
        "wall_seconds": round(seconds, 1), "labels_written": written, "method": "n2d",
        "pretrain_epochs": 5, "seed": args.seed, "command": " ".join(command),
        "machine": machine(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(exist_ok=True)
    atomic_write_bytes(RESULTS / "stream_predict.json", (json.dumps(result, indent=2) + "\n").encode())
    table = (
        "# deepclust predict on a memory-heavy .npy\n\n"
        f"`python benchmarks/stream_predict.py --rows {args.rows}` ({result['date']}, "
        f"{result['machine']['processor']}, {result['machine']['cpu_count']} CPUs)\n\n"
        "| rows | file | peak RSS (/usr/bin/time -v) | wall time | labels written |\n|---|---|---|---|---|\n"
        f"| {args.rows:,} × 784 float32 | {result['file_gb']} GB | {result['peak_rss_mb']:,} MB | "
        f"{result['wall_seconds']} s | {written:,} |\n"
    )
    atomic_write_bytes(RESULTS / "stream_predict.md", table.encode())
    print(table)


if __name__ == "__main__":
    main()
