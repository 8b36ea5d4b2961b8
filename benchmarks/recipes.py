"""Compare autoencoder pretraining recipes on the bundled 10k MNIST sample (single runs).

Each JSON config is passed to ``Autoencoder``; the fitted autoencoder is then shared by
AE + k-means, DCN and N2D. This is how the defaults in benchmarks/NOTES.md were chosen —
by accuracy on this one sample, then fixed; never re-tuned per dataset.

    python benchmarks/recipes.py '[{"epochs": 20, "batch_size": 64, "schedule": "cosine", "seed": 0}]'
"""
from __future__ import annotations

import json
import sys
import time

import deepclust as dc
from deepclust.datasets import load_mnist_sample


def main(configs: list[dict], methods=("ae-kmeans", "dcn", "n2d")) -> None:
    X, y = load_mnist_sample()
    for config in configs:
        seed = config.pop("seed", 0)
        started = time.perf_counter()
        autoencoder = dc.Autoencoder(random_state=seed, **config).fit(X)
        line = [f"{json.dumps(config)} seed {seed}: pretrain {time.perf_counter() - started:.0f} s"]
        for name in methods:
            started = time.perf_counter()
            model = dc.REGISTRY[name](10, autoencoder=autoencoder, random_state=seed).fit(X)
            acc = dc.cluster_accuracy(y, model.labels_)
            line.append(f"{name} {acc:.3f} ({time.perf_counter() - started:.0f} s)")
        print(", ".join(line), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
