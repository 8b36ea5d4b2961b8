"""Benchmark: time to accuracy of N2D's presets on MNIST-70k (``make bench-presets``).

Not a test. Every (preset, seed) runs in a fresh Python process, as a user's script would: the
clock starts before MNIST is read and stops when the labels are out (``N2D(10, preset=P,
random_state=S).fit(X)``), so numba compiling UMAP and torch starting up are counted. Each
process flushes subnormal floats from its start (as ``deepclust fit`` does). Results go to
``benchmarks/results/presets.{json,md}``; ``--tag`` names a variant, which then writes
``presets-<tag>.*``, and ``--set`` changes parameters on top of the preset (JSON values), to
measure what one piece of it buys in the same session:

    python benchmarks/presets.py --presets fast --seeds 0 1 2
    python benchmarks/presets.py --presets fast --set manifold_epochs=200 epochs=6 --tag umap-200
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from deepclust.files import atomic_write_bytes
from deepclust.training import resolve_device
from deepclust.training.engine import native_bf16
from run import DEFAULT_MNIST, machine

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def one_run(preset: str, seed: int, mnist_dir: Path, precision: str | None, changes: dict) -> dict:
    """Load MNIST-70k, fit N2D with ``preset`` and the parameters ``changes``; the times and
    metrics (run in a fresh process)."""
    start = time.perf_counter()
    from deepclust.training import flushing_denormals

    with flushing_denormals():
        from deepclust import N2D, evaluate
        from deepclust.datasets import load_mnist

        X, y = load_mnist(mnist_dir, split="all")
        loaded = time.perf_counter() - start
        extra = {} if precision is None else {"precision": precision}
        model = N2D(10, preset=preset, random_state=seed, **extra, **changes).fit(X)
        seconds = time.perf_counter() - start
    pretrain = sum(r["seconds"] for r in model.history_ if r["phase"] == "pretrain")
    return {"preset": preset, "seed": seed, "precision": precision, "set": model.preset_params_,
            "changes": changes,
            "load_s": round(loaded, 1), "pretrain_s": round(pretrain, 1), "total_s": round(seconds, 1),
            **{k: round(v, 4) for k, v in evaluate(y, model.labels_).items()}}


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        "# N2D's presets on MNIST-70k: time to accuracy", "",
        f"Machine: {m['processor']}, {m['cpu_count']} cores, torch {m['torch']}, {m['device']} "
        f"({'with' if result['native_bf16'] else 'without'} native bfloat16, so `auto` trains in "
        f"{'bfloat16' if result['native_bf16'] else 'float32'}). Command: "
        f"`{result['command']}`, {result['date']}. Each run is a fresh process; seconds are from before "
        "reading MNIST to the labels (numba compiling UMAP included).", "",
        "| preset | precision | seed | ACC | NMI | ARI | pretraining s | end to end s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        lines.append(f"| {r['preset']} | {r['set'].get('precision', r['precision'] or '32')} | {r['seed']} | "
                     f"{r['acc']:.4f} | {r['nmi']:.4f} | {r['ari']:.4f} | {r['pretrain_s']:.0f} | {r['total_s']:.0f} |")
    lines += ["", "| preset | runs | ACC mean ± std | end to end s, mean |", "|---|---|---|---|"]
    for preset in dict.fromkeys(r["preset"] for r in result["runs"]):
        runs = [r for r in result["runs"] if r["preset"] == preset]
        accs = [r["acc"] for r in runs]
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        lines.append(f"| {preset} | {len(runs)} | {statistics.mean(accs):.4f} ± {spread:.4f} | "
                     f"{statistics.mean(r['total_s'] for r in runs):.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["fast"], choices=["fast", "default", "accurate"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--precision", choices=["auto", "32", "bf16"], default=None,
                        help="force a precision instead of the preset's")
    parser.add_argument("--mnist-dir", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--tag", default=None)
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=JSON",
                        help=("parameters passed beside the preset, e.g. manifold_epochs=200 epochs=6 (a value "
                              "equal to the parameter's default counts as left to the preset)"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    changes = {name: json.loads(value) for name, value in (item.split("=", 1) for item in args.set)}
    if args.child:
        print(json.dumps(one_run(args.presets[0], args.seeds[0], args.mnist_dir, args.precision, changes)))
        return
    runs = []
    for preset in args.presets:
        for seed in args.seeds:
            command = [sys.executable, __file__, "--child", "--presets", preset, "--seeds", str(seed),
                       "--mnist-dir", str(args.mnist_dir)] + (["--precision", args.precision] if args.precision else [])
            command += ["--set", *args.set] if args.set else []
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{preset} seed {seed} failed:\n{done.stderr[-3000:]}")
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(runs[-1], flush=True)
    result = {"runs": runs, "machine": machine(), "native_bf16": native_bf16(resolve_device("auto")),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": "python benchmarks/presets.py " + " ".join(sys.argv[1:])}
    name = "presets" if args.tag is None else f"presets-{args.tag}"
    RESULTS.mkdir(exist_ok=True)
    atomic_write_bytes(RESULTS / f"{name}.json", (json.dumps(result, indent=2) + "\n").encode())
    atomic_write_bytes(RESULTS / f"{name}.md", markdown(result).encode())


if __name__ == "__main__":
    main()
