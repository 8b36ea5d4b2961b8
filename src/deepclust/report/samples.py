"""How the report shows one sample: a thumbnail cut from one embedded sprite image (images), the
document (text), the file name and an audio player (audio), the row's values (tables)."""
from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ..data.readers import parse_numbers
from ..data.scaling import power_of_two_unit
from ..exceptions import DeepclustError
from ..plotting import as_image_stack

#: thumbnails are at most this many pixels on their longer side
THUMB_SIDE = 48
#: thumbnails per row of the sprite image
SPRITE_COLUMNS = 100
#: a hover shows at most this many characters of a document, and this many columns of a row
TEXT_CHARS = 280
ROW_COLUMNS = 12
#: audio files above this size are linked from the report instead of embedded in it
EMBED_AUDIO_BYTES = 1_000_000
AUDIO_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg"}


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def sprite(images, value_range: tuple[float, float] | None = None, columns: int = SPRITE_COLUMNS) -> dict:
    """The images ``(n, h, w)``, ``(n, c, h, w)`` or ``(n, s²)`` as one PNG mosaic, ``columns``
    thumbnails a row, at most :data:`THUMB_SIDE` pixels a side; pixel values are shown on
    ``value_range`` (default: the images' own range). Returns ``{"uri", "width", "height",
    "columns"}`` (one thumbnail's size in pixels) for the page's tiles."""
    stack = np.nan_to_num(as_image_stack(np.asarray(images, dtype=np.float32)))
    if len(stack) == 0:
        raise DeepclustError("no images to show")
    lo, hi = value_range if value_range is not None else (float(stack.min()), float(stack.max()))
    stack = np.clip((stack - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(stack)
    colour = stack.ndim == 4
    h, w = stack.shape[1:3]
    factor = max(h, w) / THUMB_SIDE
    if factor > 1:  # area-average down to THUMB_SIDE on the longer side
        size = (max(1, round(h / factor)), max(1, round(w / factor)))
        t = torch.from_numpy(stack if colour else stack[..., None]).permute(0, 3, 1, 2)
        stack = torch.nn.functional.interpolate(t, size=size, mode="area").permute(0, 2, 3, 1).numpy()
        stack = stack if colour else stack[..., 0]
        h, w = size
    columns = min(columns, len(stack))
    rows = math.ceil(len(stack) / columns)
    mosaic = np.zeros((rows * h, columns * w) + stack.shape[3:], dtype=np.uint8)
    pixels = (stack * 255).round().astype(np.uint8)
    for i, image in enumerate(pixels):
        r, c = divmod(i, columns)
        mosaic[r * h:(r + 1) * h, c * w:(c + 1) * w] = image
    buffer = io.BytesIO()
    Image.fromarray(mosaic).save(buffer, format="PNG")
    return {"uri": data_uri(buffer.getvalue(), "image/png"), "width": w, "height": h, "columns": columns}


def short_text(text: str, limit: int = TEXT_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _value(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return short_text(value, 60)


def row_texts(table: pd.DataFrame, rows: np.ndarray) -> list[str]:
    """``"column: value"`` lines of the first :data:`ROW_COLUMNS` columns, one string per row."""
    shown = table.iloc[rows, :ROW_COLUMNS]
    more = f"\n(+{table.shape[1] - ROW_COLUMNS} more columns)" if table.shape[1] > ROW_COLUMNS else ""
    names = [str(c) for c in shown.columns]
    return ["\n".join(f"{n}: {_value(v)}" for n, v in zip(names, values)) + more
            for values in shown.itertuples(index=False)]


def audio_player(file: str | Path, name: str | None = None) -> dict:
    """``{"name", "src"}``: the file embedded as a data URI, or linked when it is larger than
    :data:`EMBED_AUDIO_BYTES` or of a type browsers do not play from a data URI; ``name``: what
    to call it (default: the file's name)."""
    path = Path(file)
    mime = AUDIO_TYPES.get(path.suffix.lower())
    try:
        small = mime is not None and path.stat().st_size <= EMBED_AUDIO_BYTES
        src = data_uri(path.read_bytes(), mime) if small else path.resolve().as_uri()
    except OSError:
        src = None
    return {"name": name or path.name, "src": src}


def distinguishing_features(table: pd.DataFrame, labels: np.ndarray, per_cluster: int = 5) -> dict[int, list[dict]]:
    """Per cluster, the ``per_cluster`` columns whose values differ most from the whole table's:
    numeric columns by the difference of means in standard deviations, categorical ones by the
    cluster's most common value and how much more common it is there than overall (in the
    standard deviations of its indicator). Each entry: ``feature``, ``cluster`` and ``overall``
    (formatted values), ``score``."""
    labels = np.asarray(labels)
    clusters = np.unique(labels)
    found: dict[int, list[dict]] = {int(c): [] for c in clusters}
    for name in table.columns:
        column = table[name]
        numeric = parse_numbers(column) if column.dtype == object else column
        if pd.api.types.is_numeric_dtype(numeric) and numeric.notna().mean() > 0.5:
            values = numeric.to_numpy(dtype=np.float64)
            unit = power_of_two_unit(values)
            values = values / unit
            mean, std = np.nanmean(values), np.nanstd(values)
            if not std > 0:
                continue
            for c in clusters:
                inside = np.nanmean(values[labels == c])
                found[int(c)].append({"feature": str(name), "cluster": f"{inside * unit:.4g}",
                                      "overall": f"{mean * unit:.4g}", "score": float(abs(inside - mean) / std)})
            continue
        text = column.astype(str).to_numpy()
        for c in clusters:
            members = text[labels == c]
            counts = pd.Series(members).value_counts()
            top, count = counts.index[0], counts.iloc[0]
            share_in, share_all = count / len(members), float((text == top).mean())
            if share_all >= 1:
                continue
            found[int(c)].append({
                "feature": str(name), "cluster": f"{short_text(top, 30)} ({share_in:.0%})",
                "overall": f"{share_all:.0%}",
                "score": float((share_in - share_all) / math.sqrt(share_all * (1 - share_all)))})
    return {c: sorted(entries, key=lambda e: -e["score"])[:per_cluster] for c, entries in found.items()}


def as_table(X, feature_names: Sequence[str] | None) -> pd.DataFrame:
    """A 2-D array's rows as a DataFrame (columns named as fitted, else ``x0, x1...``)."""
    flat = np.asarray(X).reshape(len(X), -1)
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(flat.shape[1])]
    return pd.DataFrame(flat, columns=names)
