"""Benchmark: k-means on pixels and every method (AE + k-means, DCN, N2D) on MNIST, several seeds.

Not a test. Writes ``benchmarks/results/<dataset>.json`` and ``.md`` with machine, seeds,
epochs, batch size and wall times. One autoencoder is pretrained per seed and shared by every
method (``autoencoder=``), so pretraining and clustering times are reported separately.

    python benchmarks/run.py                      # bundled 10k sample and MNIST-70k, 3 seeds
    python benchmarks/run.py --datasets sample --seeds 0
    python benchmarks/run.py --mnist-dir ../shared/data/mnist
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from sklearn.cluster import KMeans

import deepclust
from deepclust import evaluate
from deepclust.datasets import load_mnist, load_mnist_sample
from deepclust.io import atomic_write_bytes
from deepclust.methods import REGISTRY, Autoencoder

HERE = Path(__file__).resolve().parent
DEFAULT_MNIST = HERE.parent.parent / "shared" / "data" / "mnist"
METHODS = ("ae-kmeans", "dcn", "n2d")


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "deepclust": deepclust.__version__,
    }


def run_seed(X, y, seed: int, methods) -> list[dict]:
    """All methods for one seed, sharing one pretrained autoencoder."""
    rows = []
    started = time.perf_counter()
    labels = KMeans(10, n_init=10, random_state=seed).fit_predict(X.reshape(len(X), -1))
    rows.append({"method": "k-means (pixels)", "seed": seed, "pretrain_s": 0.0,
                 "cluster_s": time.perf_counter() - started, **evaluate(y, labels)})
    started = time.perf_counter()
    autoencoder = Autoencoder(random_state=seed, verbose=1).fit(X)  # the clusterers' defaults
    pretrain_s = time.perf_counter() - started
    for name in methods:
        started = time.perf_counter()
        model = REGISTRY[name](10, autoencoder=autoencoder, random_state=seed, verbose=1).fit(X)
        row = {"method": name, "seed": seed, "pretrain_s": pretrain_s,
               "cluster_s": time.perf_counter() - started,
               "pretrain_epochs": autoencoder.n_iter_, "epochs": model.n_iter_,
               "batch_size": autoencoder.batch_size, **evaluate(y, model.labels_)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    table = []
    for method in dict.fromkeys(r["method"] for r in rows):
        group = [r for r in rows if r["method"] == method]
        entry = {"method": method, "seeds": len(group)}
        for key in ("acc", "nmi", "ari", "pretrain_s", "cluster_s"):
            values = [r[key] for r in group]
            entry[key] = statistics.fmean(values)
            entry[f"{key}_std"] = statistics.pstdev(values) if len(values) > 1 else 0.0
        for key in ("pretrain_epochs", "epochs", "batch_size"):
            if key in group[0]:
                entry[key] = group[0][key]
        table.append(entry)
    return table


def markdown(name: str, info: dict, table: list[dict]) -> str:
    lines = [
        f"# {name}: {info['n_samples']} images, seeds {info['seeds']}",
        "",
        f"Machine: {info['machine']['processor']}, {info['machine']['cpu_count']} cores, "
        f"{info['machine']['device']}, torch {info['machine']['torch']}. Run {info['date']}. "
        f"Command: `{info['command']}`.",
        "",
        "| method | ACC | NMI | ARI | pretrain s | cluster s | pretrain epochs | epochs | batch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in table:
        lines.append(
            f"| {e['method']} | {e['acc']:.3f} ± {e['acc_std']:.3f} | {e['nmi']:.3f} ± {e['nmi_std']:.3f} "
            f"| {e['ari']:.3f} ± {e['ari_std']:.3f} | {e['pretrain_s']:.0f} | {e['cluster_s']:.0f} "
            f"| {e.get('pretrain_epochs', '–')} | {e.get('epochs', '–')} | {e.get('batch_size', '–')} |"
        )
    lines += ["", "ACC is Hungarian-matched clustering accuracy; mean ± std over seeds; "
              "the autoencoder is pretrained once per seed and shared by all methods.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["sample", "mnist70k"],
                        choices=["sample", "mnist70k"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(REGISTRY))
    parser.add_argument("--mnist-dir", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        if name == "sample":
            X, y = load_mnist_sample()
        else:
            if not args.mnist_dir.exists():
                print(f"skipping mnist70k: {args.mnist_dir} not found (pass --mnist-dir)")
                continue
            X, y = load_mnist(args.mnist_dir, split="all")
        started = time.perf_counter()
        rows = [row for seed in args.seeds for row in run_seed(X, y, seed, args.methods)]
        info = {
            "dataset": name, "n_samples": int(len(X)), "seeds": args.seeds,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python benchmarks/run.py " + " ".join(
                ["--datasets", name, "--seeds", *map(str, args.seeds), "--methods", *args.methods]),
            "total_s": time.perf_counter() - started, "machine": machine(),
        }
        table = summarise(rows)
        result = {**info, "summary": table, "runs": rows}
        atomic_write_bytes(args.out / f"{name}.json", json.dumps(result, indent=2).encode())
        atomic_write_bytes(args.out / f"{name}.md", markdown(name, info, table).encode())
        print(markdown(name, info, table))


if __name__ == "__main__":
    main()
