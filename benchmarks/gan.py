"""Benchmark: ClusterGAN on MNIST — clustering accuracy and the quality of generated digits.

Not a test. Sample quality is judged by a small MNIST classifier trained here on the *train* split
(60,000 images; a 784-256-128-10 ReLU MLP, Adam 1e-3, 3 epochs, batch 128, seed 0, on the CPU;
its accuracy on the test split is reported). Two figures:

- Fréchet distance between real and generated images in the classifier's 128-d penultimate
  features (FID's formula in a feature space fit for digits);
- cluster consistency: the fraction of samples drawn with ``cluster=k`` that the classifier
  labels as the digit Hungarian matching assigns to cluster ``k``.

ClusterGAN's encoder is initialised from the cached default autoencoder of ``run.py`` (trained
once per seed, shared with the other methods), so its pretraining time is reported apart.
Writes ``benchmarks/results/clustergan_<dataset>.{json,md}`` and a grid of generated samples.

    python benchmarks/gan.py --dataset mnist70k --seeds 0 --epochs 10
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from deepclust import ClusterGAN, evaluate
from deepclust.datasets import load_mnist
from deepclust.files import atomic_write_bytes
from deepclust.metrics import cluster_mapping, frechet_distance
from deepclust.plotting import generated_samples_grid
from deepclust.training import flushing_denormals
from run import CACHE, DEFAULT_MNIST, load_dataset, machine, peak_rss_mb, pretrained

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLES_PER_CLUSTER = 1000


def classifier(mnist_dir: Path) -> tuple[nn.Sequential, float]:
    """The quality classifier (trained once, cached as safetensors) and its test accuracy."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                        nn.Linear(128, 10))
    folder = CACHE / "mnist-classifier"
    X_test, y_test = load_mnist(mnist_dir, split="test")
    if (folder / "model.safetensors").exists():
        net.load_state_dict(load_file(folder / "model.safetensors"))
    else:
        X, y = load_mnist(mnist_dir, split="train")
        Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
        torch.manual_seed(0)
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
        generator = torch.Generator().manual_seed(0)
        for _ in range(3):
            for index in torch.randperm(len(Xt), generator=generator).split(128):
                loss = nn.functional.cross_entropy(net(Xt[index]), yt[index])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        folder.mkdir(parents=True, exist_ok=True)
        save_file(net.state_dict(), folder / "model.safetensors")
    net.eval()
    with torch.no_grad():
        accuracy = float((net(torch.as_tensor(X_test)).argmax(1).numpy() == y_test).mean())
    return net, accuracy


