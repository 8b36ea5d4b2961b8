"""Autoencoder recipe sweeps for N2D and AE + k-means (exploration on a lent GPU, not a test).

Autoencoders train on the GPU (``device="cuda"`` when present) in ``GPU_WORKERS`` processes at
once (the MLP is too small to fill the card); UMAP + GMM and k-means on each embedding run in
single-threaded CPU processes beside them. One line of JSON per result goes to
``$OUT/results.jsonl``; accuracies carry over to the CPU (same float32 training), seconds do not.

Plans:
- ``fast`` (run 2026-11-27 on an H200; ``results/recipe_sweep_h200.jsonl``): batch size, learning
  rate and epochs on MNIST-70k, for the "≥ 0.975 in 3 minutes" route.
- ``demo`` (run 2026-11-27 on an H200; ``results/recipe_sweep_demo_h200.jsonl``): recipes cheap
  enough for ``make demo`` on the bundled 10k sample.

    OUT=/tmp/out python benchmarks/recipe_sweep.py PLAN [MNIST_DIR]   # DRY=1: 3,000 images, 1 epoch
"""
import json
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import numpy as np

OUT = os.environ.get("OUT", "/tmp/out")
DRY = bool(os.environ.get("DRY"))
DEADLINE_S = float(os.environ.get("DEADLINE_S", 540))
GPU_WORKERS = 4
T0 = time.time()


def log(obj):
    obj["t"] = round(time.time() - T0, 1)
    with open(f"{OUT}/results.jsonl", "a") as f:
        f.write(json.dumps(obj) + "\n")
    print(json.dumps(obj), flush=True)


def scores(y, labels) -> dict:
    from deepclust.metrics import evaluate
    return {k: round(v, 4) for k, v in evaluate(y, labels).items() if isinstance(v, float)}


def load(dataset, mnist_dir):
    from deepclust.datasets import load_mnist, load_mnist_sample
    X, y = load_mnist_sample() if dataset == "sample" else load_mnist(mnist_dir, split="all")
    return (X[:3000], y[:3000]) if DRY else (X, y)


def train_job(dataset, mnist_dir, name, seed, kw):
    """Train one autoencoder on the GPU; save its embedding; return the log line and paths."""
    import torch

    from deepclust.methods import Autoencoder
    torch.set_num_threads(1)
    X, y = load(dataset, mnist_dir)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    kw = {**kw, "epochs": 1} if DRY else kw
    t = time.time()
    ae = Autoencoder(device=dev, random_state=seed, **kw).fit(X)
    if dev == "cuda":
        torch.cuda.synchronize()
    dt = time.time() - t
    tag = f"{dataset}_{name}_s{seed}"
    zpath, ypath = f"/tmp/z_{tag}.npy", f"/tmp/y_{dataset}.npy"
    np.save(zpath, ae.transform(X))
    np.save(ypath, y)
    line = {"job": "ae", "data": dataset, "name": name, "seed": seed, "gpu_s": round(dt, 1),
            "loss": round(ae.history_[-1]["loss"], 3), **kw}
    return line, tag, zpath, ypath


