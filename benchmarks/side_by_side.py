"""deepclust beside the peer library ClustPy: same data, architecture, epochs and batch size.

Not a test, and ClustPy is never a dependency of deepclust: ``make bench-clustpy`` installs it
into its own virtual environment (``benchmarks/cache/clustpy-venv``). This script is the driver
(run with deepclust's Python) and, with ``--worker``, the per-library worker that each
library's own Python runs. Each worker pretrains one d-500-500-2000-10 ReLU autoencoder and
feeds it to AE + k-means, DEC, IDEC, DCN and N2D (UMAP n_components = n_clusters,
n_neighbors 20, min_dist 0, then a Gaussian mixture); the two libraries run one after the other
in the same session. ClustPy's ``labels_`` is a fresh k-means on the final embedding, so its
methods' own assignments (``dec_labels_``, …) are reported beside it.

``--time-to-accuracy`` runs each library's fastest route to N2D's labels instead, from the fit
call to the labels in a fresh process (numba's compilation included): deepclust's
``N2D(preset="fast")`` on the images, and ClustPy's pretraining plus its N2D with UMAP.

    python benchmarks/side_by_side.py --dataset sample --seed 0
    python benchmarks/side_by_side.py --dataset mnist70k --pretrain-epochs 20 --epochs 10
    python benchmarks/side_by_side.py --dataset mnist70k --time-to-accuracy
    python benchmarks/side_by_side.py --dataset mnist70k --time-to-accuracy --pretrain-epochs 30

(the last: ClustPy pretrains for 30 epochs; its table is ``results/side_by_side_mnist70k_time_to_accuracy_e30.md``)
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
CLUSTPY_PYTHON = CACHE / "clustpy-venv" / "bin" / "python"
METHODS = ("ae-kmeans", "dec", "idec", "dcn", "n2d")


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


# --- workers: each runs in its library's own environment and prints the labels it found -------
def deepclust_worker(X, args) -> list[dict]:
    import deepclust as dc

    if args.time_to_accuracy:
        images = X.reshape(len(X), *args.image_shape)  # as images, so the preset self-labels
        model, seconds = timed(lambda: dc.N2D(10, preset="fast", random_state=args.seed).fit(images))
        return [{"method": "n2d", "seconds": seconds, "own": model.labels_.tolist()}]
    ae, pretrain_s = timed(lambda: dc.Autoencoder(
        batch_size=args.batch_size, epochs=args.pretrain_epochs, random_state=args.seed).fit(X))
    common = dict(autoencoder=ae, batch_size=args.batch_size, random_state=args.seed)
    models = {
        "ae-kmeans": lambda: dc.AEKMeans(10, **common),
        "dec": lambda: dc.DEC(10, epochs=args.epochs, tol=0.0, **common),
        "idec": lambda: dc.IDEC(10, epochs=args.epochs, tol=0.0, **common),
        "dcn": lambda: dc.DCN(10, epochs=args.epochs, tol=0.0, **common),
        "n2d": lambda: dc.N2D(10, epochs=0, **common),  # the published method, as ClustPy has it
    }
    rows = [{"method": "pretrain", "seconds": pretrain_s}]
    for name in METHODS:
        model, seconds = timed(lambda make=models[name]: make().fit(X))
        rows.append({"method": name, "seconds": seconds, "own": model.labels_.tolist()})
        print(name, f"{seconds:.1f} s", file=sys.stderr, flush=True)
    return rows


def clustpy_worker(X, args) -> list[dict]:
    import torch

    # clustpy.deep imports torchvision, whose PyPI build fails beside the CPU torch unless these
    # two operator schemas exist; ClustPy's clustering code never calls them
    library = torch.library.Library("torchvision", "DEF")
    library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import umap
    from clustpy.deep import DCN, DEC, IDEC, N2D
    from clustpy.deep.neural_networks import FeedforwardAutoencoder
    from sklearn.cluster import KMeans

    torch.manual_seed(args.seed)
    ae = FeedforwardAutoencoder(layers=[X.shape[1], 500, 500, 2000, 10], activation_fn=torch.nn.ReLU,
                                random_state=args.seed)
    _, pretrain_s = timed(lambda: ae.fit(n_epochs=args.pretrain_epochs, batch_size=args.batch_size,
                                         data=X, optimizer_params={"lr": 1e-3}))
    common = dict(n_clusters=10, batch_size=args.batch_size, random_state=args.seed, device="cpu")

    def ae_kmeans():
        with torch.no_grad():
            Z = ae.encode(torch.from_numpy(X)).numpy()
        model = KMeans(10, n_init=10, random_state=args.seed).fit(Z)
        model.ae_kmeans_labels_ = model.labels_
        return model

    manifold = {"n_components": 10, "n_neighbors": 20, "min_dist": 0.0, "random_state": args.seed}
    models = {
        "ae-kmeans": ae_kmeans,
        "dec": lambda: DEC(clustering_epochs=args.epochs, neural_network=copy.deepcopy(ae), **common).fit(X),
        "idec": lambda: IDEC(clustering_epochs=args.epochs, neural_network=copy.deepcopy(ae), **common).fit(X),
        "dcn": lambda: DCN(clustering_epochs=args.epochs, neural_network=copy.deepcopy(ae), **common).fit(X),
        "n2d": lambda: N2D(neural_network=copy.deepcopy(ae), manifold_class=umap.UMAP,
                           manifold_params=manifold, **common).fit(X),
    }
    rows = [{"method": "pretrain", "seconds": pretrain_s}]
    for name in ("n2d",) if args.time_to_accuracy else METHODS:
        model, seconds = timed(models[name])
        own = getattr(model, f"{name.replace('-', '_')}_labels_", model.labels_)
        rows.append({"method": name, "seconds": seconds, "own": np.asarray(own).tolist(),
                     "labels_": np.asarray(model.labels_).tolist()})
        print(name, f"{seconds:.1f} s", file=sys.stderr, flush=True)
    if args.time_to_accuracy:  # one route: the pretraining is part of its time
        return [{**rows[1], "seconds": pretrain_s + rows[1]["seconds"]}]
    return rows


# --- driver ---------------------------------------------------------------------------------
def time_to_accuracy_table(runs: dict, info: dict) -> str:
    ours, peer = runs["deepclust"][0], runs["clustpy"][0]
    m = info["machine"]
    fmt = lambda s: f"{s['acc']:.4f} / {s['nmi']:.4f} / {s['ari']:.4f}"
    return "\n".join([
        f"# Time to N2D's labels: deepclust beside ClustPy {info['clustpy']}, {info['dataset']} "
        f"({info['n_samples']} images)", "",
        f"Seed {info['seed']}; {m['processor']}, {m['cpu_count']} cores, {m['device']}; run {info['date']}; "
        f"command `{info['command']}`. Seconds from the fit call to the labels, each library in a fresh "
        "process one after the other (numba compiling UMAP included).", "",
        "| library | route | ACC / NMI / ARI | seconds |", "|---|---|---|---|",
        f"| deepclust | `N2D(preset=\"fast\")` on the images | {fmt(ours['own'])} | {ours['seconds']:.0f} |",
        f"| ClustPy | d-500-500-2000-10 autoencoder, {info['pretrain_epochs']} epochs at batch "
        f"{info['batch_size']}, then `N2D` with `umap.UMAP` | {fmt(peer['own'])} | {peer['seconds']:.0f} |",
        "", f"Time ratio ClustPy / deepclust: {peer['seconds'] / ours['seconds']:.2f}.", ""])


def table(runs: dict, info: dict) -> str:
    ours, peer = ({r["method"]: r for r in runs[lib]} for lib in ("deepclust", "clustpy"))
    m = info["machine"]
    lines = [
        f"# deepclust beside ClustPy {info['clustpy']}: {info['dataset']} ({info['n_samples']} images)",
        "",
        f"Seed {info['seed']}; d-500-500-2000-10 ReLU autoencoder, {info['pretrain_epochs']} "
        f"pretraining epochs, {info['epochs']} clustering epochs (early stopping off), batch "
        f"{info['batch_size']}; {m['processor']}, {m['cpu_count']} cores, {m['device']}; run "
        f"{info['date']}; command "
        f"`{info['command']}`. Each library pretrains its own autoencoder once and shares it "
        "between its methods.",
        "",
        "| method | deepclust ACC / NMI / ARI | deepclust s | ClustPy ACC / NMI / ARI (method's own) "
        "| ClustPy `labels_` ACC | ClustPy s | time ratio ClustPy / deepclust |",
        "|---|---|---|---|---|---|---|",
    ]
    fmt = lambda s: f"{s['acc']:.3f} / {s['nmi']:.3f} / {s['ari']:.3f}"
    for name in ("pretrain", *METHODS):
        a, b = ours[name], peer[name]
        ratio = b["seconds"] / max(a["seconds"], 1e-9)
        if name == "pretrain":
            lines.append(f"| pretraining | – | {a['seconds']:.0f} | – | – | {b['seconds']:.0f} | {ratio:.2f} |")
        else:
            lines.append(f"| {name} | {fmt(a['own'])} | {a['seconds']:.1f} | {fmt(b['own'])} "
                         f"| {b['labels_']['acc']:.3f} | {b['seconds']:.1f} | {ratio:.2f} |")
    lines += ["", "ClustPy's AE + k-means row is scikit-learn's KMeans (n_init 10) on its "
              "autoencoder's embedding.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["sample", "mnist70k"], default="sample")
    parser.add_argument("--mnist-dir", type=Path, help="MNIST IDX folder (default: run.py's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--time-to-accuracy", action="store_true",
                        help="each library's fastest route to N2D's labels (see the module)")
    parser.add_argument("--worker", choices=["deepclust", "clustpy"])
    parser.add_argument("--image-shape", type=int, nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        data = np.load(args.data)
        worker = deepclust_worker if args.worker == "deepclust" else clustpy_worker
        context = contextlib.nullcontext()
        if args.worker == "deepclust":  # as deepclust's CLI runs: before torch's worker threads start
            from deepclust.training import flushing_denormals

            context = flushing_denormals()
        with context:
            print(json.dumps(worker(data["X"], args)))
        return
    if not CLUSTPY_PYTHON.exists():
        sys.exit(f"{CLUSTPY_PYTHON} not found: run 'make bench-clustpy' to create ClustPy's environment")
    # the driver runs in deepclust's environment; the workers import neither of these
    from deepclust import evaluate
    from run import DEFAULT_MNIST, load_dataset, machine

    images, y = load_dataset(args.dataset, args.mnist_dir or DEFAULT_MNIST)
    X = np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32)
    data = CACHE / "side_by_side" / f"{args.dataset}.npz"
    data.parent.mkdir(parents=True, exist_ok=True)
    np.savez(data, X=X, y=y)
    passed = ["--seed", str(args.seed), "--pretrain-epochs", str(args.pretrain_epochs),
              "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
    passed += ["--time-to-accuracy"] if args.time_to_accuracy else []
    runs = {}
    for library, python in (("deepclust", sys.executable), ("clustpy", str(CLUSTPY_PYTHON))):
        done = subprocess.run([python, __file__, "--worker", library, "--data", str(data), *passed,
                               "--image-shape", *map(str, images.shape[1:])],
                              stdout=subprocess.PIPE, text=True, check=True)
        rows = json.loads(done.stdout.strip().splitlines()[-1])
        for row in rows:  # scored here, with deepclust's metrics, for both libraries
            for key in ("own", "labels_"):
                if key in row:
                    row[key] = evaluate(y, np.asarray(row[key]))
        runs[library] = rows
    version = subprocess.run([str(CLUSTPY_PYTHON), "-c", "import importlib.metadata as m; "
                              "print(m.version('clustpy'))"], capture_output=True, text=True)
    info = {
        "dataset": args.dataset, "n_samples": len(X), "seed": args.seed,
        "pretrain_epochs": args.pretrain_epochs, "epochs": args.epochs, "batch_size": args.batch_size,
        "clustpy": version.stdout.strip(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": "python benchmarks/side_by_side.py " + " ".join(["--dataset", args.dataset, *passed]),
    }
    route = ("_time_to_accuracy" + ("" if args.pretrain_epochs == 20 else f"_e{args.pretrain_epochs}")
             if args.time_to_accuracy else "")  # ClustPy's route other than its 20 epochs: a table of its own
    out = HERE / "results" / f"side_by_side_{args.dataset}{route}"
    from deepclust.files import atomic_write_bytes

    text = (time_to_accuracy_table if args.time_to_accuracy else table)(runs, info)
    atomic_write_bytes(out.with_suffix(".json"), json.dumps({**info, "runs": runs}, indent=2).encode())
    atomic_write_bytes(out.with_suffix(".md"), text.encode())
    print(text)


if __name__ == "__main__":
    main()
