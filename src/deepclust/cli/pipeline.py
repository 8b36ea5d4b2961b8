"""The fit pipeline shared by ``fit`` and ``demo``: read and featurize the data, build the
estimator from the options, fit it, and write every output together.

Modelling policy (how the model adapts to the data) is the library's; the only setting made
here from the data is not to scale features a second time that the preprocessing scaled already.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.featurize import featurize
from ..data.readers import LABEL_COLUMN_NAMES, TEXT_LABEL_SUFFIXES, read_labels
from ..datasets import load_mnist_sample
from ..exceptions import DeepclustError
from ..io import load
from ..methods import Autoencoder
from ..metrics import evaluate
from ..params import validate_params
from ..training import flushing_denormals, resolve_device
from ..training.distributed import is_writer
from . import outputs
from .errors import estimator_errors, note, os_errors
from .parsing import check_param_names

#: the method ``fit`` and ``demo`` use when ``--method`` is not given
DEFAULT_METHOD = "auto"
#: estimator parameters that ``fit`` sets with options of their own (so not with ``-p``)
PARAMETER_OPTIONS = {
    "n_clusters": "--n-clusters", "epochs": "--epochs", "pretrain_epochs": "--pretrain-epochs",
    "latent_dim": "--latent-dim", "hidden_dims": "--hidden-dims", "batch_size": "--batch-size",
    "max_grad_norm": "--max-grad-norm", "checkpoint_dir": "--checkpoint-dir", "deterministic": "--deterministic",
    "augment": "--augment/--no-augment", "autoencoder": "--autoencoder", "architecture": "--architecture",
    "random_state": "--seed", "device": "--device", "verbose": "--quiet/--verbose", "preset": "--preset",
    "precision": "--precision",
}


@dataclass
class Dataset:
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
    frame: Any = None
    #: how the data was read (absolute paths, featurize options): what ``deepclust report`` reads again
    recipe: dict[str, Any] = field(default_factory=dict)


def bundled_sample() -> Dataset:
    X, y = load_mnist_sample()
    return Dataset(X=X, y=y, images=True, names=None, source="bundled MNIST sample")


def load_dataset(data: str | None, labels: str | None, label_column: str | None, verbosity: int,
                 **options: Any) -> Dataset:
    """The bundled sample, or DATA read and featurized (``options`` go to ``featurize``)."""
    quiet = verbosity == 0
    recipe = {"data": None if data is None else str(Path(data).resolve()),
              "labels": None if labels is None else str(Path(labels).resolve()),
              "label_column": label_column, "options": options}
    if data is None:
        if label_column is not None:
            raise DeepclustError("--label-column needs a DATA file")
        dataset = bundled_sample()
    else:
        loaded = featurize(data, label_column=label_column, progress=verbosity, **options)
        dataset = Dataset(
            X=loaded.X, y=loaded.y, images=loaded.modality == "images", names=loaded.names,
            source=str(data), modality=loaded.modality, featurizer=loaded.featurizer,
            report=loaded.report, texts=loaded.texts, ids=loaded.ids, frame=loaded.frame,
        )
        if loaded.modality == "table" and loaded.y is None and labels is None:
            columns = loaded.featurizer.columns_in_
            lookalikes = [c for c in columns if c.lower() in LABEL_COLUMN_NAMES]
            if lookalikes:
                note(f"note: column {lookalikes[0]!r} is clustered as a feature; pass "
                     f"--label-column {lookalikes[0]} if it holds the true labels", quiet)
    if labels is not None:
        y = read_labels(labels)
        if y.shape[0] != dataset.X.shape[0]:
            one_more = y.shape[0] == dataset.X.shape[0] + 1 and Path(labels).suffix.lower() in TEXT_LABEL_SUFFIXES
            header = f"; if its first line ({str(y[0])!r}) is a header, name the column 'label'" if one_more else ""
            raise DeepclustError(
                f"{labels} holds {y.shape[0]} labels but {dataset.source} has {dataset.X.shape[0]} samples{header}"
            )
        dataset.y = y
    dataset.recipe = recipe
    return dataset


def check_device(device: str) -> None:
    resolve_device(device)


def check_checkpoint_dir(folder: Path | None, resume: bool, quiet: bool) -> None:
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
        note(f"note: no checkpoint in {folder} yet; starting from the beginning", quiet)


def load_autoencoder(path: Path | None, device: str):
    """The autoencoder saved at ``path``: an ``Autoencoder`` model, or the one inside a clusterer."""
    if path is None:
        return None
    model = load(path, device=device)
    autoencoder = model if isinstance(model, Autoencoder) else getattr(model, "autoencoder_", None)
    if autoencoder is None:
        raise DeepclustError(f"--autoencoder {path}: a {type(model).__name__} model holds no autoencoder")
    return autoencoder


def build_estimator(cls, method: str, n_clusters: int | str, options: dict[str, Any], params: dict[str, Any],
                    quiet: bool):
    """``cls(n_clusters, **options, **params)``: of ``options`` (the values of ``fit``'s own
    options) those ``cls`` lacks are dropped with a note; ``params`` (``-p``) must all be
    parameters of ``cls`` without an option of their own. Every value is checked against the
    estimator's declared constraints here, before the data is read (``fit`` checks them again)."""
    accepted = cls().get_params()
    check_param_names(params, list(accepted), method, PARAMETER_OPTIONS)
    kwargs = {}
    for key, value in options.items():
        if value is None:
            continue
        if key in accepted:
            kwargs[key] = value
        else:
            flag = PARAMETER_OPTIONS.get(key, "--" + key.replace("_", "-"))
            note(f"note: method {method!r} has no {key!r} parameter; {flag} is ignored", quiet)
    estimator = cls(n_clusters=n_clusters, **kwargs, **params)
    validate_params(estimator)
    return estimator


