"""Plots of a fitted clustering: latent-space map, per-cluster galleries, training curves.

Every function returns the PNG file as ``bytes`` (rendered in memory with matplotlib's Agg
canvas, no pyplot global state), so the caller decides where it goes and can write it
atomically with :func:`save_png`. matplotlib is imported lazily (it is slow to import), and
:class:`~deepclust.exceptions.DeepclustError` explains how to install it when absent.
"""
from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import DeepclustError
from .files import atomic_write_bytes

#: the embedding map draws at most this many points (a seeded random subset)
MAX_POINTS = 10_000
#: keys of a history entry that are bookkeeping, not curves
_NOT_CURVES = {"phase", "epoch", "seconds", "loss"}
#: history keys that are fractions in [0, 1], drawn on their own axis beside the losses
_FRACTIONS = {"labels_changed"}
_DPI = 100


def _figure(width: float, height: float):
    """A matplotlib Figure bound to an Agg canvas (no pyplot, no display needed)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise DeepclustError(
            "plots need matplotlib; install it with: pip install 'deepclust[plot]'"
        ) from None
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    return buffer.getvalue()


def save_png(png: bytes, path: str | Path) -> Path:
    """Write PNG bytes to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    atomic_write_bytes(path, png)
    return path


def subsample(n: int, limit: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``limit`` of ``n`` rows, the same ones every time."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def _colours(n: int):
    """``n`` distinct colours: tab10 / tab20 for few clusters, a continuous map beyond."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    cmap = colormaps["turbo"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def embedding_plot(
    Z: Any,
    labels: Any,
    title: str = "Latent space by cluster",
    *,
    truth: Any = None,
    max_points: int = MAX_POINTS,
    seed: int = 0,
) -> bytes:
    """A 2-D scatter map of the embedding ``Z`` (n, d) coloured by cluster; PNG bytes.

    ``d > 2`` is reduced to its first two principal components (PCA, deterministic); ``d == 1``
    is drawn against a small fixed jitter. With ``truth`` (known classes, ``(n,)``) a second map
    beside it colours the same points by class. At most ``max_points`` points (a seeded subset)
    are drawn. Up to 20 groups get a legend "k (size)", more get a colour bar.
    """
    Z = np.asarray(Z, dtype=np.float64)
    labels = np.asarray(labels).ravel()
    if Z.ndim == 1:
        Z = Z[:, None]
    if Z.ndim != 2 or Z.shape[0] == 0:
        raise DeepclustError(f"embedding_plot needs a non-empty (n, d) array, got shape {Z.shape}")
    colourings = [("cluster", labels)] + ([] if truth is None else [("known label", np.asarray(truth).ravel())])
    for name, values in colourings:
        if values.shape[0] != Z.shape[0]:
            raise DeepclustError(f"embedding_plot: {Z.shape[0]} embedded points but {values.shape[0]} labels ({name})")
    idx = subsample(Z.shape[0], max_points, seed)
    Z = Z[idx]
    finite = np.isfinite(Z).all(axis=1)
    Z = Z[finite]

    xlabel, ylabel = "z1", "z2"
    if Z.shape[1] > 2 and Z.shape[0] >= 2:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, svd_solver="full").fit(Z)
        Z = pca.transform(Z)
        ratio = pca.explained_variance_ratio_
        xlabel, ylabel = f"PC1 ({ratio[0]:.0%} of variance)", f"PC2 ({ratio[1]:.0%} of variance)"
    elif Z.shape[1] > 2:
        Z = Z[:, :2]
    elif Z.shape[1] == 1:
        jitter = np.random.default_rng(seed).uniform(-0.5, 0.5, Z.shape[0])
        Z = np.column_stack([Z[:, 0], jitter])
        ylabel = "(jitter)"

    fig = _figure(7.5 * len(colourings), 6.0)
    fig.suptitle(title + (f" ({len(Z):,} of {labels.shape[0]:,} points)" if len(Z) < labels.shape[0] else ""))
    size = float(np.clip(3000 / max(len(Z), 1), 2, 30))
    for column, (name, values) in enumerate(colourings, start=1):
        ax = fig.add_subplot(1, len(colourings), column)
        groups, counts = np.unique(values, return_counts=True)
        codes = np.searchsorted(groups, values[idx][finite])
        colours = _colours(len(groups))
        if len(groups) <= 20:
            for i, (group, count) in enumerate(zip(groups, counts)):
                mask = codes == i
                ax.scatter(Z[mask, 0], Z[mask, 1], s=size, color=colours[i], alpha=0.7,
                           linewidths=0, label=f"{group} ({count})", rasterized=True)
            ax.legend(title=f"{name} (size)", loc="center left", bbox_to_anchor=(1.01, 0.5),
                      markerscale=max(1.0, 20 / size) ** 0.5, frameon=False, fontsize="small")
        else:
            from matplotlib.colors import ListedColormap

            points = ax.scatter(Z[:, 0], Z[:, 1], c=codes, cmap=ListedColormap(colours), vmin=-0.5,
                                vmax=len(groups) - 0.5, s=size, alpha=0.7, linewidths=0, rasterized=True)
            fig.colorbar(points, ax=ax, label=f"{name} index")
        ax.set_title(f"by {name}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    fig.subplots_adjust(wspace=0.5)  # room for the left map's legend
    return _png(fig)


def as_image_stack(images: Any) -> np.ndarray:
    """(n, h, w) grayscale or (n, h, w, 3|4) colour from (n, h, w), (n, c, h, w) or (n, d=s²)."""
    arr = np.asarray(images)
    if arr.ndim == 2:
        side = math.isqrt(arr.shape[1])
        if side * side != arr.shape[1] or side == 0:
            raise DeepclustError(
                f"cannot show rows of {arr.shape[1]} features as images: "
                "the count is not a perfect square"
            )
        return arr.reshape(arr.shape[0], side, side)
    if arr.ndim == 3:
        return arr
    if arr.ndim == 4:
        if arr.shape[1] in (1, 3, 4):  # channels first, as deepclust's readers give them
            arr = np.moveaxis(arr, 1, -1)
        elif arr.shape[-1] not in (1, 3, 4):
            raise DeepclustError(f"cannot show an array of shape {arr.shape} as images")
        return arr[..., 0] if arr.shape[-1] == 1 else arr
    raise DeepclustError(f"cannot show an array of shape {arr.shape} as images")


def cluster_gallery(
    images: Any,
    labels: Any,
    n_per_cluster: int = 10,
    *,
    title: str = "Samples of each cluster",
    seed: int = 0,
    row_label: str = "cluster",
    value_range: tuple[float, float] | None = None,
) -> bytes:
    """One row per cluster with up to ``n_per_cluster`` of its members; PNG bytes.

    ``images`` is (n, h, w), (n, c, h, w) or (n, d) with ``d`` a perfect square (reshaped to a
    square grayscale image). Members are a seeded random choice; rows read "cluster k (size)"
    (``row_label`` replaces "cluster"). Pixel values are shown on ``value_range`` (black to
    white, values outside clipped), by default the range of the images shown.
    The grid is drawn as a single image, so even 50 clusters × 10 samples render quickly.
    """
    labels = np.asarray(labels).ravel()
    n = labels.shape[0]
    if len(images) != n:
        raise DeepclustError(f"cluster_gallery: {len(images)} images but {n} labels")
    if n == 0:
        raise DeepclustError("cluster_gallery: no images")
    if n_per_cluster < 1:
        raise DeepclustError(f"n_per_cluster must be >= 1, got {n_per_cluster}")
    clusters, counts = np.unique(labels, return_counts=True)
    rng = np.random.default_rng(seed)
    chosen = []
    for cluster in clusters:
        members = np.flatnonzero(labels == cluster)
        if members.size > n_per_cluster:
            members = np.sort(rng.choice(members, size=n_per_cluster, replace=False))
        chosen.append(members)
    flat = np.concatenate(chosen)
    # index the (possibly memory-mapped) input only at the chosen rows
    stack = as_image_stack(np.asarray(np.asarray(images)[flat], dtype=np.float64))
    stack = np.nan_to_num(stack)
    lo, hi = value_range if value_range is not None else (float(stack.min()), float(stack.max()))
    stack = np.clip((stack - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(stack)

    h, w = stack.shape[1:3]
    colour = stack.ndim == 4
    pad = max(1, min(h, w) // 14)
    rows, cols = len(clusters), max(len(c) for c in chosen)
    shape = (rows * (h + pad) + pad, cols * (w + pad) + pad) + ((stack.shape[3],) if colour else ())
    mosaic = np.ones(shape)  # white separators and white empty cells
    if colour and stack.shape[3] == 4:
        mosaic[..., 3] = 0.0
    k = 0
    for r, members in enumerate(chosen):
        for c in range(len(members)):
            y0, x0 = pad + r * (h + pad), pad + c * (w + pad)
            mosaic[y0 : y0 + h, x0 : x0 + w] = stack[k]
            k += 1

    cell = 0.55 if max(h, w) <= 32 else 0.9
    fig = _figure(1.6 + cols * cell, 0.5 + rows * cell * h / w)
    ax = fig.add_subplot()
    if colour:
        ax.imshow(mosaic, interpolation="nearest")
    else:
        ax.imshow(mosaic, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_yticks([pad + r * (h + pad) + h / 2 for r in range(rows)])
    ax.set_yticklabels([f"{row_label} {cl} ({cnt})" for cl, cnt in zip(clusters, counts)])
    ax.set_xticks([])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title)
    return _png(fig)


#: at most this many generated images are drawn in one grid
MAX_GRID_IMAGES = 100


def value_range_of(model) -> tuple[float, float]:
    """The pixel range of the data ``model`` was fitted on, in the data's units, to draw its
    generated images on: [0, 1] (or [0, max]) for images read as deepclust reads them, else the
    training data's per-pixel mean ± 3 standard deviations."""
    scaled = model if hasattr(model, "_input_offset") else model.autoencoder_
    offset, scale = (t.detach().cpu().numpy() for t in (scaled._input_offset, scaled._input_scale))
    if scaled.input_scaling_ in ("none", "max"):
        return 0.0, float(np.max(scale))
    return float(np.min(offset - 3 * scale)), float(np.max(offset + 3 * scale))


def samples_grid(model, images: np.ndarray, clusters: np.ndarray | None = None, *,
                 title: str = "Generated samples") -> bytes:
    """Generated ``images`` of ``model`` drawn on the training data's pixel range
    (:func:`value_range_of`, so that an untrained generator's grey noise looks grey); PNG bytes.
    With ``clusters`` one row per cluster (up to 10 of its samples), else a near-square grid of
    the first :data:`MAX_GRID_IMAGES` images."""
    value_range = value_range_of(model)
    if clusters is not None:
        return cluster_gallery(images, clusters, 10, title=title, value_range=value_range)
    images = images[:MAX_GRID_IMAGES]
    columns = math.ceil(math.sqrt(len(images)))
    return cluster_gallery(images, np.arange(len(images)) // columns, columns, title=title,
                           row_label="row", value_range=value_range)


def generated_samples_grid(
    model, n_per_cluster: int = 10, *, title: str = "Generated samples", seed: int = 0,
) -> bytes:
    """Images drawn from a fitted generative model (GAN, ClusterGAN, VaDE); PNG bytes.

    One row of ``n_per_cluster`` per cluster, or a square grid of ``n_per_cluster²`` for a model
    without clusters (see :func:`samples_grid`). Every row draws with the same ``seed``, so a
    column shows one noise vector across the clusters.
    """
    if hasattr(model, "n_clusters"):
        clusters = list(range(model.n_clusters))
        images = np.concatenate(
            [model.sample(n_per_cluster, cluster=k, random_state=seed) for k in clusters]
        )
        return samples_grid(model, images, np.repeat(clusters, n_per_cluster), title=title)
    return samples_grid(model, model.sample(n_per_cluster ** 2, random_state=seed), title=title)


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value)