def manifold_job(tag, zpath, ypath, n_neighbors, subset=None):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        import umap
        from sklearn.mixture import GaussianMixture
        from sklearn.neighbors import NearestNeighbors
        Z, y = np.load(zpath), np.load(ypath)
        t = time.time()
        if subset:
            rng = np.random.default_rng(0)
            idx = rng.permutation(len(Z))
            subset = min(subset, len(Z) // 2)
            fit_idx, rest = idx[:subset], idx[subset:]
            E = np.empty((len(Z), 10), np.float32)
            E[fit_idx] = umap.UMAP(n_components=10, n_neighbors=n_neighbors, min_dist=0.0,
                                   random_state=0, n_jobs=1).fit_transform(Z[fit_idx])
            nn = NearestNeighbors(n_neighbors=n_neighbors).fit(Z[fit_idx])
            d, j = nn.kneighbors(Z[rest])
            w = 1 / (d + 1e-8)
            w /= w.sum(1, keepdims=True)
            E[rest] = np.einsum("nk,nkm->nm", w, E[fit_idx][j])
        else:
            E = umap.UMAP(n_components=10, n_neighbors=n_neighbors, min_dist=0.0,
                          random_state=0, n_jobs=1).fit_transform(Z)
        tu = time.time() - t
        gm = GaussianMixture(10, covariance_type="full", n_init=10, random_state=0).fit(E)
        labels = gm.predict(E)
        tg = time.time() - t - tu
        return {"job": "n2d", "name": tag, "nn": n_neighbors, "subset": subset, "umap_s": round(tu, 1),
                "gmm_s": round(tg, 1), **scores(y, labels)}


def kmeans_job(tag, zpath, ypath):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        from sklearn.cluster import KMeans
        Z, y = np.load(zpath), np.load(ypath)
        labels = KMeans(10, n_init=20, random_state=0).fit_predict(Z)
        return {"job": "kmeans", "name": tag, **scores(y, labels)}


# (dataset, name, seed, Autoencoder params, n_neighbors values, UMAP subset or None)
def fast_plan():
    fast = {
        "b256_lr1e-3_e10": dict(batch_size=256, lr=1e-3, epochs=10),
        "b256_lr2e-3_e10": dict(batch_size=256, lr=2e-3, epochs=10),
        "b256_lr1e-3_e15": dict(batch_size=256, lr=1e-3, epochs=15),
        "b512_lr2e-3_e15": dict(batch_size=512, lr=2e-3, epochs=15),
        "b128_lr1e-3_e8": dict(batch_size=128, lr=1e-3, epochs=8),
    }
    jobs = [("mnist70k", name, seed, kw, (10, 20) if seed == 0 else (20,),
             20000 if (seed == 0 and name == "b256_lr1e-3_e15") else None)
            for seed in (0, 1, 2) for name, kw in fast.items()]
    return jobs + [
        ("mnist70k", "default_b64_e20", 0, {}, (10, 20), None),
        ("mnist70k", "b256_e100", 0, dict(batch_size=256, epochs=100), (10, 20), None),
        ("mnist70k", "aug_b256_e60", 0, dict(batch_size=256, epochs=60, augment=True), (20,), None),
        ("mnist70k", "b256_e100", 1, dict(batch_size=256, epochs=100), (20,), None),
    ]


def demo_plan():
    sample = {
        "default_b64_e20": {},
        "b64_e40": dict(epochs=40),
        "aug_b64_e40": dict(epochs=40, augment=True),
        "b128_e40": dict(batch_size=128, epochs=40),
        "b64_e30_lr5e-4": dict(epochs=30, lr=5e-4),
    }
    return [("sample", name, seed, kw, (20,), None) for seed in (0, 1, 2) for name, kw in sample.items()]


def main():
    import torch
    plan = {"fast": fast_plan, "demo": demo_plan}[sys.argv[1]]()
    mnist_dir = sys.argv[2] if len(sys.argv) > 2 else ".devrun"
    log({"job": "start", "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
         "cpus": os.cpu_count(), "plan": sys.argv[1]})
    ctx = mp.get_context("spawn")
    gpu = ProcessPoolExecutor(GPU_WORKERS, mp_context=ctx)
    cpu = ProcessPoolExecutor(max(1, (os.cpu_count() or 2) - GPU_WORKERS), mp_context=ctx)
    training = {gpu.submit(train_job, data, mnist_dir, name, seed, kw): (nns, subset)
                for data, name, seed, kw, nns, subset in plan}
    clustering = set()
    while training or clustering:
        left = DEADLINE_S - (time.time() - T0)
        if left <= 0:
            break
        done, _ = wait(set(training) | clustering, timeout=left, return_when=FIRST_COMPLETED)
        for future in done:
            try:
                result = future.result()
            except Exception as e:  # noqa: BLE001 - a sweep logs a failed job and goes on
                log({"job": "error", "err": repr(e)})
                training.pop(future, None)
                clustering.discard(future)
                continue
            if future in training:
                nns, subset = training.pop(future)
                line, tag, zpath, ypath = result
                log(line)
                clustering.add(cpu.submit(kmeans_job, tag, zpath, ypath))
                clustering |= {cpu.submit(manifold_job, tag, zpath, ypath, nn) for nn in nns}
                if subset:
                    clustering.add(cpu.submit(manifold_job, tag, zpath, ypath, 20, subset))
            else:
                clustering.discard(future)
                log(result)
    log({"job": "end", "unfinished": len(training) + len(clustering)})
    for pool in (gpu, cpu):  # jobs cut by the deadline: their processes would outlive us
        for process in pool._processes.values():
            process.kill()
    os._exit(0)


if __name__ == "__main__":
    main()
