"""Real-data benchmark: deepclust's default, called as a user calls it, beside what a user tries first.

For every dataset and seed, in one run:

- the baselines, on the features deepclust's own preprocessing gives (``deepclust.data.featurize``:
  standardised and one-hot table columns, sentence embeddings, audio features, pixels in [0, 1]):
  k-means (10 restarts) on the standardised features, a full-covariance Gaussian mixture (3
  starts; on a 50-component PCA when there are more than 50 features), UMAP (20 neighbours,
  ``min_dist=0``, ``n_clusters`` dimensions) + a full-covariance mixture (10 starts), and for text
  k-means on the unstandardised sentence embeddings;
- ``deepclust fit PATH -k K --seed S`` with nothing else (``--label-column`` only to score it), run
  through the command-line entry point in this process (numba compiles UMAP once per process, so
  the first UMAP of the run is slower: its dataset is listed first and that is said in the table);
- ``-k auto``'s choice of the number of clusters (``deepclust.cluster.choose_n_clusters`` on the same
  features, as ``deepclust fit -k auto --seed S`` calls it: with the seed the estimator draws from S).

Writes ``results/realdata.json`` (every run) and ``results/realdata.md`` (means ± std over seeds);
``--preset fast`` (or ``accurate``) passes ``--preset`` to ``deepclust fit`` and writes
``results/realdata-fast.{json,md}`` instead.

    python benchmarks/realdata.py [--seeds 0 1 2] [--datasets iris wine ...] [--preset fast]
                                  [--merge] [--k-auto-only]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from run import processor

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data" / "real"
CACHE = HERE / "cache" / "real"
RESULTS = HERE / "results"

TABLES = {"crabs": "group", "glass": "type", "olive": "region", "oils": "class", "scat": "Species", "biopsy": "class"}
#: what deepclust fit trains by default (method auto: only its N2D candidate trains)
DEFAULT_EPOCHS = ("deepclust's defaults: N2D pretrains for pretrain_epochs='auto' (30 epochs at batch 64, more on "
                  "small data to reach 500 optimiser steps, 2,000 on images), then 10 self-labelling epochs on images")


def preset_epochs(preset: str) -> str:
    """What deepclust fit trains under ``preset``, read from N2D's own recipe."""
    if preset == "default":
        return DEFAULT_EPOCHS
    from deepclust.methods import N2D
    from deepclust.params import preset_recipe

    recipe = ", ".join(f"{name}={value!r}" for name, value in preset_recipe(N2D, preset).items())
    return (f"preset {preset}: N2D with {recipe} (pretraining raised on small data to reach 500 optimiser steps, "
            "2,000 on images; self-labelling on images only)")
#: spoken words: the label; each said by every voice at every speed and pitch
WORDS = ("red", "green", "blue", "yellow", "horse", "tiger", "rabbit", "monkey")
VOICES = ("en-gb", "en-us", "en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-rp")
VARIANTS = ("", "+f3")
SPEEDS = (140, 185)
PITCHES = (35, 70)
#: Debian package descriptions: the eight largest sections of the archive named after a subject
#: (not a language, a packaging role or a desktop), 100 distinct descriptions drawn from each
PACKAGE_SECTIONS = ("science", "games", "text", "sound", "graphics", "fonts", "web", "math")
PACKAGES_PER_SECTION = 100


def _sklearn_csv(name: str) -> Path:
    from sklearn import datasets

    path = CACHE / f"{name}.csv"
    if not path.exists():
        loader = {"iris": datasets.load_iris, "wine": datasets.load_wine,
                  "breast_cancer": datasets.load_breast_cancer}[name]
        frame = loader(as_frame=True).frame
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    return path


def _digits_array() -> tuple[Path, Path]:
    from sklearn.datasets import load_digits

    X_path, y_path = CACHE / "digits.npy", CACHE / "digits-labels.csv"
    if not X_path.exists():
        digits = load_digits()
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(X_path, digits.data.astype(np.float32))
        y_path.write_text("label\n" + "\n".join(str(int(v)) for v in digits.target) + "\n")
    return X_path, y_path


