"""Benchmark: one process with two threads against two processes with one thread each (``make bench-ddp``).

Not a test. Runs the default ``deepclust fit mnist70k.npy -k 10`` on all 70,000 MNIST images
(in memory) twice under ``/usr/bin/time -v``: as one process with ``OMP_NUM_THREADS=2``, and as
a torchrun job of two processes with one thread each (``--nproc 2``, gloo on the CPU), one after
the other, and records ACC/NMI/ARI, wall time and the peak memory of the largest process.
Results go to ``benchmarks/results/ddp.{json,md}``.

    python benchmarks/ddp.py [--settings "--pretrain-epochs 3"]
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from deepclust.datasets import load_mnist
from deepclust.files import atomic_write_bytes
from run import CACHE, DEFAULT_MNIST, machine, time_v

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = {"1 process x 2 threads": ("2", []), "2 processes x 1 thread": ("1", ["--nproc", "2"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-dir", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--settings", default="", help="extra 'deepclust fit' options (default: none, the defaults)")
    args = parser.parse_args()
    X, y = load_mnist(args.mnist_dir, split="all")
    CACHE.mkdir(exist_ok=True)
    data, labels = CACHE / "mnist70k.npy", CACHE / "mnist70k-labels.npy"
    np.save(data, X)
    np.save(labels, y)
    deepclust = str(Path(sys.executable).with_name("deepclust"))
    runs = {}
    for name, (threads, extra) in RUNS.items():
        out = CACHE / f"ddp-{threads}-out"
        command = [deepclust, "fit", str(data), "-k", "10", "--labels", str(labels), *shlex.split(args.settings),
                   "--seed", "0", "--device", "cpu", "--out", str(out), *extra]
        peak_mb, seconds, _ = time_v(command, {**os.environ, "OMP_NUM_THREADS": threads})
        metrics = json.loads((out / "metrics.json").read_text())
        runs[name] = {"command": f"OMP_NUM_THREADS={threads} " + " ".join(["deepclust", *command[1:]]),
                      "wall_seconds": round(seconds, 1), "fit_seconds": round(metrics["seconds"], 1),
                      "peak_rss_mb": round(peak_mb), **{k: metrics[k] for k in ("acc", "nmi", "ari")}}
    one, two = runs.values()
    result = {"runs": runs, "settings": args.settings,
              "two_over_one_wall": round(two["wall_seconds"] / one["wall_seconds"], 3),
              "seed": 0, "machine": machine(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    RESULTS.mkdir(exist_ok=True)
    atomic_write_bytes(RESULTS / "ddp.json", (json.dumps(result, indent=2) + "\n").encode())
    atomic_write_bytes(RESULTS / "ddp.md", markdown(result).encode())
    print(json.dumps(result, indent=2))


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        "# One process or two: MNIST-70k on this machine's cores",
        "",
        f"`python benchmarks/ddp.py{' --settings ' + repr(result['settings']) if result['settings'] else ''}` "
        f"({result['date']}, {m['processor']}, {m['cpu_count']} CPUs, torch {m['torch']}, device cpu, seed 0; "
        f"settings: {result['settings'] or 'the defaults'}). The two runs ran one after the other.",
        "",
        "| run | wall time | fit | peak RSS (largest process) | ACC | NMI | ARI |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, run in result["runs"].items():
        lines.append(f"| {name} | {run['wall_seconds']} s | {run['fit_seconds']} s | {run['peak_rss_mb']:,} MB | "
                     f"{run['acc']:.4f} | {run['nmi']:.4f} | {run['ari']:.4f} |")
    lines += ["", f"Wall time, two processes / one: {result['two_over_one_wall']}.", "", "Commands:", "",
              *[f"- `{run['command']}`" for run in result["runs"].values()], ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