def history_panels(history: Sequence[dict]) -> tuple[dict[str, dict[str, dict]], str]:
    """The curves of a fit's ``history_``, one panel per phase, and a note on its result.

    Returns ``(panels, note)``: ``panels[phase]`` has ``"losses"`` (the loss and its parts,
    drawn against the left axis) and ``"fractions"`` (diagnostics in [0, 1] such as
    ``labels_changed``, against their own right axis), each ``{name: (epochs, values)}``;
    ``note`` says how many clusters ended empty (the ``"result"`` record), or is empty.
    """
    panels: dict[str, dict[str, dict]] = {}
    note = ""
    for entry in history or []:
        if not isinstance(entry, dict):
            raise DeepclustError(f"history entries must be dicts, got {type(entry).__name__}")
        phase = str(entry.get("phase", "train"))
        if phase == "result":
            empty, sizes = entry.get("empty_clusters"), entry.get("cluster_sizes")
            if empty:
                note = f"{empty} of {len(sizes) if sizes else '?'} clusters ended empty"
            continue
        panel = panels.setdefault(phase, {"losses": {}, "fractions": {}})
        epoch = _numeric(entry.get("epoch"))
        for key, value in entry.items():
            number = _numeric(value)
            if key in _NOT_CURVES - {"loss"} or number is None:
                continue
            kind = "fractions" if key in _FRACTIONS else "losses"
            xs, ys = panel[kind].setdefault(key, ([], []))
            xs.append(epoch if epoch is not None else len(xs) + 1)
            ys.append(number)
    return {phase: panel for phase, panel in panels.items() if panel["losses"] or panel["fractions"]}, note


