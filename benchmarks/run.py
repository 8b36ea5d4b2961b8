"""Benchmark: k-means on pixels and every registry method on MNIST, several seeds.

Not a test. Writes ``benchmarks/results/<dataset>.json`` and ``.md`` with machine, seeds,
epochs, batch size, wall times and peak memory. One autoencoder is pretrained per seed and shared
by every method (``autoencoder=``), so pretraining and clustering times are reported separately.
Pretrained autoencoders are saved under ``benchmarks/cache/`` (deepclust's safetensors format)
and reloaded by later runs, so methods can be benchmarked in several invocations; rows of a
rerun (method, seed) replace the old ones in the results and the others are kept.

    python benchmarks/run.py                      # bundled 10k sample and MNIST-70k, 3 seeds
    python benchmarks/run.py --datasets sample --seeds 0 --methods dec vade
    python benchmarks/run.py --mnist-dir ../shared/data/mnist
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from sklearn.cluster import KMeans

import deepclust
from deepclust import evaluate
from deepclust.datasets import load_mnist, load_mnist_sample
from deepclust.files import atomic_write_bytes
from deepclust.methods import REGISTRY, Autoencoder
from deepclust.training import flushing_denormals

HERE = Path(__file__).resolve().parent
DEFAULT_MNIST = HERE.parent.parent / "shared" / "data" / "mnist"
CACHE = HERE / "cache"


def processor() -> str:
    """The CPU's model name and its bfloat16 and matrix instructions, e.g. ``"AMD EPYC (avx2,
    avx512_bf16)"``, from ``/proc/cpuinfo`` where there is one: machines of one architecture
    differ by these, and so do their timings."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = re.search(r"^model name\s*:\s*(.+)$", info, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.+)$", info, re.MULTILINE)
    present = set(flags.group(1).split()) if flags else set()
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in present]
    name = model.group(1).strip() if model else platform.machine()
    return f"{name} ({', '.join(wanted) or 'no AVX2'})"


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": processor(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "deepclust": deepclust.__version__,
    }


def load_dataset(name: str, mnist_dir: Path):
    """``(X, y)``: the bundled 10k sample, or all 70,000 MNIST images from ``mnist_dir``."""
    return load_mnist_sample() if name == "sample" else load_mnist(mnist_dir, split="all")


