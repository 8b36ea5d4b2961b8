"""The report page: what it shows of a fitted clustering, gathered into figures and cards, and
rendered with the Jinja2 template beside this module."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots
from sklearn.decomposition import PCA

from ..cluster import umap_embedding
from ..data.text import cluster_terms, representatives
from ..exceptions import DeepclustError
from ..files import atomic_write_bytes
from ..metrics import cluster_mapping, evaluate
from ..plotting import history_panels, subsample, value_range_of
from .samples import as_table, audio_player, distinguishing_features, row_texts, short_text, sprite

#: the map shows at most this many samples (a seeded random subset of the rest)
MAP_POINTS = 10_000
#: per cluster card: thumbnails of typical images, typical documents or audio files, words, features
GALLERY = 12
TYPICAL = 3
TERMS = 8
FEATURES = 5
#: generated samples shown per cluster for generative models fitted on images
GENERATED = 10
#: confidence histogram bins on each card
CONFIDENCE_BINS = 10
#: the map's 2-D UMAP: its neighbours, and the fewest samples it is drawn for (a principal-component
#: plane below that, where a neighbour graph says little)
MAP_NEIGHBOURS = 15
MAP_UMAP_SAMPLES = 3 * MAP_NEIGHBOURS
#: on-screen size of one thumbnail's pixel (thumbnails are at most 48 pixels a side)
PIXEL_SCALE = {"map": 2, "card": 2}

_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("deepclust", "report"), autoescape=True, undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)


def colours(n: int) -> list[str]:
    """``n`` distinct colours: Plotly's 10 qualitative colours, Light24 for up to 24, Turbo beyond."""
    if n <= 10:
        return list(qualitative.Plotly[:n])
    if n <= 24:
        return list(qualitative.Light24[:n])
    return sample_colorscale("Turbo", [i / (n - 1) for i in range(n)])


def _layout(**extra) -> dict:
    return {"margin": {"l": 50, "r": 20, "t": 40, "b": 45}, "template": "plotly_white", **extra}


def map_figure(xy: np.ndarray, labels: np.ndarray, truth: np.ndarray | None) -> dict:
    """The 2-D map: one WebGL trace per cluster (so the legend hides and shows clusters), and
    with ``truth`` one per known label, hidden, behind a "colour by" menu. Each point's
    ``customdata`` is its position in the page's sample arrays (what the hover shows)."""
    size = float(np.clip(1500 / max(len(xy), 1) ** 0.8, 3, 10))
    traces, groups = [], [("cluster", labels)] + ([] if truth is None else [("known label", truth)])
    for g, (name, values) in enumerate(groups):
        kinds = np.unique(values)
        palette = colours(len(kinds))
        for colour, kind in zip(palette, kinds):
            rows = np.flatnonzero(values == kind)
            traces.append(go.Scattergl(
                x=np.round(xy[rows, 0], 4).tolist(), y=np.round(xy[rows, 1], 4).tolist(), mode="markers",
                name=f"{kind} ({len(rows):,})", customdata=rows.tolist(), hoverinfo="none",
                marker={"size": size, "color": colour, "opacity": 0.75}, visible=g == 0,
                legendgroup=name, legendgrouptitle={"text": name},
            ))
    fig = go.Figure(traces)
    layout = _layout(height=640, dragmode="pan", legend={"itemsizing": "constant"},
                     xaxis={"showticklabels": False, "zeroline": False},
                     yaxis={"showticklabels": False, "zeroline": False, "scaleanchor": "x"})
    if truth is not None:
        first = len(np.unique(labels))
        layout["updatemenus"] = [{
            "type": "buttons", "direction": "right", "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom",
            "showactive": True,
            "buttons": [
                {"label": "colour by cluster", "method": "restyle",
                 "args": [{"visible": [i < first for i in range(len(traces))]}]},
                {"label": "colour by known label", "method": "restyle",
                 "args": [{"visible": [i >= first for i in range(len(traces))]}]},
            ]}]
    fig.update_layout(**layout)
    return _figure(fig)