def _digits_pngs() -> Path:
    from PIL import Image
    from sklearn.datasets import load_digits

    root = CACHE / "digits-png"
    if not (root / ".complete").exists():
        digits = load_digits()
        for i, (image, label) in enumerate(zip(digits.images, digits.target)):
            folder = root / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.round(image * 255 / 16).astype(np.uint8), mode="L").save(folder / f"{i:04d}.png")
        (root / ".complete").touch()
    return root


def _speech() -> Path:
    root = CACHE / "speech"
    if (root / ".complete").exists():
        return root
    if shutil.which("espeak-ng") is None:
        raise SystemExit("the speech set needs espeak-ng (apt-get install espeak-ng); make bench-real installs it")
    for word in WORDS:
        folder = root / word
        folder.mkdir(parents=True, exist_ok=True)
        for voice in VOICES:
            for variant in VARIANTS:
                for speed in SPEEDS:
                    for pitch in PITCHES:
                        name = f"{voice}{variant.replace('+', '-')}-s{speed}-p{pitch}.wav"
                        subprocess.run(["espeak-ng", "-v", voice + variant, "-s", str(speed), "-p", str(pitch),
                                        "-w", str(folder / name), word], check=True)
    (root / ".complete").touch()
    return root


def _debian_packages() -> Path:
    """The one-line descriptions of Debian packages (``apt-cache dumpavail``), labelled by section."""
    import csv
    import random

    path = CACHE / "debian-packages.csv"
    if path.exists():
        return path
    if shutil.which("apt-cache") is None:
        raise SystemExit("the package-description set needs apt-cache (Debian's package lists)")
    listing = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, check=True).stdout
    by_section: dict[str, set[str]] = {section: set() for section in PACKAGE_SECTIONS}
    for stanza in listing.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
        if fields.get("Section") in by_section and fields.get("Description"):
            by_section[fields["Section"]].add(fields["Description"].strip())
    short = {section: len(found) for section, found in by_section.items() if len(found) < PACKAGES_PER_SECTION}
    if short:
        raise SystemExit(f"too few package descriptions (run apt-get update first): {short}")
    rng = random.Random(0)
    CACHE.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["description", "section"])
        for section, found in by_section.items():
            writer.writerows([text, section] for text in rng.sample(sorted(found), PACKAGES_PER_SECTION))
    return path


def datasets() -> dict[str, dict]:
    """Every dataset: the CLI arguments that fit it, and what featurize needs to read it alike."""
    found = {}
    for name in ("iris", "wine", "breast_cancer"):
        path = _sklearn_csv(name)
        found[name] = {"cli": [str(path), "--label-column", "target"],
                       "featurize": (path, {"label_column": "target"}), "modality": "table"}
    for name, label in TABLES.items():
        found[name] = {"cli": [str(SHARED / f"{name}.csv"), "--label-column", label],
                       "featurize": (SHARED / f"{name}.csv", {"label_column": label}), "modality": "table"}
    X_path, y_path = _digits_array()
    found["digits"] = {"cli": [str(X_path), "--labels", str(y_path)], "featurize": (X_path, {}),
                       "labels": y_path, "modality": "array"}
    png = _digits_pngs()
    found["digits-png"] = {"cli": [str(png)], "featurize": (png, {}), "modality": "images"}
    text = SHARED / "stdlib_docstrings.csv"
    found["stdlib-docstrings"] = {"cli": [str(text), "--label-column", "package", "--text-column", "text"],
                                  "featurize": (text, {"label_column": "package", "text_column": "text"}),
                                  "modality": "text"}
    packages = _debian_packages()
    found["debian-packages"] = {"cli": [str(packages), "--label-column", "section", "--text-column", "description"],
                                "featurize": (packages, {"label_column": "section", "text_column": "description"}),
                                "modality": "text"}
    speech = _speech()
    found["spoken-words"] = {"cli": [str(speech)], "featurize": (speech, {}), "modality": "audio"}
    found["mnist-sample"] = {"cli": [], "featurize": None, "modality": "images"}
    return found


