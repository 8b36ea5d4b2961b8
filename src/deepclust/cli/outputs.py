"""What ``fit``, ``predict`` and ``sample`` write: labels.csv, metrics/selection/cluster JSON, the
model folder and plots, all together through one :class:`~deepclust.files.OutputSet` (each file
to a temporary name first, then all renamed into place), so that a failed or killed command
leaves the outputs of an earlier run as they were."""
from __future__ import annotations

import csv
import errno
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import plotting
from ..data.text import cluster_terms, representatives
from ..exceptions import DeepclustError
from ..files import OutputSet
from ..model_file import model_files
from ..report import render_report
from .errors import estimator_errors, note, one_line, os_errors

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
REPORT_HTML = "report.html"
#: how the run read its data, for ``deepclust report`` to read it again
RUN_JSON = "run.json"
#: the outputs a run writes only sometimes: one left by an earlier run and not rewritten is removed
OPTIONAL_OUTPUTS = (METRICS_FILE, SELECTION_JSON, CLUSTERS_PNG, EMBEDDING_PNG, HISTORY_PNG, SAMPLES_PNG,
                    CLUSTERS_JSON, REPORT_HTML)
#: per cluster: characteristic words (text), typical members shown on the terminal
TERMS_PER_CLUSTER = 8
EXAMPLES_PER_CLUSTER = 3
#: generated samples shown per cluster in samples.png
SAMPLES_PER_CLUSTER = 10
#: the embedding map encodes at most this many samples (a seeded subset)
EMBED_POINTS = 10_000


def write_outputs(files: dict[Path, bytes], model: tuple[Any, Path] | None = None) -> None:
    """Write ``files`` (and a ``(estimator, folder)`` model) all together or not at all. OS
    failures become one-line user errors."""
    with os_errors(f"write the outputs in {next(iter(files)).parent}"), OutputSet() as outputs:
        if model is not None:
            outputs.write_folder(model[1], model_files(*model))
        for path, data in files.items():
            outputs.write(path, data)
        outputs.commit()


def make_parent(out: Path) -> None:
    with os_errors(f"create the folder of --out {out}"):
        out.parent.mkdir(parents=True, exist_ok=True)


def check_out_dir(out: Path) -> None:
    """Refuse an output folder that cannot hold our files, before any training."""
    if out.exists() and not out.is_dir():
        raise DeepclustError(f"--out {out}: exists and is not a folder")
    model = out / MODEL_DIR
    if model.exists() and not (
        model.is_dir() and (not any(model.iterdir()) or (model / "config.json").exists())
    ):
        raise DeepclustError(f"{model} exists and is not a deepclust model folder; not overwriting it")
    for name in (*OPTIONAL_OUTPUTS, LABELS_FILE, RUN_JSON):
        if (out / name).is_dir():
            raise DeepclustError(f"{out / name} is a folder; cannot write {name} there")
    # the deepest folder of out that exists already must take new files (it gets out's folders)
    existing = next(folder for folder in (out, *out.absolute().parents) if folder.exists())
    with os_errors(f"write in --out {out}"):
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        tempfile.TemporaryFile(dir=existing).close()


def check_out_file(out: Path) -> None:
    if out.is_dir():
        raise DeepclustError(f"--out {out}: is a folder; give a file name such as predictions.csv")


def remove_stale(out: Path, written: dict[str, bytes]) -> None:
    """Outputs of an earlier run into ``out`` that this run did not replace would be stale."""
    for name in OPTIONAL_OUTPUTS:
        if name not in written and (out / name).is_file():
            (out / name).unlink()


def json_bytes(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, indent=2) + "\n").encode()


