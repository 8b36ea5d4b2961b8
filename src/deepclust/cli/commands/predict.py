"""``deepclust predict`` and ``deepclust sample``: use a saved model on new data, or draw from it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from ...data.featurize import apply_featurizer
from ...data.readers import iter_npy_rows, read_data
from ...exceptions import DeepclustError
from ...files import atomic_writer
from ...io import load
from ...metrics import evaluate
from ...plotting import samples_grid
from .. import outputs
from ..errors import estimator_errors, os_errors, user_errors
from ..pipeline import check_device

#: file types ``deepclust sample`` writes
SAMPLE_SUFFIXES = (".npy", ".npz", ".csv")
#: rows per block when ``predict`` streams an .npy file
STREAM_ROWS = 16_384


def predict(
    model: Path = typer.Argument(..., metavar="MODEL", help="A model folder (or .zip) written by 'deepclust fit'."),
    data: str = typer.Argument(..., metavar="DATA", help="Data with the same features as the training data."),
    out: Path = typer.Option(Path("predictions.csv"), "--out", "-o", help="Labels CSV to write."),
    label_column: str | None = typer.Option(
        None, "--label-column", help="Column of DATA holding labels, dropped before predicting."
    ),
    text_column: str | None = typer.Option(
        None, "--text-column", help="Column holding the documents (default: the one used in fit)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Assign the samples of DATA to the clusters of MODEL; write an index,cluster CSV.

    DATA goes through the preprocessing saved with MODEL (table columns, text embedding, audio
    features, image size), exactly as in fit."""
    with user_errors():
        outputs.check_out_file(out)
        check_device(device)
        estimator = load(model, device=device)
        featurizer = getattr(estimator, "preprocessing_", None)
        if featurizer is None and str(data).lower().endswith(".npy") and label_column is None:
            count = predict_streaming(estimator, data, out)
            typer.echo(f"wrote {count:,} cluster labels to {out}")
            return
        if featurizer is None:
            if text_column is not None:
                raise DeepclustError(f"--text-column: {model} was not fitted on text")
            loaded = read_data(data, label_column=label_column)
        else:
            loaded = apply_featurizer(featurizer, data, label_column=label_column, text_column=text_column)
        with estimator_errors(str(data)):
            predicted = estimator.predict(loaded.X)
            confidence = outputs.confidence(estimator, loaded.X)
        outputs.make_parent(out)
        outputs.write_outputs({out: outputs.labels_csv(predicted, loaded.names, getattr(loaded, "ids", None),
                                                       confidence)})
        line = f"wrote {len(predicted):,} cluster labels to {out}"
        if loaded.y is not None:
            m = evaluate(loaded.y, predicted)
            line += f" (ACC {m['acc']:.4f}, NMI {m['nmi']:.4f}, ARI {m['ari']:.4f})"
    typer.echo(line)


def predict_streaming(estimator, data: str, out: Path) -> int:
    """Predict an ``.npy`` file block by block, appending each block's labels to ``out`` (which
    appears only once complete): memory is bounded by the block, not the file. Returns the count."""
    outputs.make_parent(out)
    count = 0
    with os_errors(f"write {out}"), atomic_writer(out) as handle:
        handle.write(b"index,cluster\n")
        for block in iter_npy_rows(data, STREAM_ROWS):
            with estimator_errors(str(data)):
                labels = estimator.predict(block)
            rows = np.column_stack([np.arange(count, count + len(labels)), labels])
            np.savetxt(handle, rows, fmt="%d", delimiter=",")
            count += len(labels)
    return count


def sample(
    model: Path = typer.Argument(..., metavar="MODEL", help="A GAN, ClusterGAN or VaDE model folder (or .zip)."),
    n: int = typer.Option(100, "--n", "-n", min=1, help="Number of samples to generate."),
    cluster: int | None = typer.Option(None, "--cluster", "-c", min=0, help="Generate only this cluster."),
    out: Path = typer.Option(Path("samples.npy"), "--out", "-o", help="Output file: .npy, .npz or .csv."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Generate new samples from MODEL; for images also write a PNG grid beside --out."""
    with user_errors():
        if out.suffix.lower() not in SAMPLE_SUFFIXES:
            raise DeepclustError(f"--out {out}: use a .npy, .npz or .csv file name")
        outputs.check_out_file(out)
        check_device(device)
        estimator = load(model, device=device)
        if cluster is not None and hasattr(estimator, "n_clusters") and cluster >= estimator.n_clusters:
            raise DeepclustError(f"--cluster {cluster}: {model} has clusters 0 to {estimator.n_clusters - 1}")
        X, clusters = draw_samples(estimator, n, cluster, seed)
        names = getattr(estimator, "feature_names_in_", None)
        files = {out: outputs.samples_file(X, clusters, out.suffix.lower(), names)}
        line = f"wrote {len(X):,} generated samples to {out}"
        if estimator._fitted_on_images():
            title = f"{type(estimator).__name__}: generated samples"
            files[out.with_suffix(".png")] = samples_grid(estimator, X, clusters, title=title)
            line += f" and a grid of them to {out.with_suffix('.png')}"
        outputs.make_parent(out)
        outputs.write_outputs(files)
    typer.echo(line)


def draw_samples(model, n: int, cluster: int | None, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``n`` generated samples of ``model`` and their clusters (None for a model without clusters)."""
    if not hasattr(model, "sample"):
        raise DeepclustError(f"a {type(model).__name__} model cannot generate samples; GAN, ClusterGAN and VaDE can")
    if not hasattr(model, "n_clusters"):
        if cluster is not None:
            raise DeepclustError(f"--cluster: a {type(model).__name__} model has no clusters")
        return model.sample(n, random_state=seed), None
    return model.sample(n, cluster=cluster, random_state=seed, return_labels=True)