def features(spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """The features and labels deepclust's preprocessing gives, for the baselines."""
    import pandas as pd

    from deepclust.data.featurize import featurize
    from deepclust.datasets import load_mnist_sample

    if spec["featurize"] is None:
        X, y = load_mnist_sample()
        return X.reshape(len(X), -1).astype(np.float32), y
    path, kwargs = spec["featurize"]
    data = featurize(path, **kwargs)
    y = data.y
    if "labels" in spec:
        y = pd.read_csv(spec["labels"])["label"].to_numpy()
    return np.asarray(data.X, np.float32).reshape(len(data.X), -1), np.asarray(y)


def baselines(X: np.ndarray, k: int, seed: int, modality: str) -> dict[str, tuple[np.ndarray, float]]:
    """Each baseline's labels and seconds."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import StandardScaler

    from deepclust.cluster import umap_embedding

    out = {}
    start = time.perf_counter()
    Xs = StandardScaler().fit_transform(X)
    out["kmeans"] = (KMeans(k, n_init=10, random_state=seed).fit_predict(Xs), time.perf_counter() - start)
    start = time.perf_counter()
    Xg = Xs if Xs.shape[1] <= 50 else PCA(50, random_state=seed).fit_transform(Xs)
    gmm = GaussianMixture(k, covariance_type="full", n_init=3, reg_covar=1e-4, random_state=seed)
    out["gmm"] = (gmm.fit_predict(Xg), time.perf_counter() - start)
    start = time.perf_counter()
    E = umap_embedding(Xs, k, seed, n_neighbors=20, min_dist=0.0)
    out["umap-gmm"] = (GaussianMixture(k, covariance_type="full", n_init=10, random_state=seed).fit_predict(E),
                       time.perf_counter() - start)
    if modality == "text":
        start = time.perf_counter()
        out["embed-kmeans"] = (KMeans(k, n_init=10, random_state=seed).fit_predict(X), time.perf_counter() - start)
    return out


def run_cli(args: list[str], out: Path) -> dict:
    """``deepclust fit ARGS --out OUT --quiet`` through the CLI's entry point; its metrics,
    selection and wall time."""
    from deepclust import cli

    start = time.perf_counter()
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            cli.main(["fit", *args, "--out", str(out), "--quiet"])
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise RuntimeError(f"deepclust fit {' '.join(args)} failed: {stderr.getvalue()[-2000:]}") from None
    seconds = time.perf_counter() - start
    metrics = json.loads((out / "metrics.json").read_text())
    selection = json.loads((out / "selection.json").read_text()) if (out / "selection.json").exists() else None
    warned = [line for line in stderr.getvalue().splitlines() if line.startswith("warning:")]
    return {"acc": metrics["acc"], "nmi": metrics["nmi"], "ari": metrics["ari"], "seconds": seconds,
            "selection": selection, "warnings": warned}


def _runs_of(meta: dict) -> str:
    """The run's command and wall time, then those of the runs it was merged into (newest first)."""
    runs = []
    while meta is not None:
        runs.append(f"`{meta['command'].strip()}` ({meta['wall_minutes']:.1f} min)")
        meta = meta.get("merged_run")
    return ", merged into ".join(runs)


def _replaces_k_auto(command: str) -> bool:
    """Whether the run of ``command`` redrew ``-k auto``'s choice on every dataset and nothing else."""
    return "--k-auto-only" in command and "--datasets" not in command


def _chain_without_k_auto_runs(meta: dict | None) -> dict | None:
    """The chain of merged runs ``meta`` without its ``--k-auto-only`` runs over every dataset,
    whose one column a new such run replaces whole."""
    if meta is None:
        return None
    rest = _chain_without_k_auto_runs(meta.get("merged_run"))
    if _replaces_k_auto(meta["command"]):
        return rest
    own = {key: value for key, value in meta.items() if key != "merged_run"}
    return {**own, "merged_run": rest} if rest is not None else own


def _mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def _stem(preset: str) -> str:
    return "realdata" if preset == "default" else f"realdata-{preset}"


def write_tables(runs: list[dict], meta: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    preset = meta.get("preset", "default")
    (RESULTS / f"{_stem(preset)}.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1) + "\n")
    command = "deepclust fit DATA -k K --seed S" + ("" if preset == "default" else f" --preset {preset}")
    how = "with its defaults" if preset == "default" else "with its other defaults"
    names = list(dict.fromkeys(r["dataset"] for r in runs))
    columns = ["kmeans", "gmm", "umap-gmm", "embed-kmeans", "deepclust"]
    lines = [
        "# Real-data benchmark: deepclust's default beside the baselines"
        + ("" if preset == "default" else f", `--preset {preset}`"),
        "",
        f"Commands: {_runs_of(meta)}. Machine: {meta['machine']}; torch {meta['torch']}; seeds "
        f"{meta['seeds']}; epochs: {meta['epochs']}. deepclust runs `{command}` {how} (method auto), "
        "inside this process; baselines use the same features "
        "(see benchmarks/realdata.py). ACC is Hungarian-matched; mean ± std over seeds.",
        "",
        "## ACC",
        "",
        "| dataset | n | K | " + " | ".join(columns) + " | best baseline | margin | chosen | -k auto |",
        "|---|---|---|" + "---|" * (len(columns) + 4),
    ]
    summary = {"margins": [], "ok": 0, "k_exact": 0, "k_close": 0}
    for name in names:
        rows = [r for r in runs if r["dataset"] == name]
        first = rows[0]
        cells, means = [], {}
        for column in columns:
            accs = [r["results"][column]["acc"] for r in rows if column in r["results"]]
            if accs:
                means[column] = float(np.mean(accs))
                cells.append(_mean_std(accs))
            else:
                cells.append("–")
        best = max(v for c, v in means.items() if c != "deepclust")
        margin = means["deepclust"] - best
        summary["margins"].append(margin)
        summary["ok"] += margin >= -0.01
        chosen = ", ".join(r["results"]["deepclust"]["selection"]["chosen"] for r in rows
                           if r["results"]["deepclust"]["selection"])
        ks = [r["k_auto"] for r in rows]
        summary["k_exact"] += int(np.median(ks)) == first["k"]
        summary["k_close"] += abs(int(np.median(ks)) - first["k"]) <= 1
        lines.append(f"| {name} | {first['n']} | {first['k']} | " + " | ".join(cells)
                     + f" | {best:.3f} | {margin:+.3f} | {chosen} | {', '.join(map(str, ks))} |")
    count = len(names)
    lines += [
        "",
        f"deepclust within 0.01 of the best baseline (or above) on {summary['ok']} of {count} datasets; "
        f"mean margin over the best baseline {np.mean(summary['margins']):+.3f}. `-k auto` (median over "
        f"seeds) found the true number of classes on {summary['k_exact']} of {count}, within ±1 on "
        f"{summary['k_close']} of {count}.",
        "",
        "## NMI / ARI / seconds (deepclust and the best-ACC baseline)",
        "",
        "| dataset | deepclust NMI | deepclust ARI | deepclust s | baseline s (kmeans / gmm / umap-gmm) |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        rows = [r for r in runs if r["dataset"] == name]
        d = [r["results"]["deepclust"] for r in rows]
        secs = " / ".join(f"{np.mean([r['results'][c]['seconds'] for r in rows]):.1f}"
                          for c in ("kmeans", "gmm", "umap-gmm"))
        lines.append(f"| {name} | {_mean_std([x['nmi'] for x in d])} | {_mean_std([x['ari'] for x in d])} | "
                     f"{np.mean([x['seconds'] for x in d]):.1f} | {secs} |")
    lines += ["", f"The first UMAP of the run (dataset {names[0]}) includes numba's compilation.", ""]
    (RESULTS / f"{_stem(preset)}.md").write_text("\n".join(lines))


def _machine() -> str:
    model = processor()
    return f"{model}, {torch.get_num_threads()} torch threads, no GPU" if not torch.cuda.is_available() else model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=None)
    parser.add_argument("--merge", action="store_true",
                        help="keep the other datasets' runs of results/realdata.json (rerun only --datasets)")
    parser.add_argument("--k-auto-only", action="store_true",
                        help="rerun only -k auto's choice and keep every stored result else (implies --merge)")
    parser.add_argument("--preset", choices=["fast", "default", "accurate"], default="default",
                        help="deepclust fit's --preset (results/realdata-PRESET.* unless 'default')")
    args = parser.parse_args()
    torch.set_flush_denormal(True)  # before torch's worker threads start, as the CLI does
    warnings.filterwarnings("ignore", category=FutureWarning)
    from deepclust.cluster import choose_n_clusters
    from deepclust.metrics import evaluate
    from deepclust.training.engine import draw_seed

    specs = datasets()
    chosen = args.datasets or list(specs)
    unknown = sorted(set(chosen) - set(specs))
    if unknown:
        raise SystemExit(f"unknown datasets {unknown}; known: {', '.join(specs)}")
    started = time.perf_counter()
    runs, kept, earlier = [], [], None
    stored = RESULTS / f"{_stem(args.preset)}.json"
    if (args.merge or args.k_auto_only) and stored.exists():
        earlier = json.loads(stored.read_text())
        kept = [r for r in earlier["runs"] if r["dataset"] not in chosen]
    elif args.k_auto_only:
        raise SystemExit(f"--k-auto-only needs the stored results of a full run: {stored} is missing")
    command = "python benchmarks/realdata.py " + " ".join(sys.argv[1:])
    merged = earlier["meta"] if earlier else None
    if _replaces_k_auto(command):
        merged = _chain_without_k_auto_runs(merged)
    for name in chosen:
        spec = specs[name]
        X, y = features(spec)
        _, y_index = np.unique(y.astype(str), return_inverse=True)
        k = int(y_index.max() + 1)
        for seed in args.seeds:
            if args.k_auto_only:
                stored_runs = (r["results"] for r in earlier["runs"] if (r["dataset"], r["seed"]) == (name, seed))
                results = next(stored_runs, None)
                if results is None:
                    raise SystemExit(f"--k-auto-only: {stored} has no run of {name} with seed {seed}")
            else:
                results = {}
                for method, (labels, seconds) in baselines(X, k, seed, spec["modality"]).items():
                    results[method] = {**evaluate(y_index, labels), "seconds": seconds}
                out = CACHE / "runs" / f"{name}-seed{seed}-{args.preset}"
                preset = [] if args.preset == "default" else ["--preset", args.preset]
                results["deepclust"] = run_cli([*spec["cli"], "-k", str(k), "--seed", str(seed), *preset], out)
            scaling = "none" if spec["modality"] in ("table", "text") else "auto"
            k_auto, _ = choose_n_clusters(X, (2, 30), draw_seed(seed), input_scaling=scaling)
            runs.append({"dataset": name, "seed": seed, "n": int(len(X)), "k": k, "k_auto": int(k_auto),
                         "results": results})
            line = " ".join(f"{m} {r['acc']:.3f}" for m, r in results.items())
            print(f"{name} seed {seed}: {line}; k auto {k_auto}", flush=True)
        meta = {
            "command": command,
            "machine": _machine(),
            "torch": torch.__version__, "seeds": args.seeds, "preset": args.preset,
            "epochs": preset_epochs(args.preset),
            "wall_minutes": (time.perf_counter() - started) / 60,
            **({"merged_run": merged} if merged else {}),
        }
        order = list(specs)
        write_tables(sorted(kept + runs, key=lambda r: order.index(r["dataset"])), meta)


if __name__ == "__main__":
    main()
