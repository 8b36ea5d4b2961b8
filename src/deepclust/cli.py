"""The ``deepclust`` command: fit, predict, evaluate, sample, methods, demo.

User errors (bad files, bad options, unknown methods, mismatched models) end the command with one
line ``error: <message>`` on stderr and exit status 2, without a traceback; the outputs of a
failed command are not written. Unexpected exceptions are bugs and keep their traceback (set
``DEEPCLUST_DEBUG=1`` to see a traceback for user errors too). Every file is written atomically
(temporary file in the target folder, then a rename). The method list comes from
:data:`deepclust.methods.REGISTRY`; heavy imports (torch) happen inside the commands so that
``--help`` stays fast.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer

from .exceptions import DeepclustError

#: the method ``fit`` and ``demo`` use when ``--method`` is not given
DEFAULT_METHOD = "auto"
#: file names ``fit`` and ``demo`` write into their output folder
LABELS_FILE = "labels.csv"
METRICS_FILE = "metrics.json"
MODEL_DIR = "model"
EMBEDDING_PNG = "embedding.png"
CLUSTERS_PNG = "clusters.png"
HISTORY_PNG = "history.png"
SAMPLES_PNG = "samples.png"
CLUSTERS_JSON = "clusters.json"
SELECTION_JSON = "selection.json"
#: per cluster: characteristic words (text), typical members shown on the terminal
TERMS_PER_CLUSTER = 8
EXAMPLES_PER_CLUSTER = 3
#: generated samples shown per cluster in samples.png
SAMPLES_PER_CLUSTER = 10
#: file types ``deepclust sample`` writes
SAMPLE_SUFFIXES = (".npy", ".npz", ".csv")
#: rows per block when ``predict`` streams an .npy file
STREAM_ROWS = 16_384
#: the embedding map encodes at most this many samples (a seeded subset)
EMBED_POINTS = 10_000
DEBUG_ENV = "DEEPCLUST_DEBUG"

app = typer.Typer(
    name="deepclust",
    help="Deep clustering with autoencoders and GANs. Run 'deepclust demo' for a first look.",
    add_completion=False,
    pretty_exceptions_enable=False,  # bugs get Python's plain traceback
    rich_markup_mode=None,  # plain help: no "<bool>" beside on/off flags
)


# --------------------------------------------------------------------------------------------------
# errors and output


def _one_line(message: str) -> str:
    """Collapse a (possibly multi-line) message into one line."""
    return " ".join(str(message).split()) or "unknown error"


def _fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with status 2."""
    typer.echo(f"error: {_one_line(message)}", err=True)
    raise typer.Exit(2)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    typer.echo(f"warning: {_one_line(str(message))}", err=True)


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn :class:`DeepclustError` into the one-line error and exit status 2; warnings (skipped
    files, empty clusters) are printed as one ``warning: ...`` line each."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            yield
    except DeepclustError as exc:
        if _debug():
            raise
        _fail(str(exc))


@contextlib.contextmanager
def _estimator_errors(source: str | None = None) -> Iterator[None]:
    """Around estimator calls: the estimator's errors ("X has 3 features, but DCN is expecting 4
    features as input.") do not know the file, so they are prefixed with the data's name."""
    try:
        yield
    except DeepclustError as exc:
        raise DeepclustError(f"{source}: {exc}" if source else str(exc)) from None


@contextlib.contextmanager
def _os_errors(what: str) -> Iterator[None]:
    """An ``OSError`` (full disk, no permission) inside becomes the one-line user error
    ``cannot <what>: <reason>``."""
    try:
        yield
    except OSError as exc:
        raise DeepclustError(f"cannot {what}: {exc.strerror or exc}") from None


def _note(message: str, quiet: bool = False) -> None:
    """An informational line on stderr (suppressed by --quiet)."""
    if not quiet:
        typer.echo(message, err=True)


def _write(files: dict[Path, bytes], model: tuple[Any, Path] | None = None) -> None:
    """Write ``files`` (and a ``(estimator, folder)`` model) all together or not at all: each goes
    to a temporary name first, then all are renamed into place, so a full disk or a kill leaves
    earlier versions as they were. OS failures become one-line user errors."""
    from .io import OutputSet

    with _os_errors(f"write the outputs in {next(iter(files)).parent}"), OutputSet() as outputs:
        if model is not None:
            outputs.add_model(*model)
        for path, data in files.items():
            outputs.write(path, data)
        outputs.commit()