def adapt_to_data(estimator, dataset: Dataset, quiet: bool, given: set[str] = frozenset()) -> None:
    """No second scaling of features that the preprocessing already scaled (standardised table
    columns, unit-length text embeddings), unless ``-p input_scaling=...`` (in ``given``) says
    otherwise. Every other setting that follows from the data is the library's
    (``pretrain_epochs="auto"``, ``method="auto"``), so that ``deepclust fit`` and the Python API
    build the same model from the same data and seed."""
    params = estimator.get_params()
    changes = {}
    scaling = getattr(dataset.featurizer, "input_scaling", None)
    if scaling is not None and "input_scaling" in params and "input_scaling" not in given:
        changes["input_scaling"] = scaling
    if changes:
        estimator.set_params(**changes)
        note("settings for this data: " + ", ".join(f"{k}={v}" for k, v in changes.items()), quiet)


def run_fit(dataset: Dataset, estimator, method: str, out: Path, report: bool = True) -> dict[str, Any]:
    """Fit, then write labels, model, metrics, cluster overview, plots and (with ``report``)
    ``report.html`` into ``out``; returns the summary. Nothing is written unless the fit
    succeeds, and then all outputs together."""
    n_clusters = estimator.n_clusters
    if not isinstance(n_clusters, str) and dataset.X.shape[0] < n_clusters:
        # "modality: images (a folder of 1 image files (ignored: 2 text files))" -> "images: a folder of..."
        read = next((line.removeprefix("modality: ").replace(" (", ": ", 1).removesuffix(")")
                     for line in dataset.report if line.startswith("modality: ")), None)
        hint = f" (read as {read}; --modality reads it as another kind)" if read else ""
        raise DeepclustError(
            f"{dataset.source} has {dataset.X.shape[0]} samples, fewer than --n-clusters {n_clusters}: a "
            f"clustering needs at least one sample per cluster{hint}"
        )
    start = time.perf_counter()
    with estimator_errors(dataset.source), flushing_denormals():
        estimator.fit(dataset.X)
    seconds = time.perf_counter() - start
    if not is_writer():  # under torchrun process 0 writes the outputs
        return {}
    about = {"data": dataset.source, "modality": dataset.modality, "preprocessing": "; ".join(dataset.report),
             "method": method, "fit time": f"{seconds:.1f} s"}

    metrics = None
    if dataset.y is not None:
        metrics = {**evaluate(dataset.y, estimator.labels_), "seconds": seconds, "method": method}
    if dataset.featurizer is not None:  # saved with the model, so that predict reads data alike
        estimator.preprocessing_ = dataset.featurizer
    overview = outputs.cluster_overview(estimator, dataset)
    with estimator_errors(dataset.source):
        confidence = outputs.confidence(estimator, dataset.X)
    files = {outputs.LABELS_FILE: outputs.labels_csv(estimator.labels_, dataset.names, dataset.ids, confidence)}
    selection = outputs.selection(estimator)
    if selection is not None:
        files[outputs.SELECTION_JSON] = outputs.json_bytes(selection)
    if metrics is not None:
        files[outputs.METRICS_FILE] = outputs.json_bytes(metrics)
    if overview is not None:
        files[outputs.CLUSTERS_JSON] = outputs.json_bytes(overview)
    files.update(outputs.render_plots(estimator, dataset, method))
    page = outputs.report_page(estimator, dataset, about, confidence) if report else None
    if page is not None:
        files[outputs.REPORT_HTML] = page
    files[outputs.RUN_JSON] = outputs.json_bytes({**dataset.recipe, "about": about})
    with os_errors(f"create --out {out}"):
        out.mkdir(parents=True, exist_ok=True)
    outputs.write_outputs({out / name: data for name, data in files.items()},
                          model=(estimator, out / outputs.MODEL_DIR))
    outputs.remove_stale(out, files)
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
        "written": [outputs.LABELS_FILE, outputs.MODEL_DIR + "/",
                    *[name for name in files if name != outputs.LABELS_FILE]],
        "report": dataset.report,
        "overview": overview,
    }
