"""Autoencoder recipe sweep for N2D and AE + k-means on MNIST-70k (exploration, not a test).

Autoencoders train on the GPU (``device="cuda"`` when present); UMAP + GMM and k-means on each
embedding run in a pool of 13 single-threaded CPU processes while the next autoencoder trains.
One line of JSON per result goes to ``$OUT/results.jsonl``. Run on 2026-11-27 on a lent NVIDIA
H200 machine (16 cores), with the IDX files copied to ``.devrun/`` and umap-learn installed from
wheels; it was stopped by the device's time limit at 555 s, so the last recipes' manifold jobs
are missing (``results/recipe_sweep_h200.jsonl`` holds every line it wrote). The 16 cores were
oversubscribed, so the seconds it reports are not CPU benchmarks. The run also had a section
training DEC/IDEC heads on the GPU afterwards, removed here because it never started.

    OUT=/tmp/out python benchmarks/recipe_sweep.py [MNIST_DIR]   # DRY=1: 3,000 images, 1 epoch
"""
import json
import multiprocessing as mp
import os
import sys
import time

import numpy as np

OUT = os.environ.get("OUT", "/tmp/out")
T0 = time.time()


def log(obj):
    obj["t"] = round(time.time() - T0, 1)
    with open(f"{OUT}/results.jsonl", "a") as f:
        f.write(json.dumps(obj) + "\n")
    print(json.dumps(obj), flush=True)


def scores(y, labels) -> dict:
    from deepclust.metrics import evaluate
    return {k: round(v, 4) for k, v in evaluate(y, labels).items() if isinstance(v, float)}


def manifold_job(name, zpath, ypath, n_neighbors, subset):
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
        return {"job": "n2d", "name": name, "nn": n_neighbors, "subset": subset, "umap_s": round(tu, 1),
                "gmm_s": round(tg, 1), **scores(y, labels)}


def kmeans_job(name, zpath, ypath):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        from sklearn.cluster import KMeans
        Z, y = np.load(zpath), np.load(ypath)
        labels = KMeans(10, n_init=20, random_state=0).fit_predict(Z)
        return {"job": "kmeans", "name": name, **scores(y, labels)}


def main():
    import torch
    from deepclust.datasets import load_mnist
    from deepclust.methods import Autoencoder

    X, y = load_mnist(sys.argv[1] if len(sys.argv) > 1 else ".devrun", split="all")
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    dry = bool(os.environ.get("DRY"))
    if dry:
        X, y = X[:3000], y[:3000]
    np.save("/tmp/y.npy", y)
    log({"job": "start", "gpu": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu", "cpus": os.cpu_count()})
    pool = mp.get_context("spawn").Pool(13)
    pending = []

    def submit(fn, *args):
        pending.append(pool.apply_async(fn, args, callback=log,
                                        error_callback=lambda e: log({"job": "error", "err": repr(e)})))

    def train(name, seed=0, manifold=(20,), subset=None, **kw):
        t = time.time()
        if dry:
            kw = {**kw, "epochs": 1}
        ae = Autoencoder(device=dev, random_state=seed, **kw).fit(X)
        if dev == "cuda":
            torch.cuda.synchronize()
        dt = time.time() - t
        Z = ae.transform(X)
        zpath = f"/tmp/z_{name}_s{seed}.npy"
        np.save(zpath, Z)
        log({"job": "ae", "name": name, "seed": seed, "gpu_s": round(dt, 1), "loss": round(ae.history_[-1]["loss"], 3), **kw})
        submit(kmeans_job, f"{name}_s{seed}", zpath, "/tmp/y.npy")
        for nn in manifold:
            submit(manifold_job, f"{name}_s{seed}", zpath, "/tmp/y.npy", nn, None)
        if subset:
            submit(manifold_job, f"{name}_s{seed}", zpath, "/tmp/y.npy", 20, subset)

    # fast-route candidates, 3 seeds
    fast = {
        "b256_lr1e-3_e10": dict(batch_size=256, lr=1e-3, epochs=10),
        "b256_lr2e-3_e10": dict(batch_size=256, lr=2e-3, epochs=10),
        "b256_lr1e-3_e15": dict(batch_size=256, lr=1e-3, epochs=15),
        "b512_lr2e-3_e15": dict(batch_size=512, lr=2e-3, epochs=15),
        "b128_lr1e-3_e8": dict(batch_size=128, lr=1e-3, epochs=8),
    }
    for seed in (0, 1, 2):
        for name, kw in fast.items():
            train(name, seed, manifold=(10, 20) if seed == 0 else (20,),
                  subset=20000 if (seed == 0 and name == "b256_lr1e-3_e15") else None, **kw)
    # current default, longer and augmented recipes
    train("default_b64_e20", 0, manifold=(10, 20))
    train("b256_e100", 0, manifold=(10, 20), batch_size=256, epochs=100)
    train("aug_b256_e60", 0, manifold=(20,), batch_size=256, epochs=60, augment=True)
    train("b256_e100", 1, manifold=(20,), batch_size=256, epochs=100)
    log({"job": "gpu_ae_done"})

    pool.close()
    for p in pending:
        p.wait(timeout=max(1, 540 - (time.time() - T0)))
    log({"job": "end"})
    pool.terminate()


if __name__ == "__main__":
    main()