def _figure(fig: go.Figure) -> dict:
    return json.loads(fig.to_json(validate=False))


def sizes_figure(clusters: list[int], sizes: list[int]) -> dict:
    fig = go.Figure(go.Bar(x=[str(c) for c in clusters], y=sizes, marker_color=colours(len(clusters)),
                           hovertemplate="cluster %{x}: %{y:,} samples<extra></extra>"))
    fig.update_layout(**_layout(title="Cluster sizes", height=320, xaxis={"title": "cluster", "type": "category"},
                                yaxis={"title": "samples"}))
    return _figure(fig)


def confusion_figure(y: np.ndarray, labels: np.ndarray) -> dict:
    """Known labels (rows) against clusters (columns), the columns in the order of the class
    each cluster is matched with (Hungarian matching), so a good clustering is diagonal."""
    classes, clusters = np.unique(y), np.unique(labels)
    mapping = cluster_mapping(y, labels)
    rank = {c: i for i, c in enumerate(classes)}
    order = sorted(clusters, key=lambda c: (rank.get(mapping.get(c), len(classes)), c))
    counts = pd.crosstab(pd.Series(y, name="label"), pd.Series(labels, name="cluster")).reindex(
        index=classes, columns=order, fill_value=0)
    fig = go.Figure(go.Heatmap(
        z=counts.to_numpy().tolist(), x=[f"cluster {c}" for c in order], y=[f"label {c}" for c in classes],
        colorscale="Blues", text=counts.to_numpy().tolist(), texttemplate="%{text}" if counts.size <= 400 else None,
        hovertemplate="%{y}, %{x}: %{z:,} samples<extra></extra>"))
    fig.update_layout(**_layout(title="Known labels against clusters (matched order)",
                                height=max(320, 28 * len(classes) + 140),
                                yaxis={"autorange": "reversed", "type": "category"}, xaxis={"type": "category"}))
    return _figure(fig)


def history_figure(history: Sequence[dict]) -> dict | None:
    """The training curves: one panel per phase, losses (left axis) and fractions such as
    ``labels_changed`` (right axis, dashed)."""
    panels, note = history_panels(history)
    if not panels:
        return None
    fig = make_subplots(rows=len(panels), cols=1, subplot_titles=list(panels), vertical_spacing=0.12 / len(panels),
                        specs=[[{"secondary_y": True}]] * len(panels))
    for row, panel in enumerate(panels.values(), start=1):
        for name, (xs, ys) in panel["losses"].items():
            fig.add_trace(go.Scatter(x=xs, y=ys, name=name, mode="lines+markers" if len(xs) <= 30 else "lines",
                                     legendgroup=name, showlegend=row == 1 or name not in panels), row=row, col=1)
        for name, (xs, ys) in panel["fractions"].items():
            fig.add_trace(go.Scatter(x=xs, y=ys, name=name, line={"dash": "dash", "color": "grey"}),
                          row=row, col=1, secondary_y=True)
    fig.update_layout(**_layout(title="Training curves" + (f" ({note})" if note else ""),
                                height=260 * len(panels) + 80))
    curves = [xs for panel in panels.values() for xs, _ in (*panel["losses"].values(), *panel["fractions"].values())]
    last = max(max(xs) for xs in curves)
    fig.update_xaxes(dtick=1 if last <= 15 else None, tickformat="d")
    fig.update_xaxes(title_text="epoch", row=len(panels), col=1)
    return _figure(fig)


def k_figure(scores: dict, chosen: int, criterion: str) -> dict:
    ks = sorted(int(k) for k in scores)
    fig = go.Figure([
        go.Scatter(x=ks, y=[scores[k] for k in ks], mode="lines+markers", name=criterion),
        go.Scatter(x=[chosen], y=[scores[chosen]], mode="markers", name=f"chosen: K = {chosen}",
                   marker={"size": 14, "symbol": "star", "color": "crimson"}),
    ])
    fig.update_layout(**_layout(title="Choosing the number of clusters", height=320,
                                xaxis={"title": "K", "dtick": 1}, yaxis={"title": criterion}))
    return _figure(fig)


