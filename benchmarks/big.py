"""Benchmark: training from a file of millions of images on one machine (``make bench-big``).

Not a test. Builds ``benchmarks/cache/big-<rows>.npy`` once: MNIST's 70,000 images, each drawn
again and again with a random shift (up to 10% of the side) and rotation (up to 10°), as uint8
``(rows, 28, 28)`` in random order, with the true digit of every row beside it. Then, each
command under ``/usr/bin/time -v`` (peak resident memory, wall time):

- ``deepclust fit big-1000000.npy -k 10`` with a short pretraining (the CLI streams the file:
  3.1 GB as float32), ACC/NMI/ARI against the digits;
- the same on ``big-4000000.npy`` (12.5 GB as float32) with one pretraining epoch and no
  self-labelling: the peak memory must not grow with the rows;
- the default (``deepclust fit mnist70k.npy -k 10``, nothing else) on MNIST-70k in memory, with
  this checkout and with ``--before REV`` (a git worktree of an earlier commit, so no slowdown
  or loss of accuracy goes unseen);
- pretraining throughput on the first 200,000 rows of the 1M file, from the file and from the
  same rows in memory, alternately (rows per second, ratio).

Results go to ``benchmarks/results/big.{json,md}``.

    python benchmarks/big.py --before 184b028
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from deepclust import Autoencoder
from deepclust.datasets import load_mnist
from deepclust.files import atomic_write_bytes
from deepclust.training import random_shift_rotate
from run import CACHE, DEFAULT_MNIST, machine, time_v

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DEEPCLUST = Path(sys.executable).with_name("deepclust")
#: the settings of every big run beside ``-k 10`` (few epochs: the budget of a 20-minute run)
FIT_1M = ["--pretrain-epochs", "3", "--epochs", "1", "--batch-size", "256"]
FIT_4M = ["--pretrain-epochs", "1", "--epochs", "0", "--batch-size", "256"]


def build(rows: int, seed: int, mnist_dir: Path) -> tuple[Path, Path]:
    """``big-<rows>.npy`` (uint8 images) and ``big-<rows>-labels.npy``, built once in blocks."""
    data, labels = CACHE / f"big-{rows}.npy", CACHE / f"big-{rows}-labels.npy"
    if data.exists() and labels.exists():
        return data, labels
    X, y = load_mnist(mnist_dir, split="all")
    images = torch.as_tensor(X.reshape(-1, 28, 28), dtype=torch.float32)
    images = images / images.max()
    rng = np.random.default_rng(seed)
    source = rng.integers(0, len(images), rows)
    torch.manual_seed(seed)
    CACHE.mkdir(exist_ok=True)
    tmp = data.with_suffix(".tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(rows, 28, 28))
    for start in range(0, rows, 50_000):
        moved = random_shift_rotate(images[source[start:start + 50_000]])
        out[start:start + len(moved)] = (moved.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    out.flush()
    del out
    np.save(labels, np.asarray(y)[source])
    tmp.replace(data)
    return data, labels


def cli_fit(data: Path, labels: Path, settings: list[str], out: Path, pythonpath: str | None = None) -> dict:
    """``deepclust fit`` under ``/usr/bin/time -v``: peak RSS, wall time and the metrics written."""
    command = [str(DEEPCLUST), "fit", str(data), "-k", "10", "--labels", str(labels), *settings,
               "--seed", "0", "--device", "cpu", "--out", str(out)]
    env = None if pythonpath is None else {**os.environ, "PYTHONPATH": pythonpath}
    peak_mb, seconds, log = time_v(command, env)
    metrics = json.loads((out / "metrics.json").read_text())
    return {"command": " ".join(["deepclust", *command[1:]]), "peak_rss_mb": round(peak_mb),
            "wall_seconds": round(seconds, 1),
            "fit_seconds": round(metrics["seconds"], 1), "acc": metrics["acc"], "nmi": metrics["nmi"],
            "ari": metrics["ari"], "log_tail": log.strip().splitlines()[-12:]}


def throughput(data: Path, rows: int, repeats: int) -> dict:
    """Rows per second of one pretraining epoch (batch 256) from the file and from memory."""
    head = CACHE / f"big-head-{rows}.npy"
    if not head.exists():
        np.save(head, np.load(data, mmap_mode="r")[:rows])
    in_memory = np.load(head)
    seconds = {"file": [], "memory": []}
    for _ in range(repeats):
        for kind, X in (("file", head), ("memory", in_memory)):
            start = time.perf_counter()
            Autoencoder(epochs=1, batch_size=256, random_state=0, device="cpu").fit(X)
            seconds[kind].append(time.perf_counter() - start)
    best = {kind: min(values) for kind, values in seconds.items()}
    return {"rows": rows, "seconds": seconds, "rows_per_second": {k: round(rows / v) for k, v in best.items()},
            "file_over_memory": round(best["memory"] / best["file"], 3)}


def markdown(result: dict) -> str:
    lines = [
        "# Training from a file: 1,000,000 and 4,000,000 images on one machine",
        "",
        f"`python benchmarks/big.py --before {result['before']}` ({result['date']}, "
        f"{result['machine']['processor']}, {result['machine']['cpu_count']} CPUs, device cpu, seed 0). "
        "Images: MNIST's 70,000, randomly shifted and rotated, uint8, random order.",
        "",
        "| run | rows | settings | wall time | fit | peak RSS | ACC | NMI | ARI |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in result["runs"].items():
        settings = f"`{run['settings']}`" if run["settings"] else "defaults"
        lines.append(
            f"| {name} | {run['rows']:,} | {settings} | {run['wall_seconds']} s | {run['fit_seconds']} s | "
            f"{run['peak_rss_mb']:,} MB | {run['acc']:.4f} | {run['nmi']:.4f} | {run['ari']:.4f} |")
    t = result["throughput"]
    lines += [
        "",
        f"Pretraining throughput, one epoch at batch 256 on the first {t['rows']:,} rows, best of "
        f"{len(t['seconds']['file'])} alternating runs: from the file {t['rows_per_second']['file']:,} rows/s, "
        f"in memory {t['rows_per_second']['memory']:,} rows/s (file / memory = {t['file_over_memory']}).",
        "",
        "Commands:",
        "",
        *[f"- {name}: `{run['command']}`" for name, run in result["runs"].items()],
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-dir", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--before", default=None, help="a git revision to compare the in-memory MNIST-70k run with")
    parser.add_argument("--only", nargs="+", default=["1m", "4m", "mnist70k", "throughput"])
    args = parser.parse_args()
    runs = {}
    result_path = RESULTS / "big.json"
    previous = json.loads(result_path.read_text()) if result_path.exists() else {}
    runs.update(previous.get("runs", {}))
    throughput_result = previous.get("throughput")
    if "1m" in args.only or "throughput" in args.only:
        data, labels = build(1_000_000, 0, args.mnist_dir)
    if "1m" in args.only:
        runs["1M from file"] = {"rows": 1_000_000, "settings": " ".join(FIT_1M),
                                **cli_fit(data, labels, FIT_1M, CACHE / "big-1m-out")}
    if "throughput" in args.only:
        throughput_result = throughput(data, 200_000, repeats=2)
    if "4m" in args.only:
        data4, labels4 = build(4_000_000, 1, args.mnist_dir)
        runs["4M from file"] = {"rows": 4_000_000, "settings": " ".join(FIT_4M),
                                **cli_fit(data4, labels4, FIT_4M, CACHE / "big-4m-out")}
    if "mnist70k" in args.only:
        X, y = load_mnist(args.mnist_dir, split="all")
        X70, y70 = CACHE / "mnist70k.npy", CACHE / "mnist70k-labels.npy"
        np.save(X70, X)
        np.save(y70, y)
        runs["MNIST-70k in memory, this checkout"] = {
            "rows": 70_000, "settings": "", **cli_fit(X70, y70, [], CACHE / "big-70k-out")}
        if args.before:
            worktree = CACHE / f"before-{args.before}"
            if not worktree.exists():
                subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.before], check=True)
            runs[f"MNIST-70k in memory, {args.before}"] = {
                "rows": 70_000, "settings": "",
                **cli_fit(X70, y70, [], CACHE / "big-70k-before-out", pythonpath=str(worktree / "src"))}
    result = {"runs": runs, "throughput": throughput_result, "before": args.before, "seed": 0,
              "machine": machine(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    RESULTS.mkdir(exist_ok=True)
    atomic_write_bytes(result_path, (json.dumps(result, indent=2) + "\n").encode())
    if throughput_result is not None:
        atomic_write_bytes(RESULTS / "big.md", markdown(result).encode())
    print(json.dumps({k: {m: v for m, v in r.items() if m != "log_tail"} for k, r in runs.items()}, indent=2))


if __name__ == "__main__":
    main()
