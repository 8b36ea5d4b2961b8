"""From a path to features: modality detection and the preprocessing a model keeps.

:func:`featurize` recognises what it was given (:func:`detect_modality`) — a table, an array
file, text, a folder of audio files or of images — reads it, and learns the preprocessing that
turns it into a float32 matrix (or image batch). The learned *featurizer* is plain data
(``get_state``/``from_state``), saved inside the model and reapplied to new data by
:func:`apply_featurizer`, so ``predict`` sees exactly what ``fit`` saw.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from deepclust.data.audio import AUDIO_POOLINGS, AUDIO_SUFFIXES, AudioFeatures
from deepclust.data.readers import (
    ARRAY_SUFFIXES,
    IMAGE_SUFFIXES,
    PARQUET_SUFFIXES,
    TABLE_SUFFIXES,
    file_suffix,
    find_files,
    labels_from_subfolders,
    npy_header,
    read_data,
    read_image_folder,
    read_table_frame,
    take_label_column,
    warn_skipped,
)
from deepclust.data.source import STREAM_BYTES, ArraySource, open_source
from deepclust.data.tables import TablePreprocessor
from deepclust.data.text import (
    BACKENDS,
    TEXT_SUFFIXES,
    Documents,
    TextEmbedder,
    column_documents,
    read_documents,
    reported,
)
from deepclust.exceptions import DeepclustError

MODALITIES = ("auto", "table", "array", "text", "audio", "images")
#: flat rows (an array file, a table of integer columns) are read as square grayscale images when
#: their width is the square of a side of at least this many pixels and their values are 8-bit
#: pixels: whole numbers in [0, 255], not only 0 and 1
MIN_FLAT_IMAGE_SIDE = 8
#: ... and when neighbouring pixels go together more than distant ones, as in an image: the mean
#: correlation over the rows of a pixel with its right and lower neighbours, less that with the
#: pixels half a side to its right and below, is at least this (8x8 digits 0.40, MNIST 0.66; a
#: count table or a survey of correlated questions, in no spatial order, 0.00-0.01), and so is
#: the correlation of a pixel with its right neighbour less that of a row's last pixel with the
#: next row's first (digits 0.33, MNIST 0.70; a time series cut into rows, whose rows continue
#: one another, about 0)
MIN_NEIGHBOUR_CONTRAST = 0.05
#: rows the neighbours' contrast is measured on (the first ones)
NEIGHBOUR_ROWS = 2000
#: a table column counts as free text when its values average at least this many words
FREE_TEXT_WORDS = 3.0


@dataclass
class ImageLoader:
    """Images resized to ``size`` (width, height) in colour ``mode`` ("L" or "RGB"), scaled to [0, 1]."""

    size: tuple[int, int]
    mode: str = "L"
    kind = "images"

    @property
    def report_(self) -> list[str]:
        colour = "grayscale" if self.mode == "L" else "RGB"
        return [f"images: {colour}, resized to {self.size[0]}x{self.size[1]}, pixels scaled to [0, 1]"]

    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {"size": list(self.size), "mode": self.mode}, {}

    @classmethod
    def from_state(cls, config: dict, arrays: dict[str, np.ndarray]) -> ImageLoader:
        width, height = (int(v) for v in config["size"])
        if config["mode"] not in ("L", "RGB"):
            raise ValueError(f"unknown image mode {config['mode']!r}")
        return cls((width, height), config["mode"])


#: featurizers by ``kind``, for loading saved models
FEATURIZERS = {cls.kind: cls for cls in (TablePreprocessor, TextEmbedder, AudioFeatures, ImageLoader)}


@dataclass
class Featurized:
    """What :func:`featurize` returns.

    X: float32 (n, d), or images (n, h, w) / (n, 3, h, w), or for a ``.npy`` file of at least
    :data:`~deepclust.data.source.STREAM_BYTES` as float32 an
    :class:`~deepclust.data.source.ArraySource` that reads it in blocks; y: labels or None; names: one name per
    row (file path, line or row number) or None; featurizer: what to save with the model (None for
    array files, which are used as they are); report: lines saying what was done; texts: the
    documents, for text; feature_names: the names of X's columns, for tables with a header;
    ids: ``(column, values)`` of a table's ID column (one dropped as ID-like), so that results can
    be joined back to the user's rows; frame: a table's rows as read (without the label column),
    to show them as the user knows them.
    """

    X: np.ndarray | ArraySource
    y: np.ndarray | None
    modality: str
    source: str
    featurizer: object | None = None
    names: list[str] | None = None
    report: list[str] = field(default_factory=list)
    texts: list[str] | None = None
    feature_names: list[str] | None = None
    ids: tuple[str, list[str]] | None = None
    frame: pd.DataFrame | None = None

    @property
    def input_scaling(self) -> str:
        """The ``input_scaling`` that fits ``X`` as ``deepclust fit`` does: the featurizer's where
        it has scaled the features already (``"none"`` for tables and text), else ``"auto"``."""
        return getattr(self.featurizer, "input_scaling", "auto")


def _id_values(df: pd.DataFrame, dropped: dict[str, str]) -> tuple[str, list[str]] | None:
    """The first column of ``df`` that the table preprocessing dropped as ID-like, and its values."""
    name = next((c for c, why in dropped.items() if why.startswith("ID-like") and c in df.columns), None)
    return None if name is None else (name, df[name].astype(str).tolist())


def detect_modality(path: str | os.PathLike, text_column: str | None = None) -> tuple[str, str]:
    """(modality, why) for a file or folder, from suffixes only (tables are looked into later)."""
    shown = str(path)
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise DeepclustError(f"{shown}: no such file or folder")
    if p.is_dir():
        groups = {"images": IMAGE_SUFFIXES, "audio": AUDIO_SUFFIXES, "text": TEXT_SUFFIXES}
        known = tuple(s for group in groups.values() for s in group)
        found = [f.suffix.lower() for f in find_files(p, known)]  # one walk of the folder
        counts = {m: sum(s in group for s in found) for m, group in groups.items()}
        modality, count = max(counts.items(), key=lambda item: item[1])
        if count == 0:
            raise DeepclustError(f"{shown}: the folder holds no files deepclust reads ({', '.join(known)})")
        noun = {"images": "image", "audio": "audio", "text": "text"}
        others = ", ".join(f"{n} {noun[m]}" for m, n in counts.items() if n and m != modality)
        ignored = f" (ignored: {others} files)" if others else ""
        return modality, f"a folder of {count} {noun[modality]} files{ignored}"
    suffix = file_suffix(p)
    if suffix in ARRAY_SUFFIXES:
        return "array", f"a {suffix} array file"
    if suffix in TEXT_SUFFIXES:
        return "text", f"a {suffix} file, one document per line"
    if suffix in TABLE_SUFFIXES or suffix in PARQUET_SUFFIXES:
        if text_column is not None:
            return "text", f"column '{text_column}' of a table"
        return "table", f"a {suffix} table"
    if suffix in AUDIO_SUFFIXES or suffix in IMAGE_SUFFIXES:
        raise DeepclustError(f"{shown}: a single {suffix} file; give the folder that holds the files to cluster")
    raise DeepclustError(
        f"{shown}: unsupported file type {suffix or '(no suffix)'!r}; deepclust reads tables "
        f"({', '.join((*TABLE_SUFFIXES, *PARQUET_SUFFIXES))}; the text ones also as .gz, .bz2 or .xz), arrays "
        "(.npy, .npz), text (.txt, one "
        "document per line) and folders of images, audio or text files"
    )


def featurize(
    path: str | os.PathLike,
    modality: str = "auto",
    *,
    label_column: str | None = None,
    ignore_columns: list[str] | None = None,
    text_column: str | None = None,
    text_backend: str = "auto",
    image_size: tuple[int, int] | None = None,
    image_mode: str = "L",
    audio_pooling: str = "summary",
    max_categories: int = 20,
    progress: bool = False,
) -> Featurized:
    """Read ``path`` and learn its preprocessing; see the module docstring. ``audio_pooling``:
    ``"summary"`` or ``"segments"`` (see :mod:`deepclust.data.audio`). With ``modality="auto"``
    an array file or a table of integer columns whose rows are flattened square 8-bit images
    (:data:`MIN_FLAT_IMAGE_SIDE`) comes back as images ``(n, side, side)``, modality ``"images"``
    (a ``.npy`` file read in blocks is judged on its first :data:`NEIGHBOUR_ROWS` rows)."""
    if modality not in MODALITIES:
        raise DeepclustError(f"modality must be one of {', '.join(MODALITIES)}; got {modality!r}")
    if text_backend not in BACKENDS:
        raise DeepclustError(f"text backend must be one of {', '.join(BACKENDS)}; got {text_backend!r}")
    if audio_pooling not in AUDIO_POOLINGS:
        raise DeepclustError(f"audio pooling must be one of {', '.join(AUDIO_POOLINGS)}; got {audio_pooling!r}")
    shown = str(path)
    p = Path(os.fspath(path)).expanduser()
    detected, why = detect_modality(p, text_column)
    automatic = modality == "auto"
    if automatic:
        modality = detected
        report = [f"modality: {modality} ({why})"]
    else:
        report = [f"modality: {modality} (--modality)"]
    if modality not in ("table", "text") and ignore_columns:
        raise DeepclustError("--ignore-columns applies to tables")

    if modality == "array":
        if p.suffix.lower() == ".npy" and label_column is None:
            size = int(np.prod(npy_header(p, shown)[0], dtype=np.int64)) * 4
            if size >= STREAM_BYTES:  # too large to hold as float32: read in blocks
                source = open_source(p)
                streamed = f"read in blocks: {source.n:,} rows, {size / 2**30:.1f} GiB as float32, stay in the file"
                images = _streamed_flat_images(source, shown, why, streamed) if automatic else None
                return images or Featurized(source, None, "array", shown, report=[*report, streamed])
        loaded = read_data(p, label_column=label_column)
        images = _flat_images(loaded.X, loaded.y, shown, why, "array") if automatic else None
        if images is not None:
            return images
        return Featurized(loaded.X, loaded.y, "array", shown, report=report,
                          feature_names=loaded.feature_names)
    if modality == "images":
        _require_dir(p, shown, modality)
        _no_label_column(label_column, shown)
        loaded = read_image_folder(p, mode=image_mode, size=image_size, source=shown)
        size = (loaded.X.shape[-1], loaded.X.shape[-2])
        loader = ImageLoader(size, image_mode)
        return Featurized(loaded.X, loaded.y, "images", shown, loader, loaded.names,
                          report + loader.report_)
    if modality == "audio":
        _require_dir(p, shown, modality)
        _no_label_column(label_column, shown)
        audio = AudioFeatures(audio_pooling)
        X, names, y = _read_audio(audio, p, shown, progress)
        return Featurized(X, y, "audio", shown, audio, names, report + audio.report_)
    if modality == "table":
        df, has_header = _table_frame(p, shown)
        df, y = take_label_column(df, shown, label_column, has_header)
        df, ignored = _drop_ignored(df, shown, ignore_columns)
        free_text = _free_text_column(df) if automatic else None
        if free_text is not None:  # the table is read already: its column is the documents
            report = [f"modality: text (column '{free_text}' of the table holds free text)"]
            documents = reported(column_documents(df[free_text], y, shown), shown)
            return _featurize_text(documents, shown, free_text, text_backend, report, progress)
        integers = all(pd.api.types.is_integer_dtype(dtype) for dtype in df.dtypes) and not df.isna().any().any()
        images = _flat_images(df, y, shown, why, "table") if automatic and integers else None
        if images is not None:
            return images
        table = TablePreprocessor(max_categories)
        X = table.fit_transform(df, shown)
        report += table.report_ + [f"ignored '{c}' (--ignore-columns)" for c in ignored]
        return Featurized(X, y, "table", shown, table, None, report,
                          feature_names=table.feature_names_out_, ids=_id_values(df, table.dropped_), frame=df)
    if text_column is None:
        _no_label_column(label_column, shown)
    documents = read_documents(p, shown, text_column, label_column)
    return _featurize_text(documents, shown, text_column, text_backend, report, progress)


def _featurize_text(documents: Documents, shown: str, text_column: str | None, backend: str,
                    report: list[str], progress: bool) -> Featurized:
    embedder = TextEmbedder(backend, text_column=text_column)
    X = embedder.fit(documents.texts).transform(documents.texts, progress)
    return Featurized(X, documents.y, "text", shown, embedder, documents.names,
                      report + embedder.report_, texts=documents.texts)


def apply_featurizer(featurizer, path: str | os.PathLike, *, label_column: str | None = None,
                     text_column: str | None = None, progress: bool = False) -> Featurized:
    """Read new data at ``path`` and turn it into features exactly as ``featurizer`` was fitted."""
    shown = str(path)
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise DeepclustError(f"{shown}: no such file or folder")
    kind = featurizer.kind
    if kind == "images":
        _require_dir(p, shown, kind)
        loaded = read_image_folder(p, mode=featurizer.mode, size=featurizer.size, source=shown)
        return Featurized(loaded.X, loaded.y, kind, shown, featurizer, loaded.names)
    if kind == "audio":
        _require_dir(p, shown, kind)
        X, names, y = _read_audio(featurizer, p, shown, progress)
        return Featurized(X, y, kind, shown, featurizer, names)
    if kind == "table":
        if file_suffix(p) not in (*TABLE_SUFFIXES, *PARQUET_SUFFIXES):
            raise DeepclustError(
                f"{shown}: the model was fitted on a table and finds its columns by name; give a "
                f"{', '.join((*TABLE_SUFFIXES, *PARQUET_SUFFIXES))} file with columns "
                f"{', '.join(featurizer.columns_in_[:10])}{', ...' if len(featurizer.columns_in_) > 10 else ''}"
            )
        df, has_header = _table_frame(p, shown)
        df, y = take_label_column(df, shown, label_column, has_header)
        return Featurized(featurizer.transform(df, shown), y, kind, shown, featurizer,
                          ids=_id_values(df, featurizer.dropped_))
    column = text_column if text_column is not None else featurizer.text_column
    if column is not None and p.is_file() and p.suffix.lower() in TEXT_SUFFIXES:
        column = None  # a plain text file has no columns
    if column is None:
        _no_label_column(label_column, shown)
    documents = read_documents(p, shown, column, label_column)
    return Featurized(featurizer.transform(documents.texts, progress), documents.y, kind, shown, featurizer,
                      documents.names, texts=documents.texts)


def featurizer_from_state(config: dict, arrays: dict[str, np.ndarray]):
    """Rebuild a saved featurizer; raises KeyError/ValueError/TypeError on a malformed state."""
    kind = config.get("kind")
    if kind not in FEATURIZERS:
        raise ValueError(f"unknown preprocessing kind {kind!r}")
    for name, array in arrays.items():
        if array.dtype.kind != "f":
            raise ValueError(f"preprocessing array {name!r} has dtype {array.dtype}, expected floats")
    return FEATURIZERS[kind].from_state(config, arrays)


def featurizer_state(featurizer) -> tuple[dict, dict[str, np.ndarray]]:
    """(JSON-ready config naming the featurizer's kind, arrays) for saving with a model."""
    config, arrays = featurizer.get_state()
    return {"kind": featurizer.kind, **config}, arrays


# --------------------------------------------------------------------------------------------------
# helpers


def _flat_images(rows: np.ndarray | pd.DataFrame, y, shown: str, why: str, flat: str) -> Featurized | None:
    """``rows`` (n, side²) as float32 images ``(n, side, side)`` if they are flattened 8-bit images
    (see :data:`MIN_FLAT_IMAGE_SIDE` and :data:`MIN_NEIGHBOUR_CONTRAST`), else None; ``flat`` is the
    modality that keeps them flat.
    Only rows of a square width are converted. No featurizer is kept: ``predict`` reads the rows
    as numbers, and the model takes them as flattened images of its shape."""
    found = _as_flat_images(rows)
    if found is None:
        return None
    images, hi = found
    return Featurized(images, y, "images", shown, report=[_flat_images_line(why, images.shape[-1], hi, flat)])


def _streamed_flat_images(source: ArraySource, shown: str, why: str, streamed: str) -> Featurized | None:
    """``source``'s flat rows read as images ``(side, side)`` in blocks if its first
    :data:`NEIGHBOUR_ROWS` rows are flattened 8-bit images (:func:`_as_flat_images`), else None."""
    found = _as_flat_images(source[:NEIGHBOUR_ROWS]) if source.ndim == 2 else None
    if found is None:
        return None
    sample, hi = found
    side = sample.shape[-1]
    judged = f", judged on the first {len(sample):,} rows"
    return Featurized(source.reshaped((side, side)), None, "images", shown,
                      report=[_flat_images_line(why, side, hi, "array", judged), streamed])


def _as_flat_images(rows: np.ndarray | pd.DataFrame) -> tuple[np.ndarray, float] | None:
    """``(rows as float32 images (n, side, side), their largest value)`` when ``rows``
    ``(n, side²)`` are flattened 8-bit images (:data:`MIN_FLAT_IMAGE_SIDE`,
    :data:`MIN_NEIGHBOUR_CONTRAST`), else None; rows of another width are not converted."""
    side = math.isqrt(rows.shape[1]) if rows.ndim == 2 else 0
    if side < MIN_FLAT_IMAGE_SIDE or side * side != rows.shape[1]:
        return None
    X = np.asarray(rows, np.float32)
    hi = float(X.max())
    if float(X.min()) < 0 or not 1 < hi <= 255 or not np.array_equal(X, np.round(X)):
        return None
    images = X.reshape(-1, side, side)
    if _neighbour_contrast(images[:NEIGHBOUR_ROWS]) < MIN_NEIGHBOUR_CONTRAST:
        return None
    return images, hi


def _flat_images_line(why: str, side: int, hi: float, flat: str, judged: str = "") -> str:
    """The report line of rows read as flattened images; ``flat`` is the modality that keeps them flat."""
    return (f"modality: images ({why}, {side * side} whole numbers from 0 to {hi:g} a row{judged}: read as "
            f"flattened {side}x{side} grayscale images; --modality {flat} keeps the rows flat)")


def _neighbour_contrast(images: np.ndarray) -> float:
    """How much more each pixel of the ``(n, h, w)`` images correlates, over the images, with its
    right and lower neighbours than with the pixels half a side to its right and below, or with its
    right neighbour than a row's last pixel with the next row's first, whichever is less (pixels
    constant over the images left out)."""
    Z = images.astype(np.float64) - images.mean(axis=0)
    spread = Z.std(axis=0)
    varies = spread > 0
    Z = Z / np.where(varies, spread, 1)

    def mean_correlation(a: np.ndarray, b: np.ndarray, both: np.ndarray) -> float:
        products = (a * b).mean(axis=0)[both]
        return float(products.mean()) if products.size else 0.0

    def correlation(dy: int, dx: int) -> float:
        h, w = varies.shape
        return mean_correlation(Z[:, :h - dy, :w - dx], Z[:, dy:, dx:], varies[:h - dy, :w - dx] & varies[dy:, dx:])

    far = images.shape[1] // 2
    right = correlation(0, 1)
    spatial = (right + correlation(1, 0) - correlation(0, far) - correlation(far, 0)) / 2
    row_break = right - mean_correlation(Z[:, :-1, -1], Z[:, 1:, 0], varies[:-1, -1] & varies[1:, 0])
    return min(spatial, row_break)


def _require_dir(p: Path, shown: str, modality: str) -> None:
    if not p.is_dir():
        raise DeepclustError(f"{shown}: {modality} are read from a folder; this is a file")


def _no_label_column(label_column: str | None, shown: str) -> None:
    if label_column is not None:
        raise DeepclustError(
            f"{shown}: --label-column applies to tables; a folder takes its labels from its "
            "subfolder names, and a text file has none"
        )


def _table_frame(p: Path, shown: str) -> tuple[pd.DataFrame, bool]:
    if p.is_dir():
        raise DeepclustError(f"{shown}: a table must be a file (.csv, .tsv, .parquet), not a folder")
    return read_table_frame(p, shown)


def _drop_ignored(df: pd.DataFrame, shown: str, ignore: list[str] | None) -> tuple[pd.DataFrame, list[str]]:
    ignore = [str(c) for c in ignore or []]
    absent = [c for c in ignore if c not in df.columns]
    if absent:
        raise DeepclustError(
            f"{shown}: --ignore-columns names {', '.join(repr(c) for c in absent)}, not a column of the "
            f"table; columns are: {', '.join(map(str, df.columns))}"
        )
    kept = df.drop(columns=ignore)
    if kept.shape[1] == 0:
        raise DeepclustError(f"{shown}: --ignore-columns leaves no column to cluster")
    return kept, ignore


def _free_text_column(df: pd.DataFrame) -> str | None:
    """The only column of ``df`` when it holds free text (several words per value), else None."""
    if df.shape[1] != 1 or pd.api.types.is_numeric_dtype(df.iloc[:, 0]):
        return None
    words = df.iloc[:, 0].dropna().astype(str).str.split().str.len()
    return str(df.columns[0]) if len(words) and words.mean() >= FREE_TEXT_WORDS else None


def _read_audio(audio: AudioFeatures, root: Path, shown: str, progress: bool):
    files = find_files(root, AUDIO_SUFFIXES)
    if not files:
        raise DeepclustError(f"{shown}: no audio files found (looked recursively for {', '.join(AUDIO_SUFFIXES)})")
    X, names, skipped = audio.features(files, root, shown, progress)
    warn_skipped(shown, "audio files", skipped, len(files))
    if not names:
        raise DeepclustError(f"{shown}: none of the {len(files)} audio files could be read")
    return X, names, labels_from_subfolders(names, shown)


__all__ = ["MODALITIES", "Featurized", "ImageLoader", "apply_featurizer", "detect_modality",
           "featurize", "featurizer_from_state", "featurizer_state"]