def confidence_figure(values: np.ndarray, colour: str) -> dict:
    counts, edges = np.histogram(values, bins=CONFIDENCE_BINS, range=(0.0, 1.0))
    fig = go.Figure(go.Bar(x=((edges[:-1] + edges[1:]) / 2).round(3).tolist(), y=counts.tolist(),
                           width=1 / CONFIDENCE_BINS, marker_color=colour,
                           hovertemplate="confidence %{x:.2f}: %{y:,}<extra></extra>"))
    fig.update_layout(margin={"l": 30, "r": 5, "t": 5, "b": 25}, height=110, template="plotly_white",
                      xaxis={"range": [0, 1], "dtick": 0.25}, yaxis={"showticklabels": False}, bargap=0.05)
    return _figure(fig)


def _tile(j: int, meta: dict, scale: int) -> dict:
    row, col = divmod(int(j), meta["columns"])
    w, h = meta["width"] * scale, meta["height"] * scale
    return {"width": w, "height": h, "x": col * w, "y": row * h, "sheet": meta["columns"] * w}


def _map_xy(Z: np.ndarray, space: str, seed: int) -> tuple[np.ndarray, str]:
    """The shown samples in 2-D: the clustering space itself when it has at most two
    dimensions, else a 2-D UMAP of it (for display only), or for fewer than
    :data:`MAP_UMAP_SAMPLES` samples its first two principal components."""
    Z = np.nan_to_num(np.asarray(Z, dtype=np.float32).reshape(len(Z), -1))
    if Z.shape[1] == 2:
        return Z, space
    if Z.shape[1] == 1:
        jitter = np.random.default_rng(seed).uniform(-0.5, 0.5, len(Z))
        return np.column_stack([Z[:, 0], jitter]), f"{space} (y: jitter)"
    if len(Z) < MAP_UMAP_SAMPLES:
        xy = PCA(n_components=min(2, len(Z)), svd_solver="full").fit_transform(Z)
        xy = np.column_stack([xy, np.zeros((len(Z), 2 - xy.shape[1]))])
        return xy, f"first two principal components of the {space}"
    xy = umap_embedding(Z, 2, seed, n_neighbors=MAP_NEIGHBOURS, min_dist=0.1, n_epochs=200,
                        exact_neighbours=Z.shape[1] <= 15)
    return xy, f"2-D UMAP of the {space}"


def _default_about(model, X, n_clusters: int) -> dict[str, str]:
    shape = " × ".join(str(s) for s in np.shape(X)[1:])
    about = {"data": f"{len(X):,} samples of {shape}", "method": type(model).__name__}
    if hasattr(model, "selection_"):
        about["chosen"] = model.selection_
    about["clusters"] = str(n_clusters)
    return about


def _hover_texts(shown: np.ndarray, texts, files, table: pd.DataFrame | None, names) -> list[str]:
    """What the map's tooltip shows of each shown sample beside its thumbnail (if any): its
    document, file name, row or name."""
    if texts is not None:
        found = [short_text(texts[i]) for i in shown]
        return found if names is None else [f"{names[i]}: {text}" for i, text in zip(shown, found)]
    if files is not None:
        return [str(names[i]) if names is not None else Path(files[i]).name for i in shown]
    if table is not None:
        return row_texts(table, np.arange(len(shown)))
    if names is not None:
        return [str(names[i]) for i in shown]
    return [""] * len(shown)  # the thumbnail, or the index in the tip's first line, is all there is