def labels_csv(labels: np.ndarray, index: list[str] | None = None, ids: tuple[str, list[str]] | None = None,
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


def confidence(estimator, X) -> np.ndarray | None:
    """The probability of each sample's assigned cluster, for methods with soft assignments."""
    if not hasattr(estimator, "predict_proba"):
        return None
    return estimator.predict_proba(X).max(axis=1)


def samples_file(X: np.ndarray, clusters: np.ndarray | None, suffix: str, feature_names) -> bytes:
    """Generated samples as ``.npy`` (the array), ``.npz`` (``X`` and ``cluster``) or ``.csv``
    (one flattened sample per row, then a ``cluster`` column when there are clusters)."""
    buffer = io.BytesIO()
    if suffix == ".npy":
        np.save(buffer, X, allow_pickle=False)
    elif suffix == ".npz":
        arrays = {"X": X} if clusters is None else {"X": X, "cluster": clusters}
        np.savez(buffer, **arrays)
    else:
        flat = X.reshape(len(X), -1)
        names = [str(f) for f in feature_names] if feature_names is not None else None
        table = pd.DataFrame(flat, columns=names or [f"x{i}" for i in range(flat.shape[1])])
        if clusters is not None:
            table["cluster"] = clusters
        buffer.write(table.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return buffer.getvalue()


def selection(estimator) -> dict[str, Any] | None:
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


def cluster_overview(estimator, dataset) -> dict[str, Any] | None:
    """Per cluster: its size and members (files, lines or rows) and, for text, its characteristic
    words and the documents nearest its centre in the learned embedding. None for data without
    names (tables, arrays)."""
    if dataset.names is None:
        return None
    labels = np.asarray(estimator.labels_)
    clusters = {int(c): {"size": int((labels == c).sum())} for c in np.unique(labels)}
    if dataset.texts is not None:
        terms = cluster_terms(dataset.texts, labels, TERMS_PER_CLUSTER)
        with estimator_errors(dataset.source):
            typical = representatives(estimator.transform(dataset.X), labels, EXAMPLES_PER_CLUSTER)
        for c, entry in clusters.items():
            entry["terms"] = terms[c]
            entry["examples"] = [dataset.texts[i] for i in typical[c]]
    names = np.asarray(dataset.names, dtype=object)
    for c, entry in clusters.items():
        entry["members"] = names[labels == c].tolist()
    return {"modality": dataset.modality, "source": dataset.source,
            "clusters": {str(c): entry for c, entry in clusters.items()}}


def report_page(model, dataset, about: dict[str, str], confidence: np.ndarray | None) -> bytes | None:
    """``report.html`` of a fitted model on its training data, or None (with a note) when the
    data cannot be shown; ``confidence`` as :func:`confidence` gives it (None: computed here).

    The page comes after the training: whatever fails in it, even a bug, is a note, so that
    the labels and the model of a long fit are still written."""
    files = None
    if dataset.modality == "audio":
        files = [str(Path(dataset.source) / name) for name in dataset.names]
    table = dataset.frame
    if table is not None:  # the columns the model saw: not an ID or constant column left out
        table = table.drop(columns=[c for c in getattr(dataset.featurizer, "dropped_", {}) if c in table.columns])
    try:
        with estimator_errors(dataset.source):
            return render_report(model, dataset.X, labels=model.labels_, confidence=confidence, y=dataset.y,
                                 texts=dataset.texts, names=dataset.names, files=files,
                                 table=table, about=about)
    except DeepclustError as exc:
        note(f"note: {REPORT_HTML} skipped: {one_line(str(exc))}")
    except Exception as exc:  # a bug here must not cost the fit its outputs
        note(f"note: {REPORT_HTML} skipped after an unexpected {type(exc).__name__}: {one_line(str(exc))} "
             "(a bug in deepclust; please report it)")
    return None


def render_plots(model, dataset, method: str) -> dict[str, bytes]:
    """The PNGs of a fitted model, by file name.

    Plots are a bonus on top of labels and model: a plot that cannot be drawn (matplotlib not
    installed, data that is not drawable) is skipped with a note instead of failing the run.
    """
    try:
        plotting._figure(1, 1)  # fails early, with the install hint, without matplotlib
    except DeepclustError as exc:
        note(f"note: plots skipped: {exc}")
        return {}
    n = dataset.X.shape[0]
    idx = plotting.subsample(n, EMBED_POINTS)  # encode only the points the map shows

    def embedding() -> bytes:
        with estimator_errors(dataset.source):
            shown = dataset.X[idx] if len(idx) < n else dataset.X
            Z, space = model.clustering_space(shown)
        truth = None if dataset.y is None else np.asarray(dataset.y)[idx]
        return plotting.embedding_plot(Z, model.labels_[idx], title=f"{method}: {space}", truth=truth)

    renderers = {
        EMBEDDING_PNG: embedding,
        HISTORY_PNG: lambda: plotting.history_plot(model.history_, title=f"{method}: training history"),
    }
    if dataset.images:
        k = getattr(model, "n_clusters_", model.n_clusters)
        empty = sorted(set(range(k)) - set(np.unique(model.labels_).tolist()))
        note_empty = f" (empty: cluster{'s' if len(empty) > 1 else ''} {', '.join(map(str, empty))})" if empty else ""
        renderers[CLUSTERS_PNG] = lambda: plotting.cluster_gallery(
            dataset.X, model.labels_, title=f"{method}: samples of each cluster{note_empty}"
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
            note(f"note: {name} skipped: {one_line(str(exc))}")
    return rendered