def history_plot(history: Sequence[dict], title: str = "Training history") -> bytes:
    """Loss per epoch, one panel per training phase (each with its own scale); PNG bytes.

    A panel draws the phase's loss and its parts (e.g. "reconstruction", "coding"), on a
    logarithmic axis when the positive values span more than two decades, and diagnostics that
    are fractions (``labels_changed``) on a second axis at the right. Empty clusters at the end
    of the fit are named in the title. See :func:`history_panels`.
    """
    from matplotlib.ticker import MaxNLocator

    panels, note = history_panels(history)
    fig = _figure(7.5, 2.2 + 2.4 * max(1, len(panels)))
    fig.suptitle(f"{title}: {note}" if note else title)
    if not panels:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no training history", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return _png(fig)
    for row, (phase, panel) in enumerate(panels.items(), start=1):
        ax = fig.add_subplot(len(panels), 1, row)
        for key, (xs, ys) in panel["losses"].items():
            ax.plot(xs, ys, marker="o" if len(xs) <= 30 else None, markersize=3, label=key)
        values = [v for _, ys in panel["losses"].values() for v in ys if math.isfinite(v)]
        if values and min(values) > 0 and max(values) / min(values) > 100:
            ax.set_yscale("log")
        ax.set_ylabel(f"{phase}: loss")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        handles, labels = ax.get_legend_handles_labels()
        if panel["fractions"]:
            right = ax.twinx()
            for key, (xs, ys) in panel["fractions"].items():
                right.plot(xs, ys, linestyle="--", color="grey", label=key)
            right.set_ylim(0, 1)
            right.set_ylabel("fraction")
            more_handles, more_labels = right.get_legend_handles_labels()
            handles, labels = handles + more_handles, labels + more_labels
        ax.legend(handles, labels, frameon=False, fontsize="small", loc="upper right")
    ax.set_xlabel("epoch")
    return _png(fig)


__all__ = ["MAX_POINTS", "as_image_stack", "cluster_gallery", "embedding_plot", "generated_samples_grid",
           "history_panels", "history_plot", "samples_grid", "save_png", "subsample", "value_range_of"]