def time_v(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run ``command`` under ``/usr/bin/time -v``: its peak resident memory (MB), wall time (s)
    and stderr."""
    run = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, env=env)
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{run.stderr[-3000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", run.stderr).group(1)
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.split(":"))))
    return peak_kb / 1024, seconds, run.stderr


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (the figure ``/usr/bin/time -v`` reports)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: the pretraining settings a run may change (``Autoencoder`` parameter → command-line flag)
RECIPE_FLAGS = {"augment": "--augment", "epochs": "--pretrain-epochs", "batch_size": "--batch-size"}


def recipe_tag(recipe: dict) -> str:
    """``""`` for the default recipe, else e.g. ``"-augment-e60-b256"`` (file and cache names)."""
    parts = (["augment"] if recipe.get("augment") else []) + [
        f"{key[0]}{recipe[key]}" for key in ("epochs", "batch_size") if key in recipe]
    return "".join(f"-{part}" for part in parts)


def pretrained(X, dataset: str, seed: int, recipe: dict) -> tuple[Autoencoder, float]:
    """The autoencoder for ``seed`` (defaults changed by ``recipe``), from the cache or trained."""
    folder = CACHE / f"{dataset}{recipe_tag(recipe)}-seed{seed}"
    if (folder / "pretrain.json").exists():
        return deepclust.load(folder / "model"), json.loads((folder / "pretrain.json").read_text())["s"]
    started = time.perf_counter()
    autoencoder = Autoencoder(random_state=seed, verbose=1, **recipe).fit(X)
    seconds = time.perf_counter() - started
    autoencoder.save(folder / "model")
    atomic_write_bytes(folder / "pretrain.json", json.dumps({"s": seconds}).encode())
    return autoencoder, seconds


def run_seed(X, y, dataset: str, seed: int, methods, pixels: bool, recipe: dict) -> list[dict]:
    """The chosen methods for one seed, sharing one pretrained autoencoder."""
    rows = []
    if pixels:
        started = time.perf_counter()
        labels = KMeans(10, n_init=10, random_state=seed).fit_predict(X.reshape(len(X), -1))
        rows.append({"method": "k-means (pixels)", "seed": seed, "pretrain_s": 0.0,
                     "cluster_s": time.perf_counter() - started, **evaluate(y, labels)})
    autoencoder, pretrain_s = pretrained(X, dataset, seed, recipe)
    # the clustering phase augments exactly when the shared pretraining did, with its batch size
    clustering = {"augment": bool(recipe.get("augment")), "batch_size": autoencoder.batch_size}
    for name in methods:
        started = time.perf_counter()
        accepted = REGISTRY[name]().get_params()
        model = REGISTRY[name](10, autoencoder=autoencoder, random_state=seed, verbose=1,
                               **{k: v for k, v in clustering.items() if k in accepted}).fit(X)
        row = {"method": name, "seed": seed, "pretrain_s": pretrain_s,
               "cluster_s": time.perf_counter() - started,
               "pretrain_epochs": autoencoder.n_iter_, "epochs": model.n_iter_,
               "batch_size": autoencoder.batch_size, "peak_rss_mb": peak_rss_mb(),
               **evaluate(y, model.labels_)}
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
        peaks = [r["peak_rss_mb"] for r in group if "peak_rss_mb" in r]
        if peaks:
            entry["peak_rss_mb"] = max(peaks)
        table.append(entry)
    return table


def markdown(name: str, info: dict, table: list[dict]) -> str:
    lines = [
        f"# {name}: {info['n_samples']} images, seeds {info['seeds']}",
        "",
        f"Machine: {info['machine']['processor']}, {info['machine']['cpu_count']} cores, "
        f"{info['machine']['device']}, torch {info['machine']['torch']}. Runs {', '.join(info['dates'])}. "
        "Commands: " + "; ".join(f"`{c}`" for c in info["commands"]) + ".",
        "",
        "| method | ACC | NMI | ARI | pretrain s | cluster s | pretrain epochs | epochs | batch "
        "| peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in table:
        peak = f"{e['peak_rss_mb']:.0f}" if "peak_rss_mb" in e else "–"
        lines.append(
            f"| {e['method']} | {e['acc']:.3f} ± {e['acc_std']:.3f} | {e['nmi']:.3f} ± {e['nmi_std']:.3f} "
            f"| {e['ari']:.3f} ± {e['ari_std']:.3f} | {e['pretrain_s']:.0f} | {e['cluster_s']:.0f} "
            f"| {e.get('pretrain_epochs', '–')} | {e.get('epochs', '–')} | {e.get('batch_size', '–')} "
            f"| {peak} |"
        )
    lines += ["", "ACC is Hungarian-matched clustering accuracy; mean ± std over seeds; "
              "the autoencoder is pretrained once per seed and shared by all methods. "
              "`epochs` is the clustering epochs of the first seed (DEC/IDEC stop on `tol`). "
              "Peak RSS is the benchmark process's peak resident memory after the method ran "
              "(`getrusage`'s `ru_maxrss`, the figure `/usr/bin/time -v` prints), so it includes "
              "everything that ran before it in the process.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["sample", "mnist70k"],
                        choices=["sample", "mnist70k"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(REGISTRY), choices=list(REGISTRY))
    parser.add_argument("--no-pixels", action="store_true", help="skip k-means on the pixels")
    parser.add_argument("--mnist-dir", type=Path, default=DEFAULT_MNIST)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--augment", action="store_true",
                        help="shift and rotate image batches in pretraining and clustering")
    parser.add_argument("--pretrain-epochs", type=int, help="instead of the default 20")
    parser.add_argument("--batch-size", type=int, help="instead of the default 64")
    args = parser.parse_args()
    given = {key: getattr(args, flag[2:].replace("-", "_")) for key, flag in RECIPE_FLAGS.items()}
    recipe = {key: value for key, value in given.items() if value}
    tag = recipe_tag(recipe)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        if name == "mnist70k" and not args.mnist_dir.exists():
            print(f"skipping mnist70k: {args.mnist_dir} not found (pass --mnist-dir)")
            continue
        X, y = load_dataset(name, args.mnist_dir)
        rows = [row for seed in args.seeds
                for row in run_seed(X, y, name, seed, args.methods, not args.no_pixels, recipe)]
        command = "python benchmarks/run.py " + " ".join(
            ["--datasets", name, "--seeds", *map(str, args.seeds), "--methods", *args.methods]
            + (["--no-pixels"] if args.no_pixels else [])
            + [RECIPE_FLAGS[key] if value is True else f"{RECIPE_FLAGS[key]} {value}"
               for key, value in recipe.items()])
        table_name = f"{name}{tag}"
        previous = args.out / f"{table_name}.json"
        date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        rows = [{**row, "date": date, "command": command} for row in rows]
        if previous.exists():  # keep the rows of (method, seed) pairs this run did not redo
            redone = {(r["method"], r["seed"]) for r in rows}
            old_rows = json.loads(previous.read_text())["runs"]
            rows = [r for r in old_rows if (r["method"], r["seed"]) not in redone] + rows
        # the runs that produced the rows kept, so a run whose rows were all redone is not listed
        info = {"dataset": table_name, "n_samples": int(len(X)),
                "dates": sorted({r["date"] for r in rows}),
                "commands": list(dict.fromkeys(r["command"] for r in rows)),
                "machine": machine(), "seeds": sorted({r["seed"] for r in rows})}
        table = summarise(rows)
        result = {**info, "summary": table, "runs": rows}
        atomic_write_bytes(args.out / f"{table_name}.json", json.dumps(result, indent=2).encode())
        atomic_write_bytes(args.out / f"{table_name}.md", markdown(table_name, info, table).encode())
        print(markdown(table_name, info, table))


if __name__ == "__main__":
    with flushing_denormals():  # entered before torch's worker threads start, so they flush too
        main()
