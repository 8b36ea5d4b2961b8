"""One process of the torchrun jobs that tests/test_distributed.py starts (not a test itself).

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_worker.py DATA.npy OUT.json NAME...

fits every named estimator (registry names, ``autoencoder``, ``gan``, or ``ae-kmeans-file``:
AEKMeans trained from the file's path) on the blobs in DATA with the settings of
:func:`settings`, and writes, from rank 0, per estimator: the labels (where there are some) and
every rank's SHA-256 of the fitted state, plus the job-wide statistics checks.
"""
from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import torch
import torch.distributed as dist

from deepclust import GAN, Autoencoder
from deepclust.methods import REGISTRY
from deepclust.training.distributed import all_sum, end_process, gather_rows, shard, world
from deepclust.training.loop import _job_totals

#: small, fast settings (tests/conftest.py's FAST), and more epochs for ClusterGAN's game
FAST = dict(latent_dim=4, hidden_dims=(64,), pretrain_epochs=10, batch_size=64, device="cpu", epochs=5)
SETTINGS = {"clustergan": dict(epochs=100, lr=1e-3)}


def settings(cls, name: str) -> dict:
    given = {**FAST, **SETTINGS.get(name, {}), "n_clusters": 4, "random_state": 0}
    return {k: v for k, v in given.items() if k in cls().get_params()}


def estimator(name: str):
    if name == "autoencoder":
        return Autoencoder(**{**settings(Autoencoder, name), "epochs": 10})
    if name == "gan":
        return GAN(**{**settings(GAN, name), "epochs": 5})
    cls = REGISTRY[name.removesuffix("-file")]
    return cls(**settings(cls, name))


def digest(model) -> str:
    sha = hashlib.sha256()
    for key, tensor in sorted(model._state_tensors().items()):
        sha.update(key.encode())
        sha.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()


def statistics(X: np.ndarray, labels: np.ndarray) -> dict:
    """The job-wide sums DCN and DEC rely on, from this rank's share, beside the whole data's."""
    start, stop = shard(len(X))
    counts = all_sum(torch.bincount(torch.as_tensor(labels[start:stop]), minlength=4).double())
    q = torch.softmax(torch.as_tensor(X[:, :4]), dim=1)
    gathered = gather_rows(q[start:stop], len(X))
    totals = {"loss": torch.tensor(float(stop - start))}
    seen = _job_totals(totals, stop - start)
    return {"counts": counts.tolist(), "counts_whole": np.bincount(labels, minlength=4).tolist(),
            "frequencies_equal": bool(torch.equal(gathered.sum(0), q.sum(0))), "seen": seen,
            "loss_total": float(totals["loss"])}


def main() -> None:
    data, out, *names = sys.argv[1:]
    X = np.load(data)
    results = {}
    for name in names:
        model = estimator(name).fit(data if name.endswith("-file") else X)
        labels = getattr(model, "labels_", None)
        digests = [None] * world().size
        dist.all_gather_object(digests, digest(model))
        results[name] = {"labels": None if labels is None else labels.tolist(), "digests": digests}
        if labels is not None and "statistics" not in results:
            results["statistics"] = statistics(X, labels)
    if world().rank == 0:
        with open(out, "w") as fh:
            json.dump(results, fh)


if __name__ == "__main__":
    main()
    end_process()  # as the CLI ends: gloo's threads outlive DDP and can abort a plain exit