@torch.no_grad()
def features_and_digits(net: nn.Sequential, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features ``(n, 128)`` and predicted digits ``(n,)`` of images in [0, 1]."""
    hidden = net[:-1](torch.as_tensor(np.asarray(X, np.float32)))
    return hidden.numpy(), net[-1](hidden).argmax(1).numpy()


def real_vs_real(net: nn.Sequential, X: np.ndarray, n: int) -> float:
    """Fréchet distance between two disjoint sets of ``n`` real images: the floor to compare with."""
    order = np.random.default_rng(0).permutation(len(X))
    first, _ = features_and_digits(net, X[order[:n]])
    second, _ = features_and_digits(net, X[order[n: 2 * n]])
    return round(frechet_distance(first, second), 3)


def run_seed(X, y, dataset: str, seed: int, epochs: int, net) -> tuple[dict, bytes]:
    autoencoder, pretrain_s = pretrained(X, dataset, seed, {})
    started = time.perf_counter()
    model = ClusterGAN(10, epochs=epochs, autoencoder=autoencoder, random_state=seed, verbose=1).fit(X)
    fit_s = time.perf_counter() - started
    row = {"method": "clustergan", "seed": seed, "epochs": epochs, "pretrain_s": round(pretrain_s, 1),
           "cluster_s": round(fit_s, 1), **evaluate(y, model.labels_)}
    samples, clusters = model.sample(10 * SAMPLES_PER_CLUSTER, random_state=seed, return_labels=True)
    real_idx = np.random.default_rng(seed).choice(len(X), len(samples), replace=False)
    real_features, _ = features_and_digits(net, X[real_idx])
    fake_features, digits = features_and_digits(net, samples)
    mapping = cluster_mapping(y, model.labels_)
    matched = np.array([mapping.get(int(k), -1) for k in clusters])
    row["frechet_distance"] = round(frechet_distance(real_features, fake_features), 3)
    row["consistency"] = round(float((digits == matched).mean()), 4)
    row["peak_rss_mb"] = round(peak_rss_mb())
    png = generated_samples_grid(model, 10, title=f"ClusterGAN, seed {seed}", seed=seed)
    return row, png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist70k", choices=["sample", "mnist70k"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=ClusterGAN().epochs)
    parser.add_argument("--mnist-dir", type=Path, default=DEFAULT_MNIST)
    args = parser.parse_args()
    X, y = load_dataset(args.dataset, args.mnist_dir)
    net, accuracy = classifier(args.mnist_dir)
    rows = []
    RESULTS.mkdir(exist_ok=True)
    for seed in args.seeds:
        row, png = run_seed(X, y, args.dataset, seed, args.epochs, net)
        print(json.dumps(row), flush=True)
        rows.append(row)
        atomic_write_bytes(RESULTS / f"clustergan_{args.dataset}_seed{seed}.png", png)
    info = {"machine": machine(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "dataset": args.dataset, "n_samples": int(len(X)), "classifier_test_accuracy": accuracy,
            "samples_per_cluster": SAMPLES_PER_CLUSTER,
            "real_vs_real_frechet": real_vs_real(net, X, min(10 * SAMPLES_PER_CLUSTER, len(X) // 2)),
            "command": f"python benchmarks/gan.py --dataset {args.dataset} --seeds "
                       f"{' '.join(map(str, args.seeds))} --epochs {args.epochs}"}
    atomic_write_bytes(RESULTS / f"clustergan_{args.dataset}.json",
                       json.dumps({**info, "rows": rows}, indent=2).encode())
    atomic_write_bytes(RESULTS / f"clustergan_{args.dataset}.md", markdown(info, rows).encode())


def markdown(info: dict, rows: list[dict]) -> str:
    def stat(key: str) -> str:
        values = [r[key] for r in rows]
        spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
        return f"{statistics.mean(values):.3f}{spread}"

    m = info["machine"]
    peak = max(r["peak_rss_mb"] for r in rows)
    lines = [
        f"# ClusterGAN on {info['dataset']} ({info['n_samples']:,} images)", "",
        f"Machine: {m['processor']}, {m['cpu_count']} cores, {m['device']}, torch {m['torch']}. "
        f"Date: {info['date']}. Command: `{info['command']}`.", "",
        "Default ClusterGAN (MLP networks, WGAN-GP, batch 64) with its encoder started from N2D on "
        "the cached default autoencoder of `run.py` (20 epochs, batch 64): *pretrain s* is that "
        "autoencoder's training, *ClusterGAN s* everything after it (N2D, the encoder's warm "
        f"start, the game). Peak resident memory {peak} MB.", "",
        f"Quality classifier (MLP, MNIST train split) test accuracy: "
        f"{info['classifier_test_accuracy']:.4f}. {info['samples_per_cluster']} generated samples "
        "per cluster; Fréchet distance in its 128-d features against as many real images (two "
        f"disjoint sets of real images, at most as many each: {info['real_vs_real_frechet']:.2f}).",
        "",
        "| seed | epochs | ACC | NMI | ARI | Fréchet distance | consistency | pretrain s | ClusterGAN s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['epochs']} | {r['acc']:.4f} | {r['nmi']:.4f} | {r['ari']:.4f} | "
                     f"{r['frechet_distance']:.2f} | {r['consistency']:.4f} | {r['pretrain_s']:.0f} | "
                     f"{r['cluster_s']:.0f} |")
    lines.append(f"| mean | | {stat('acc')} | {stat('nmi')} | {stat('ari')} | {stat('frechet_distance')} | "
                 f"{stat('consistency')} | | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    with flushing_denormals():  # entered before torch's worker threads start, so they flush too
        main()