def _labels_csv(labels: np.ndarray, index: list[str] | None = None, ids: tuple[str, list[str]] | None = None,
                confidence: np.ndarray | None = None) -> bytes:
    """``index,cluster`` CSV, one row per sample: ``index`` is 0..n-1 or the file/line names;
    with ``ids`` (a table's ID column) a first column of that name holds them; with
    ``confidence`` (the probability of the assigned cluster) a last ``confidence`` column."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = [range(len(labels)) if index is None else index, (int(v) for v in np.asarray(labels).ravel())]
    header = ["index", "cluster"]
    if ids is not None:
        header, columns = [ids[0], *header], [ids[1], *columns]
    if confidence is not None:
        header, columns = [*header, "confidence"], [*columns, (f"{float(c):.4f}" for c in confidence)]
    writer.writerow(header)
    writer.writerows(zip(*columns))
    return buffer.getvalue().encode("utf-8")


def _confidence(estimator, X) -> np.ndarray | None:
    """The probability of each sample's assigned cluster, for methods with soft assignments."""
    if not hasattr(estimator, "predict_proba"):
        return None
    return estimator.predict_proba(X).max(axis=1)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False)


# --------------------------------------------------------------------------------------------------
# validation shared by the commands


def _parse_n_clusters(text: str, method: str) -> int | str:
    """``--n-clusters``: an integer >= 2, or ``auto`` (which only ``--method auto`` can do)."""
    value = text.strip().lower()
    if value == "auto":
        if method != "auto":
            raise DeepclustError(f"--n-clusters auto needs --method auto (method {method!r} needs a number)")
        return "auto"
    try:
        k = int(value)
    except ValueError:
        raise DeepclustError(f"--n-clusters must be an integer >= 2 or 'auto', got {text!r}") from None
    if k < 2:
        raise DeepclustError(f"--n-clusters must be at least 2, got {k}")
    return k