def _cards(labels: np.ndarray, confidence: np.ndarray | None, shown: np.ndarray, typical: dict[int, list[int]],
           thumbs: dict | None, texts, files, names, table: pd.DataFrame | None) -> list[dict[str, Any]]:
    """One card per non-empty cluster: size and share, mean confidence (and the id of its
    histogram), typical members as thumbnails, documents with the cluster's words, or audio
    players, and for tables the columns that set it apart (on the shown rows)."""
    clusters, sizes = np.unique(labels, return_counts=True)
    palette = dict(zip(clusters.tolist(), colours(len(clusters))))
    terms = cluster_terms(list(texts), labels, TERMS) if texts is not None else {}
    features = distinguishing_features(table, labels[shown], FEATURES) if table is not None and texts is None else {}
    cards = []
    for c, size in zip(clusters.tolist(), sizes.tolist()):
        members = typical.get(c, [])
        cards.append({
            "cluster": c, "size": size, "share": size / len(labels), "colour": palette[c],
            "confidence": None if confidence is None else float(confidence[labels == c].mean()),
            "figure": None if confidence is None else f"confidence-{c}",
            "tiles": [] if thumbs is None else [_tile(j, thumbs, PIXEL_SCALE["card"]) for j in members],
            "terms": terms.get(c, []),
            "documents": [] if texts is None else [short_text(texts[shown[j]]) for j in members],
            "players": [] if files is None else [
                audio_player(files[shown[j]], None if names is None else str(names[shown[j]])) for j in members],
            "features": features.get(c, []),
        })
    return cards


