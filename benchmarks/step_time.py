"""Benchmark: milliseconds per training step of the d-500-500-2000-10 autoencoder, by part.

Not a test. Times forward, backward and the optimiser step on random 784-feature batches for
Adam with torch's for-each update (its default) and with the fused kernel (deepclust's choice),
each in float32 and under bfloat16 autocast (``--compile``: also fused Adam with the forward pass
and loss through ``torch.compile``, whose compilation the warm-up steps absorb), and writes
``benchmarks/results/step_time.{json,md}`` with the machine. Wall times depend on whatever else
runs on the machine: run it alone.

    python benchmarks/step_time.py --batch-sizes 64 256 --steps 300 [--compile]
"""
from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from deepclust.files import atomic_write_bytes
from deepclust.nn import mlp_autoencoder
from run import machine

RESULTS = Path(__file__).resolve().parent / "results"


def time_steps(batch_size: int, fused: bool, bf16: bool, steps: int, warmup: int = 20,
               compiled: bool = False) -> dict:
    """Mean milliseconds per step of forward, backward and ``optimizer.step()``, and the seconds
    of the warm-up steps (with ``compiled``, mostly the compiler's)."""
    torch.manual_seed(0)
    X = torch.rand(10_000, 784)
    net = mlp_autoencoder((784,))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, fused=fused or None)

    def forward(xb: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            _, x_hat = net(xb)
        return (x_hat.float() - xb).pow(2).sum(1).mean()

    forward = torch.compile(forward) if compiled else forward
    spent = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    started = time.perf_counter()
    for i in range(warmup + steps):
        if i == warmup:
            warmup_s = time.perf_counter() - started
        t0 = time.perf_counter()
        xb = X[torch.randint(0, len(X), (batch_size,))]
        loss = forward(xb)
        t1 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        if i >= warmup:
            spent["forward"] += t1 - t0
            spent["backward"] += t2 - t1
            spent["optimizer"] += t3 - t2
    row = {k: 1000 * v / steps for k, v in spent.items()}
    row["total"] = sum(row.values())
    row["warmup_s"] = warmup_s
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--compile", action="store_true", help="also time fused Adam with a compiled forward pass")
    args = parser.parse_args()
    variants = [(False, False), (True, False)] + ([(True, True)] if args.compile else [])
    rows = []
    for batch_size in args.batch_sizes:
        for fused, compiled in variants:
            for bf16 in (False, True):
                row = {"batch_size": batch_size, "adam": "fused" if fused else "for-each", "compiled": compiled,
                       "precision": "bfloat16 autocast" if bf16 else "float32",
                       **time_steps(batch_size, fused, bf16, args.steps, compiled=compiled)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    info = {"machine": machine(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "steps": args.steps, "command": "python benchmarks/step_time.py --batch-sizes "
            + " ".join(map(str, args.batch_sizes)) + f" --steps {args.steps}" + (" --compile" if args.compile else "")}
    m = info["machine"]
    lines = [
        "# Milliseconds per training step, d-500-500-2000-10 autoencoder", "",
        f"Machine: {m['processor']}, {m['cpu_count']} cores, {m['torch_threads']} torch threads, "
        f"torch {m['torch']}. Run {info['date']}, {args.steps} timed steps each after 20 warm-up "
        f"steps. Command: `{info['command']}`.", "",
        "| batch | Adam | step | precision | forward | backward | optimiser | total | warm-up s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['batch_size']} | {r['adam']} | {'torch.compile' if r['compiled'] else 'eager'} | "
              f"{r['precision']} | {r['forward']:.1f} | {r['backward']:.1f} | {r['optimizer']:.1f} | "
              f"{r['total']:.1f} | {r['warmup_s']:.1f} |" for r in rows]
    RESULTS.mkdir(exist_ok=True)
    atomic_write_bytes(RESULTS / "step_time.json", json.dumps({"info": info, "rows": rows}, indent=1).encode())
    atomic_write_bytes(RESULTS / "step_time.md", ("\n".join(lines) + "\n").encode())


if __name__ == "__main__":
    main()