def _resolve_method(name: str):
    from .methods import REGISTRY

    key = name.strip().lower()
    if key not in REGISTRY:
        import difflib

        close = difflib.get_close_matches(key, list(REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DeepclustError(f"unknown method {name!r}{hint}; available: {', '.join(REGISTRY)}")
    return key, REGISTRY[key]


def _parse_hidden_dims(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise DeepclustError(
            f"--hidden-dims must be comma-separated positive integers such as 500,500,2000; "
            f"got {text!r}"
        )
    return dims


def _parse_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise DeepclustError(f"expected comma-separated column names, got {text!r}")
    return names


def _parse_image_size(text: str | None) -> tuple[int, int] | None:
    """``"64"`` → (64, 64); ``"64x48"`` → (64, 48), width first."""
    if text is None:
        return None
    parts = text.lower().split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 4:
        raise DeepclustError(f"--image-size must be WIDTHxHEIGHT or N, at least 4 pixels, got {text!r}")
    return size


def _check_device(device: str) -> None:
    from .training import resolve_device

    resolve_device(device)


def _load_autoencoder(path: Path | None, device: str):
    """The autoencoder saved at ``path``: an ``Autoencoder`` model, or the one inside a clusterer."""
    if path is None:
        return None
    from . import load
    from .methods import Autoencoder

    model = load(path, device=device)
    autoencoder = model if isinstance(model, Autoencoder) else getattr(model, "autoencoder_", None)
    if autoencoder is None:
        raise DeepclustError(f"--autoencoder {path}: a {type(model).__name__} model holds no autoencoder")
    return autoencoder


def _check_out_dir(out: Path) -> None:
    """Refuse an output folder that cannot hold our files, before any training."""
    if out.exists() and not out.is_dir():
        raise DeepclustError(f"--out {out}: exists and is not a folder")
    model = out / MODEL_DIR
    if model.exists() and not (
        model.is_dir() and (not any(model.iterdir()) or (model / "config.json").exists())
    ):
        raise DeepclustError(f"{model} exists and is not a deepclust model folder; not overwriting it")
    for name in (*_OPTIONAL_OUTPUTS, LABELS_FILE):
        if (out / name).is_dir():
            raise DeepclustError(f"{out / name} is a folder; cannot write {name} there")


def _check_checkpoint_dir(folder: Path | None, resume: bool, quiet: bool) -> None:
    """A checkpoint folder is continued only when asked (--resume), never by accident."""
    if folder is None:
        if resume:
            raise DeepclustError("--resume needs --checkpoint-dir, the folder of the interrupted run")
        return
    if folder.exists() and not folder.is_dir():
        raise DeepclustError(f"--checkpoint-dir {folder}: exists and is not a folder")
    found = folder.is_dir() and any(folder.glob("*.safetensors"))
    if found and not resume:
        raise DeepclustError(
            f"--checkpoint-dir {folder} holds a checkpoint; pass --resume to continue it, or give an empty folder"
        )
    if resume and not found:
        _note(f"note: no checkpoint in {folder} yet; starting from the beginning", quiet)


def _check_out_file(out: Path) -> None:
    if out.is_dir():
        raise DeepclustError(f"--out {out}: is a folder; give a file name such as predictions.csv")


def _build_estimator(cls, method: str, n_clusters: int, options: dict[str, Any], quiet: bool):
    """``cls(n_clusters, **options)`` keeping only the options ``cls`` accepts (others noted)."""
    accepted = cls().get_params()
    kwargs = {}
    for key, value in options.items():
        if value is None:
            continue
        if key in accepted:
            kwargs[key] = value
        else:
            flag = "--" + {"random_state": "seed"}.get(key, key).replace("_", "-")
            _note(f"note: method {method!r} has no {key!r} parameter; {flag} is ignored", quiet)
    return cls(n_clusters=n_clusters, **kwargs)


# --------------------------------------------------------------------------------------------------
# the fit pipeline shared by ``fit`` and ``demo``


@dataclass
class _Dataset:
    X: np.ndarray
    y: np.ndarray | None
    images: bool
    names: list[str] | None
    source: str
    modality: str = "images"
    featurizer: Any = None
    report: list[str] = field(default_factory=list)
    texts: list[str] | None = None
    ids: tuple[str, list[str]] | None = None


def _bundled_sample() -> _Dataset:
    from .datasets import load_mnist_sample

    X, y = load_mnist_sample()
    return _Dataset(X=X, y=y, images=True, names=None, source="bundled MNIST sample")


def _load_dataset(
    data: str | None, labels: str | None, label_column: str | None, quiet: bool, **options: Any
) -> _Dataset:
    """The bundled sample, or DATA read and featurized (``options`` go to ``featurize``)."""
    from .data.featurize import featurize
    from .data.readers import LABEL_COLUMN_NAMES, read_labels

    if data is None:
        if label_column is not None:
            raise DeepclustError("--label-column needs a DATA file")
        dataset = _bundled_sample()
    else:
        loaded = featurize(data, label_column=label_column, progress=not quiet, **options)
        dataset = _Dataset(
            X=loaded.X, y=loaded.y, images=loaded.modality == "images", names=loaded.names,
            source=str(data), modality=loaded.modality, featurizer=loaded.featurizer,
            report=loaded.report, texts=loaded.texts, ids=loaded.ids,
        )
        if loaded.modality == "table" and loaded.y is None and labels is None:
            columns = loaded.featurizer.columns_in_
            lookalikes = [c for c in columns if c.lower() in LABEL_COLUMN_NAMES]
            if lookalikes:
                _note(
                    f"note: column {lookalikes[0]!r} is clustered as a feature; pass "
                    f"--label-column {lookalikes[0]} if it holds the true labels",
                    quiet,
                )
    if labels is not None:
        y = read_labels(labels)
        if y.shape[0] != dataset.X.shape[0]:
            raise DeepclustError(
                f"{labels} holds {y.shape[0]} labels but {dataset.source} has "
                f"{dataset.X.shape[0]} samples"
            )
        dataset.y = y
    return dataset


def _render_plots(model, dataset: _Dataset, method: str) -> dict[str, bytes]:
    """The PNGs of a fitted model, by file name.

    Plots are a bonus on top of labels and model: a plot that cannot be drawn (matplotlib not
    installed, data that is not drawable) is skipped with a note instead of failing the run.
    """
    try:
        from . import plotting

        plotting._figure(1, 1)  # fails early, with the install hint, without matplotlib
    except DeepclustError as exc:
        _note(f"note: plots skipped: {exc}")
        return {}
    n = dataset.X.shape[0]
    idx = plotting._subsample(n, EMBED_POINTS)  # encode only the points the map shows

    def embedding() -> bytes:
        with _estimator_errors(dataset.source):
            Z = model.transform(dataset.X[idx] if len(idx) < n else dataset.X)
        return plotting.embedding_plot(
            Z, model.labels_[idx], title=f"{method}: latent space by cluster"
        )

    renderers = {
        EMBEDDING_PNG: embedding,
        HISTORY_PNG: lambda: plotting.history_plot(
            model.history_, title=f"{method}: training history"
        ),
    }
    if dataset.images:
        k = getattr(model, "n_clusters_", model.n_clusters)
        empty = sorted(set(range(k)) - set(np.unique(model.labels_).tolist()))
        note = f" (empty: cluster{'s' if len(empty) > 1 else ''} {', '.join(map(str, empty))})" if empty else ""
        renderers[CLUSTERS_PNG] = lambda: plotting.cluster_gallery(
            dataset.X, model.labels_, title=f"{method}: samples of each cluster{note}"
        )
    if hasattr(model, "sample") and model._fitted_on_images():  # generative, on images
        renderers[SAMPLES_PNG] = lambda: plotting.generated_samples_grid(
            model, SAMPLES_PER_CLUSTER, title=f"{method}: generated samples"
        )
    rendered = {}
    for name, render in renderers.items():
        try:
            rendered[name] = render()
        except DeepclustError as exc:
            _note(f"note: {name} skipped: {_one_line(str(exc))}")
    return rendered


def _make_parent(out: Path) -> None:
    with _os_errors(f"create the folder of --out {out}"):
        out.parent.mkdir(parents=True, exist_ok=True)


def _predict_streaming(estimator, data: str, out: Path) -> int:
    """Predict an ``.npy`` file block by block, appending each block's labels to ``out`` (which
    appears only once complete): memory is bounded by the block, not the file. Returns the count."""
    from .data.readers import iter_npy_rows
    from .io import atomic_writer

    _make_parent(out)
    count = 0
    with _os_errors(f"write {out}"), atomic_writer(out) as handle:
        handle.write(b"index,cluster\n")
        for block in iter_npy_rows(data, STREAM_ROWS):
            with _estimator_errors(str(data)):
                labels = estimator.predict(block)
            rows = np.column_stack([np.arange(count, count + len(labels)), labels])
            np.savetxt(handle, rows, fmt="%d", delimiter=",")
            count += len(labels)
    return count


def _draw_samples(model, n: int, cluster: int | None, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``n`` generated samples of ``model`` and their clusters (None for a model without clusters)."""
    if not hasattr(model, "sample"):
        raise DeepclustError(
            f"a {type(model).__name__} model cannot generate samples; GAN, ClusterGAN and VaDE can"
        )
    if not hasattr(model, "n_clusters"):
        if cluster is not None:
            raise DeepclustError(f"--cluster: a {type(model).__name__} model has no clusters")
        return model.sample(n, random_state=seed), None
    return model.sample(n, cluster=cluster, random_state=seed, return_labels=True)


def _samples_file(X: np.ndarray, clusters: np.ndarray | None, suffix: str, feature_names) -> bytes:
    """Generated samples as ``.npy`` (the array), ``.npz`` (``X`` and ``cluster``) or ``.csv``
    (one flattened sample per row, then a ``cluster`` column when there are clusters)."""
    buffer = io.BytesIO()
    if suffix == ".npy":
        np.save(buffer, X, allow_pickle=False)
    elif suffix == ".npz":
        arrays = {"X": X} if clusters is None else {"X": X, "cluster": clusters}
        np.savez(buffer, **arrays)
    else:
        import pandas as pd

        flat = X.reshape(len(X), -1)
        names = [str(f) for f in feature_names] if feature_names is not None else None
        table = pd.DataFrame(flat, columns=names or [f"x{i}" for i in range(flat.shape[1])])
        if clusters is not None:
            table["cluster"] = clusters
        buffer.write(table.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return buffer.getvalue()


def _adapt_to_data(estimator, dataset: _Dataset, quiet: bool) -> None:
    """No second scaling of features that the preprocessing already scaled (standardised table
    columns, unit-length text embeddings). Every other setting that follows from the data is
    the library's (``pretrain_epochs="auto"``, ``method="auto"``), so that ``deepclust fit`` and
    the Python API build the same model from the same data and seed."""
    params = estimator.get_params()
    changes = {}
    scaling = getattr(dataset.featurizer, "input_scaling", None)
    if scaling is not None and "input_scaling" in params:
        changes["input_scaling"] = scaling
    if changes:
        estimator.set_params(**changes)
        _note("settings for this data: " + ", ".join(f"{k}={v}" for k, v in changes.items()), quiet)


def _run_fit(
    dataset: _Dataset, estimator, method: str, out: Path, quiet: bool
) -> dict[str, Any]:
    """Fit, then write labels, model, metrics, cluster overview and plots into ``out``; returns
    the summary. Nothing is written unless the fit succeeds, and then all outputs together."""
    n_clusters = estimator.n_clusters
    if not isinstance(n_clusters, str) and dataset.X.shape[0] < n_clusters:
        raise DeepclustError(
            f"{dataset.source} has {dataset.X.shape[0]} samples, fewer than --n-clusters "
            f"{n_clusters}: a clustering needs at least one sample per cluster"
        )
    from .training import flushing_denormals

    start = time.perf_counter()
    with _estimator_errors(dataset.source), flushing_denormals():
        estimator.fit(dataset.X)
    seconds = time.perf_counter() - start

    metrics = None
    if dataset.y is not None:
        from .metrics import evaluate

        metrics = {**evaluate(dataset.y, estimator.labels_), "seconds": seconds, "method": method}

    if dataset.featurizer is not None:  # saved with the model, so that predict reads data alike
        estimator.preprocessing_ = dataset.featurizer
    overview = _cluster_overview(estimator, dataset)
    with _estimator_errors(dataset.source):
        confidence = _confidence(estimator, dataset.X)
    files = {LABELS_FILE: _labels_csv(estimator.labels_, dataset.names, dataset.ids, confidence)}
    selection = _selection(estimator)
    if selection is not None:
        files[SELECTION_JSON] = (json.dumps(selection, indent=2) + "\n").encode()
    if metrics is not None:
        files[METRICS_FILE] = (json.dumps(metrics, indent=2) + "\n").encode()
    if overview is not None:
        files[CLUSTERS_JSON] = (json.dumps(overview, indent=2) + "\n").encode()
    files.update(_render_plots(estimator, dataset, method))
    with _os_errors(f"create --out {out}"):
        out.mkdir(parents=True, exist_ok=True)
    _write({out / name: data for name, data in files.items()}, model=(estimator, out / MODEL_DIR))
    written = [LABELS_FILE, MODEL_DIR + "/", *[name for name in files if name != LABELS_FILE]]
    # outputs of an earlier run into the same folder that this run does not replace would be stale
    for name in _OPTIONAL_OUTPUTS:
        if name not in files and (out / name).is_file():
            (out / name).unlink()
    return {
        "method": method,
        "source": dataset.source,
        "n_samples": int(dataset.X.shape[0]),
        "n_clusters": getattr(estimator, "n_clusters_", n_clusters),
        "selection": selection,
        "found": int(np.unique(estimator.labels_).size),
        "seconds": seconds,
        "metrics": metrics,
        "out": out,
        "written": written,
        "report": dataset.report,
        "overview": overview,
    }


def _selection(estimator) -> dict[str, Any] | None:
    """What ``method="auto"`` chose and why (None for the other methods): the chosen pipeline,
    every candidate's score, and with ``-k auto`` the criterion for each number of clusters."""
    if not hasattr(estimator, "chosen_"):
        return None
    record = {"chosen": estimator.chosen_, "reason": estimator.selection_, "n_clusters": estimator.n_clusters_,
              "candidates": estimator.candidates_}
    if hasattr(estimator, "k_scores_"):
        record["k_criterion"] = "silhouette of a Gaussian mixture in a 10-D UMAP of the features"
        record["k_scores"] = {str(k): v for k, v in estimator.k_scores_.items()}
    return record


_OPTIONAL_OUTPUTS = (METRICS_FILE, SELECTION_JSON, CLUSTERS_PNG, EMBEDDING_PNG, HISTORY_PNG, SAMPLES_PNG, CLUSTERS_JSON)


def _cluster_overview(estimator, dataset: _Dataset) -> dict[str, Any] | None:
    """Per cluster: its size and members (files, lines or rows) and, for text, its characteristic
    words and the documents nearest its centre in the learned embedding. None for data without
    names (tables, arrays)."""
    if dataset.names is None:
        return None
    labels = np.asarray(estimator.labels_)
    clusters = {int(c): {"size": int((labels == c).sum())} for c in np.unique(labels)}
    if dataset.texts is not None:
        from .data.text import cluster_terms, representatives

        terms = cluster_terms(dataset.texts, labels, TERMS_PER_CLUSTER)
        with _estimator_errors(dataset.source):
            typical = representatives(estimator.transform(dataset.X), labels, EXAMPLES_PER_CLUSTER)
        for c, entry in clusters.items():
            entry["terms"] = terms[c]
            entry["examples"] = [dataset.texts[i] for i in typical[c]]
    names = np.asarray(dataset.names, dtype=object)
    for c, entry in clusters.items():
        entry["members"] = names[labels == c].tolist()
    return {"modality": dataset.modality, "source": dataset.source,
            "clusters": {str(c): entry for c, entry in clusters.items()}}


def _print_overview(overview: dict[str, Any]) -> None:
    console = _console()
    for c, entry in overview["clusters"].items():
        line = f"cluster {c} ({entry['size']:,})"
        if "terms" in entry:
            line += ": " + ", ".join(entry["terms"])
            console.print(line, markup=False)
            for text in entry["examples"]:
                console.print(f"    - {text if len(text) <= 100 else text[:97] + '...'}", markup=False)
            continue
        members = entry["members"]
        more = f", ... (+{len(members) - EXAMPLES_PER_CLUSTER} more)" if len(members) > EXAMPLES_PER_CLUSTER else ""
        console.print(line + ": " + ", ".join(members[:EXAMPLES_PER_CLUSTER]) + more, markup=False)


def _print_summary(summary: dict[str, Any], title: str) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("method", summary["method"])
    table.add_row("data", summary["source"])
    for i, line in enumerate(summary["report"]):
        table.add_row("preprocessing" if i == 0 else "", Text(line))
    table.add_row("samples", f"{summary['n_samples']:,}")
    selection = summary["selection"]
    if selection is not None:
        table.add_row("chosen", Text(selection["reason"]))
    if selection is not None and "k_scores" in selection:
        table.add_row("clusters", f"{summary['n_clusters']} chosen (highest silhouette), {summary['found']} non-empty")
    else:
        table.add_row("clusters", f"{summary['n_clusters']} requested, {summary['found']} non-empty")
    table.add_row("fit time", f"{summary['seconds']:.1f} s")
    metrics = summary["metrics"]
    if metrics is not None:
        for key in ("acc", "nmi", "ari"):
            table.add_row(key.upper(), f"{metrics[key]:.4f}")
    console = _console()
    console.print(table)
    if summary["overview"] is not None:
        _print_overview(summary["overview"])
    console.print(f"outputs in {summary['out']}/: {', '.join(summary['written'])}")


# --------------------------------------------------------------------------------------------------
# commands


@app.command()
def fit(
    data: Optional[str] = typer.Argument(
        None, metavar="DATA",
        help="A table (CSV/TSV, Parquet), .npy/.npz, a text file (one document per line) or a folder "
        "of images, audio or text files; default: the bundled MNIST sample.",
    ),
    method: str = typer.Option(DEFAULT_METHOD, "--method", "-m", help="Clustering method (see 'deepclust methods')."),
    n_clusters: str = typer.Option(
        "10", "--n-clusters", "-k",
        help="Number of clusters (>= 2), or 'auto' to choose it without labels (with --method auto).",
    ),
    labels: Optional[str] = typer.Option(None, "--labels", help="File of true labels, to report metrics."),
    label_column: Optional[str] = typer.Option(
        None, "--label-column", help="Column of DATA holding true labels (removed from the features)."
    ),
    ignore_columns: Optional[str] = typer.Option(
        None, "--ignore-columns", help="Table columns to leave out, comma-separated."
    ),
    modality: str = typer.Option(
        "auto", "--modality", help="What DATA is: auto, table, array, text, audio or images."
    ),
    text_column: Optional[str] = typer.Option(
        None, "--text-column", help="Column of a table holding the documents to cluster."
    ),
    text_backend: str = typer.Option(
        "auto", "--text-backend",
        help="Text embedding: auto (sentence-transformers if installed, else tfidf), "
        "sentence-transformers or tfidf.",
    ),
    image_size: Optional[str] = typer.Option(
        None, "--image-size", help="Resize images to WIDTHxHEIGHT (or N for NxN); default: the most common size."
    ),
    image_mode: str = typer.Option("L", "--image-mode", help="Images as L (grayscale) or RGB."),
    architecture: Optional[str] = typer.Option(
        None, "--architecture", help="Autoencoder: mlp (default) or conv (images only)."
    ),
    out: Path = typer.Option(Path("deepclust-out"), "--out", "-o", help="Output folder."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=0, help="Clustering epochs (methods that have them; N2D: self-labelling epochs on images)."),
    pretrain_epochs: Optional[int] = typer.Option(None, "--pretrain-epochs", min=0, help="Autoencoder pretraining epochs."),
    latent_dim: Optional[int] = typer.Option(None, "--latent-dim", min=1, help="Size of the embedding."),
    hidden_dims: Optional[str] = typer.Option(
        None, "--hidden-dims", help="Encoder layer sizes, comma-separated, e.g. 500,500,2000."
    ),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Training batch size."),
    max_grad_norm: Optional[float] = typer.Option(
        None, "--max-grad-norm", help="Clip gradients to this L2 norm (a guard against NaN losses)."
    ),
    checkpoint_dir: Optional[Path] = typer.Option(
        None, "--checkpoint-dir",
        help="Save the training state (pretraining, clustering, GAN game) here every epoch, to --resume after a crash."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint in --checkpoint-dir."),
    deterministic: bool = typer.Option(
        False, "--deterministic", help="PyTorch's deterministic algorithms (same results run to run on a GPU)."
    ),
    augment: Optional[bool] = typer.Option(
        None, "--augment/--no-augment",
        help="Shift and rotate image batches at random while training (images only). Default: the "
        "method's own (on for images with DEC and IDEC).",
    ),
    autoencoder: Optional[Path] = typer.Option(
        None, "--autoencoder",
        help="Reuse the autoencoder of a saved model (e.g. an earlier run's model/) instead of pretraining.",
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or notes on stderr."),
) -> None:
    """Cluster DATA; write labels.csv, model/, metrics.json (with labels) and plots to --out."""
    with _user_errors():
        # everything cheap is checked before the data is read or a network is built
        key, cls = _resolve_method(method)
        k = _parse_n_clusters(n_clusters, key)
        if labels is not None and label_column is not None:
            raise DeepclustError("give either --labels or --label-column, not both")
        if data is None and labels is not None:
            raise DeepclustError("--labels needs a DATA file (the bundled sample has its own labels)")
        dims = _parse_hidden_dims(hidden_dims)
        size = _parse_image_size(image_size)
        if image_mode not in ("L", "RGB"):
            raise DeepclustError(f"--image-mode must be L or RGB, got {image_mode!r}")
        if architecture is not None and architecture not in ("mlp", "conv"):
            raise DeepclustError(f"--architecture must be mlp or conv, got {architecture!r}")
        _check_device(device)
        _check_out_dir(out)
        _check_checkpoint_dir(checkpoint_dir, resume, quiet)
        options = dict(
            epochs=epochs, pretrain_epochs=pretrain_epochs, latent_dim=latent_dim,
            hidden_dims=dims, batch_size=batch_size, random_state=seed, device=device,
            verbose=0 if quiet else 1, augment=augment, architecture=architecture,
            max_grad_norm=max_grad_norm, deterministic=deterministic or None, checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
            autoencoder=_load_autoencoder(autoencoder, device),
        )
        estimator = _build_estimator(cls, key, k, options, quiet)
        dataset = _load_dataset(
            data, labels, label_column, quiet, modality=modality, text_column=text_column,
            ignore_columns=_parse_list(ignore_columns), text_backend=text_backend,
            image_size=size, image_mode=image_mode,
        )
        _adapt_to_data(estimator, dataset, quiet=quiet)
        summary = _run_fit(dataset, estimator, key, out, quiet)
    _print_summary(summary, f"deepclust fit: {key}")


@app.command()
def predict(
    model: Path = typer.Argument(..., metavar="MODEL", help="A model folder (or .zip) written by 'deepclust fit'."),
    data: str = typer.Argument(..., metavar="DATA", help="Data with the same features as the training data."),
    out: Path = typer.Option(Path("predictions.csv"), "--out", "-o", help="Labels CSV to write."),
    label_column: Optional[str] = typer.Option(
        None, "--label-column", help="Column of DATA holding labels, dropped before predicting."
    ),
    text_column: Optional[str] = typer.Option(
        None, "--text-column", help="Column holding the documents (default: the one used in fit)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Assign the samples of DATA to the clusters of MODEL; write an index,cluster CSV.

    DATA goes through the preprocessing saved with MODEL (table columns, text embedding, audio
    features, image size), exactly as in fit."""
    with _user_errors():
        _check_out_file(out)
        _check_device(device)
        from . import load
        from .data.featurize import apply_featurizer
        from .data.readers import read_data

        estimator = load(model, device=device)
        featurizer = getattr(estimator, "preprocessing_", None)
        if featurizer is None and str(data).lower().endswith(".npy") and label_column is None:
            count = _predict_streaming(estimator, data, out)
            typer.echo(f"wrote {count:,} cluster labels to {out}")
            return
        if featurizer is None:
            if text_column is not None:
                raise DeepclustError(f"--text-column: {model} was not fitted on text")
            loaded = read_data(data, label_column=label_column)
        else:
            loaded = apply_featurizer(featurizer, data, label_column=label_column, text_column=text_column)
        with _estimator_errors(str(data)):
            predicted = estimator.predict(loaded.X)
            confidence = _confidence(estimator, loaded.X)
        _make_parent(out)
        _write({out: _labels_csv(predicted, loaded.names, getattr(loaded, "ids", None), confidence)})
        line = f"wrote {len(predicted):,} cluster labels to {out}"
        if loaded.y is not None:
            from .metrics import evaluate

            m = evaluate(loaded.y, predicted)
            line += f" (ACC {m['acc']:.4f}, NMI {m['nmi']:.4f}, ARI {m['ari']:.4f})"
    typer.echo(line)


@app.command()
def sample(
    model: Path = typer.Argument(..., metavar="MODEL", help="A GAN, ClusterGAN or VaDE model folder (or .zip)."),
    n: int = typer.Option(100, "--n", "-n", min=1, help="Number of samples to generate."),
    cluster: Optional[int] = typer.Option(None, "--cluster", "-c", min=0, help="Generate only this cluster."),
    out: Path = typer.Option(Path("samples.npy"), "--out", "-o", help="Output file: .npy, .npz or .csv."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Generate new samples from MODEL; for images also write a PNG grid beside --out."""
    with _user_errors():
        if out.suffix.lower() not in SAMPLE_SUFFIXES:
            raise DeepclustError(f"--out {out}: use a .npy, .npz or .csv file name")
        _check_out_file(out)
        _check_device(device)
        from . import load

        estimator = load(model, device=device)
        if cluster is not None and hasattr(estimator, "n_clusters") and cluster >= estimator.n_clusters:
            raise DeepclustError(
                f"--cluster {cluster}: {model} has clusters 0 to {estimator.n_clusters - 1}"
            )
        X, clusters = _draw_samples(estimator, n, cluster, seed)
        names = getattr(estimator, "feature_names_in_", None)
        data = _samples_file(X, clusters, out.suffix.lower(), names)
        png = None
        if estimator._fitted_on_images():
            from .plotting import samples_grid

            png = samples_grid(estimator, X, clusters, title=f"{type(estimator).__name__}: generated samples")
        files = {out: data}
        line = f"wrote {len(X):,} generated samples to {out}"
        if png is not None:
            files[out.with_suffix(".png")] = png
            line += f" and a grid of them to {out.with_suffix('.png')}"
        _make_parent(out)
        _write(files)
    typer.echo(line)


def _refuse_continuous(labels: np.ndarray, source: str, column: str | None) -> None:
    """True labels that look like a measured feature (fractional numbers, or almost every value
    different) are refused: scoring clusters against them gives meaningless numbers."""
    n, distinct = len(labels), len(np.unique(labels))
    fractional = labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels))
    if fractional or (n >= 20 and distinct > n // 2):
        which = f"column {column!r}" if column is not None else "the labels column"
        raise DeepclustError(
            f"{source}: {which} looks like a continuous feature ({distinct} distinct values in {n} rows"
            f"{', fractional numbers' if fractional else ''}), not class labels; name the label "
            "column with --label-column")


@app.command("evaluate")
def evaluate_cmd(
    true: str = typer.Argument(..., metavar="TRUE", help="File of true labels."),
    pred: str = typer.Argument(
        ..., metavar="PRED", help="File of predicted clusters (a labels.csv from 'fit' works)."
    ),
    label_column: Optional[str] = typer.Option(
        None, "--label-column", help="Column of TRUE holding the labels (default: one named label, "
        "labels, y or cluster, else the last)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Compare predicted clusters with true labels: ACC (Hungarian), NMI, ARI, purity."""
    with _user_errors():
        from .data.readers import read_labels
        from .metrics import evaluate

        y_true = read_labels(true, column=label_column)
        _refuse_continuous(y_true, true, label_column)
        metrics = evaluate(y_true, read_labels(pred))
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    from rich.table import Table

    typer.echo(f"{pred} against {true}")
    table = Table()
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for key in ("acc", "nmi", "ari", "purity"):
        table.add_row(key.upper() if key != "purity" else key, f"{metrics[key]:.4f}")
    for key in ("n_samples", "n_clusters", "n_classes"):
        table.add_row(key, f"{metrics[key]:,}")
    _console().print(table)


@app.command()
def methods() -> None:
    """List the clustering methods with a one-line description each."""
    from .methods import REGISTRY

    width = max(len(name) for name in REGISTRY)
    for name, cls in REGISTRY.items():
        doc = (cls.__doc__ or "").replace("``", "").strip().splitlines()
        marker = " (default)" if name == DEFAULT_METHOD else ""
        typer.echo(f"{name:<{width}}  {doc[0] if doc else cls.__name__}{marker}")


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Output folder."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or notes on stderr."),
) -> None:
    """Cluster the bundled MNIST sample (10,000 digits) with the default method and settings."""
    with _user_errors():
        key, cls = _resolve_method(DEFAULT_METHOD)
        _check_device(device)
        _check_out_dir(out)
        estimator = cls(n_clusters=10, random_state=0, device=device, verbose=0 if quiet else 1)
        dataset = _bundled_sample()
        _note(
            f"fitting {key} with its default settings on the {dataset.source} "
            f"({dataset.X.shape[0]:,} images); about 2 minutes on a 2-core CPU, less on a GPU",
            quiet,
        )
        summary = _run_fit(dataset, estimator, key, out, quiet)
    _print_summary(summary, f"deepclust demo: {key} on MNIST")


# --------------------------------------------------------------------------------------------------
# entry point


def _usage_error_types() -> tuple[type[BaseException], ...]:
    """Click's ClickException/Abort, wherever this Typer version keeps Click."""
    click_exc = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    return (click_exc,)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, printing usage errors as one ``error:`` line too."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        args = ["--help"]
    try:
        code = app(args=args, prog_name="deepclust", standalone_mode=False)
    except _usage_error_types() as exc:
        hint = ""
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            hint = f" (see '{ctx.command_path} --help')"
        typer.echo(f"error: {_one_line(exc.format_message())}{hint}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