def render_report(
    model, X, *, labels=None, confidence=None, y=None, texts: Sequence[str] | None = None,
    names: Sequence[str] | None = None, files: Sequence[str | Path] | None = None,
    table: pd.DataFrame | None = None, about: dict[str, str] | None = None, seed: int = 0,
) -> bytes:
    """The HTML report of the fitted clusterer ``model`` on the samples ``X``, as bytes.

    ``labels`` and ``confidence`` (the probability of each sample's cluster) are computed with
    ``predict``/``predict_proba`` when not given. How each sample is shown follows the data:
    thumbnails for a model fitted on images, ``texts`` (one document per sample), ``files``
    (audio files: players on the cards), ``names`` (shown on hover, and naming the files), ``table``
    (the rows as the user knows them, one per sample; by default ``X`` itself, its columns named
    as at fit). ``y``: known labels, for metrics and the matched confusion matrix. ``about``:
    header rows (name → text) that replace or add to the defaults (data shape, method, K).
    The map shows at most :data:`MAP_POINTS` samples (a random subset, seeded by ``seed``).
    """
    n = len(X)
    if n == 0:
        raise DeepclustError("report: no samples")
    labels = np.asarray(model.predict(X) if labels is None else labels).ravel()
    if confidence is None and hasattr(model, "predict_proba"):
        confidence = model.predict_proba(X).max(axis=1)
    confidence = None if confidence is None else np.asarray(confidence, dtype=np.float64).ravel()
    for name, values in (("labels", labels), ("confidence", confidence), ("y", y), ("texts", texts),
                         ("names", names), ("files", files), ("table", table)):
        if values is not None and len(values) != n:
            raise DeepclustError(f"report: {n:,} samples but {len(values):,} {name}")
    y = None if y is None else np.asarray(y).ravel()
    n_clusters = int(getattr(model, "n_clusters_", model.n_clusters))
    images = model._fitted_on_images()
    pixels = value_range_of(getattr(model, "best_estimator_", model)) if images else None  # auto: the chosen one's

    shown = subsample(n, MAP_POINTS, seed)
    # the map's samples: the hover, the typical members and what sets clusters apart come from
    # them only, so memory is bounded by them, not by the rows
    frame = isinstance(X, pd.DataFrame)
    X_shown = X.iloc[shown] if frame else np.asarray(X[shown])
    if table is not None:
        table = table.iloc[shown].reset_index(drop=True)
    elif frame:  # the user's own rows and columns
        table = X_shown.reset_index(drop=True)
    elif not images and texts is None and files is None:
        table = as_table(X_shown, getattr(model, "feature_names_in_", None))
    Z, space = model.clustering_space(X_shown)
    xy, map_space = _map_xy(Z, space, seed)
    thumbs = sprite(X_shown, pixels) if images else None
    typical = representatives(np.asarray(Z, dtype=np.float64).reshape(len(Z), -1), labels[shown],
                              GALLERY if images else TYPICAL)
    cards = _cards(labels, confidence, shown, typical, thumbs, texts, files, names, table)
    empty = sorted(set(range(n_clusters)) - {card["cluster"] for card in cards})

    figures = {"map": map_figure(xy, labels[shown], None if y is None else y[shown]),
               "sizes": sizes_figure([card["cluster"] for card in cards], [card["size"] for card in cards])}
    for card in cards:
        if card["figure"] is not None:
            figures[card["figure"]] = confidence_figure(confidence[labels == card["cluster"]], card["colour"])
    metrics = None
    if y is not None:
        metrics = evaluate(y, labels)
        figures["confusion"] = confusion_figure(y, labels)
    history = history_figure(getattr(model, "history_", None) or [])
    if history is not None:
        figures["history"] = history
    k_scores = getattr(model, "k_scores_", None)
    if k_scores:
        figures["k"] = k_figure({int(k): float(v) for k, v in k_scores.items()}, n_clusters, "silhouette")
    generated = None
    if images and hasattr(model, "sample"):
        drawn = np.concatenate([model.sample(GENERATED, cluster=k, random_state=seed) for k in range(n_clusters)])
        sheet = sprite(drawn, pixels, columns=GENERATED)
        generated = {"sprite": sheet, "rows": [
            {"cluster": k, "tiles": [_tile(k * GENERATED + i, sheet, PIXEL_SCALE["card"]) for i in range(GENERATED)]}
            for k in range(n_clusters)]}

    header = {key: value for key, value in {**_default_about(model, X, n_clusters), **(about or {})}.items() if value}
    payload = {
        "figures": figures,
        "points": {
            "text": _hover_texts(shown, texts, files, table, names), "cluster": labels[shown].tolist(),
            "confidence": None if confidence is None else np.round(confidence[shown], 3).tolist(),
            "truth": None if y is None else [str(v) for v in y[shown]], "index": shown.tolist(),
        },
        "sprite": None if thumbs is None else {k: v for k, v in thumbs.items() if k != "uri"},
        "scale": PIXEL_SCALE["map"],
    }
    html = _environment.get_template("report.html.j2").render(
        title=f"deepclust report: {header['method']}", header=header, metrics=metrics, n=n,
        n_shown=len(shown), map_space=map_space, cards=cards, empty=empty, generated=generated,
        sprite=thumbs, figures=figures, plotly_js=get_plotlyjs(),
        payload=json.dumps(payload, separators=(",", ":")).replace("<", "\\u003c"),
        script=_environment.loader.get_source(_environment, "report.js")[0],
        style=_environment.loader.get_source(_environment, "report.css")[0],
    )
    return html.encode("utf-8")


def write_report(model, X, path: str | Path, **context) -> Path:
    """Write :func:`render_report` of ``model`` on ``X`` to ``path`` (atomically); returns it."""
    path = Path(path)
    atomic_write_bytes(path, render_report(model, X, **context))
    return path


class ReportMixin:
    """Gives a fitted clusterer ``report(X, path)``: the HTML page of its clustering of ``X``."""

    def report(self, X, path: str | Path, y=None, **context) -> Path:
        """Write a self-contained HTML report of this clustering of ``X`` to ``path``; returns it.

        Opens offline in any browser: a 2-D map of the samples (hover shows each one), a card
        per cluster with its size, confidence and typical members, the training curves, cluster
        sizes and, with known labels ``y``, metrics and the matched confusion matrix. ``context``
        tells how to show the samples (``texts``, ``files``, ``names``, ``table``) and adds
        header rows (``about``); see :func:`deepclust.report.render_report`.
        """
        return write_report(self, X, path, y=y, **context)
