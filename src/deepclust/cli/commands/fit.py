"""``deepclust fit`` and ``deepclust demo``."""
from __future__ import annotations

from pathlib import Path

import typer

from ...data.audio import AudioFeatures
from ...exceptions import DeepclustError
from ...training.distributed import is_writer
from .. import pipeline
from ..errors import note, user_errors
from ..outputs import check_out_dir
from ..parsing import (
    parse_hidden_dims,
    parse_image_size,
    parse_list,
    parse_n_clusters,
    parse_params,
    parse_verbosity,
    resolve_method,
)
from ..summary import print_summary

QUIET_HELP = "No progress or notes on stderr, only warnings and errors."
VERBOSE_HELP = ("Also let the libraries (UMAP, numba, sentence-transformers, librosa) print their own progress "
                "and messages.")


def fit(
    data: str | None = typer.Argument(
        None, metavar="DATA",
        help="A table (CSV/TSV, Parquet), .npy/.npz, a text file (one document per line) or a folder "
        "of images, audio or text files; default: the bundled MNIST sample.",
    ),
    method: str = typer.Option(pipeline.DEFAULT_METHOD, "--method", "-m",
                               help="Clustering method (see 'deepclust methods')."),
    n_clusters: str = typer.Option(
        "10", "--n-clusters", "-k",
        help="Number of clusters (>= 2), or 'auto' to choose it without labels (with --method auto).",
    ),
    labels: str | None = typer.Option(None, "--labels", help="File of true labels, to report metrics."),
    label_column: str | None = typer.Option(
        None, "--label-column", help="Column of DATA holding true labels (removed from the features)."
    ),
    ignore_columns: str | None = typer.Option(
        None, "--ignore-columns", help="Table columns to leave out, comma-separated."
    ),
    modality: str = typer.Option(
        "auto", "--modality", help="What DATA is: auto, table, array, text, audio or images."
    ),
    text_column: str | None = typer.Option(
        None, "--text-column", help="Column of a table holding the documents to cluster."
    ),
    text_backend: str = typer.Option(
        "auto", "--text-backend",
        help="Text embedding: auto (sentence-transformers if installed, else tfidf), "
        "sentence-transformers or tfidf.",
    ),
    image_size: str | None = typer.Option(
        None, "--image-size", help="Resize images to WIDTHxHEIGHT (or N for NxN); default: the most common size."
    ),
    image_mode: str = typer.Option("L", "--image-mode", help="Images as L (grayscale) or RGB."),
    audio_pooling: str = typer.Option(
        "summary", "--audio-pooling",
        help="Audio: summary (each band's mean and spread over time: sound types, timbre) or segments "
        f"(the spectrum in {AudioFeatures.n_segments} slices of the loud part, less the file's mean: spoken words, "
        "commands).",
    ),
    architecture: str | None = typer.Option(
        None, "--architecture",
        help="Autoencoder: mlp (default), conv (images only) or none (no network: ae-kmeans is k-means and ae-gmm "
        "a Gaussian mixture of the scaled features, n2d is UMAP + mixture).",
    ),
    out: Path = typer.Option(Path("deepclust-out"), "--out", "-o", help="Output folder."),
    preset: str | None = typer.Option(
        None, "--preset",
        help="fast, default or accurate: a set of settings for that intent (options you give win); see "
        "help(deepclust.N2D) for what each sets.",
    ),
    precision: str | None = typer.Option(
        None, "--precision",
        help="Training arithmetic: 32 (float32), bf16, or auto (bf16 where the hardware has it); default: "
        "float32 unless --preset sets it.",
    ),
    epochs: int | None = typer.Option(
        None, "--epochs", min=0,
        help="Clustering epochs (methods that have them; N2D: self-labelling epochs on images).",
    ),
    pretrain_epochs: int | None = typer.Option(
        None, "--pretrain-epochs", min=0, help="Autoencoder pretraining epochs."
    ),
    latent_dim: int | None = typer.Option(None, "--latent-dim", min=1, help="Size of the embedding."),
    hidden_dims: str | None = typer.Option(
        None, "--hidden-dims", help="Encoder layer sizes, comma-separated, e.g. 500,500,2000."
    ),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Training batch size."),
    max_grad_norm: float | None = typer.Option(
        None, "--max-grad-norm", help="Clip gradients to this L2 norm (a guard against NaN losses)."
    ),
    checkpoint_dir: Path | None = typer.Option(
        None, "--checkpoint-dir",
        help="Save the training state (pretraining, clustering, GAN game) here every epoch, to --resume after a crash."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint in --checkpoint-dir."),
    deterministic: bool = typer.Option(
        False, "--deterministic", help="PyTorch's deterministic algorithms (same results run to run on a GPU)."
    ),
    augment: bool | None = typer.Option(
        None, "--augment/--no-augment",
        help="Shift and rotate image batches at random while training (images only). Default: the "
        "method's own (on for images with DEC and IDEC).",
    ),
    autoencoder: Path | None = typer.Option(
        None, "--autoencoder",
        help="Reuse the autoencoder of a saved model (e.g. an earlier run's model/) instead of pretraining.",
    ),
    param: list[str] | None = typer.Option(
        None, "--param", "-p", metavar="NAME=VALUE",
        help="Set a parameter of the method that has no option of its own, e.g. -p tol=0.01 -p "
        "covariance_type=diag (repeatable). VALUE: a number, true/false, none, a list such as "
        "256,64 or [256,64], or a string. See help(deepclust.<Method>) for each method's parameters.",
    ),
    report: bool = typer.Option(
        True, "--report/--no-report", help="Write report.html, a page to explore the clusters in a browser."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    nproc: int | None = typer.Option(  # taken out and acted on by main() before this runs
        None, "--nproc", min=1,
        help="Train in this many processes on this machine (one per GPU, or CPU processes), through "
        "torchrun's launcher. For several machines run 'torchrun ... -m deepclust fit ...' instead.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=VERBOSE_HELP),
) -> None:
    """Cluster DATA; write labels.csv, model/, metrics.json (with labels) and plots to --out.

    Under torchrun every process runs this command on the same DATA; they train one model
    together and process 0 alone prints and writes."""
    quiet = quiet or not is_writer()
    with user_errors(2 if verbose else 1):
        # everything cheap is checked before the data is read or a network is built
        verbosity = parse_verbosity(quiet, verbose)
        key, cls = resolve_method(method)
        k = parse_n_clusters(n_clusters, key)
        params = parse_params(param)
        if labels is not None and label_column is not None:
            raise DeepclustError("give either --labels or --label-column, not both")
        if data is None and labels is not None:
            raise DeepclustError("--labels needs a DATA file (the bundled sample has its own labels)")
        dims = parse_hidden_dims(hidden_dims)
        size = parse_image_size(image_size)
        if image_mode not in ("L", "RGB"):
            raise DeepclustError(f"--image-mode must be L or RGB, got {image_mode!r}")
        if architecture is not None and architecture not in ("mlp", "conv", "none"):
            raise DeepclustError(f"--architecture must be mlp, conv or none, got {architecture!r}")
        pipeline.check_device(device)
        check_out_dir(out)
        pipeline.check_checkpoint_dir(checkpoint_dir, resume, quiet)
        options = dict(
            epochs=epochs, pretrain_epochs=pretrain_epochs, latent_dim=latent_dim,
            hidden_dims=dims, batch_size=batch_size, random_state=seed, device=device,
            verbose=verbosity, augment=augment, architecture=architecture, preset=preset, precision=precision,
            max_grad_norm=max_grad_norm, deterministic=deterministic or None,
            checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
            autoencoder=pipeline.load_autoencoder(autoencoder, device),
        )
        estimator = pipeline.build_estimator(cls, key, k, options, params, quiet)
        dataset = pipeline.load_dataset(
            data, labels, label_column, verbosity, modality=modality, text_column=text_column,
            ignore_columns=parse_list(ignore_columns), text_backend=text_backend,
            image_size=size, image_mode=image_mode, audio_pooling=audio_pooling,
        )
        pipeline.adapt_to_data(estimator, dataset, quiet, given=set(params))
        summary = pipeline.run_fit(dataset, estimator, key, out, report=report)
    if is_writer():
        print_summary(summary, f"deepclust fit: {key}")


def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Output folder."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=VERBOSE_HELP),
) -> None:
    """Cluster the bundled MNIST sample (10,000 digits) with the default method and settings."""
    with user_errors(2 if verbose else 1):
        verbosity = parse_verbosity(quiet, verbose)
        key, cls = resolve_method(pipeline.DEFAULT_METHOD)
        pipeline.check_device(device)
        check_out_dir(out)
        estimator = cls(n_clusters=10, random_state=0, device=device, verbose=verbosity)
        dataset = pipeline.load_dataset(None, None, None, verbosity)
        note(
            f"fitting {key} with its default settings on the {dataset.source} "
            f"({dataset.X.shape[0]:,} images); about 2 minutes on a 2-core CPU, less on a GPU",
            quiet,
        )
        summary = pipeline.run_fit(dataset, estimator, key, out)
    print_summary(summary, f"deepclust demo: {key} on MNIST")
