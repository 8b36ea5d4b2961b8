"""Readers that turn a user's file or folder into arrays.

``read_data(path)`` dispatches on the suffix:

* ``.csv``, ``.tsv``/``.tab`` – a table read with pandas; the first row is a header when none
  of its cells is a number.
* ``.parquet``/``.pq`` – a table read with pyarrow (through pandas).
* ``.npy`` – one array, memory-mapped, never unpickled.
* ``.npz`` – arrays named ``X``/``x``/``data`` (data) and ``y``/``labels`` (labels), or its
  single array.
* a directory – a folder of PNG/JPEG images, searched recursively; ``root/<class>/<image>``
  gives labels.

Every problem with the user's file is raised as :class:`~deepclust.exceptions.DeepclustError`, one
line that names the file and, where it applies, the column, row, shape or value. Row numbers in
messages about tables count data rows from 1 (the header is not counted); positions in arrays are
0-based NumPy indices.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import re
import tokenize
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Union

import numpy as np
import pandas as pd

from deepclust.exceptions import DeepclustError

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["LoadedData", "read_data", "read_labels", "read_image_folder", "SUPPORTED_SUFFIXES"]

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
#: compressions a text table may be stored in (``data.csv.gz``), each with its opener
COMPRESSED_SUFFIXES = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
PARQUET_SUFFIXES = (".parquet", ".pq")
ARRAY_SUFFIXES = (".npy", ".npz")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SUPPORTED_SUFFIXES: tuple[str, ...] = (*TABLE_SUFFIXES, *PARQUET_SUFFIXES, *ARRAY_SUFFIXES)

NPZ_DATA_KEYS = ("X", "x", "data")
NPZ_LABEL_KEYS = ("y", "labels")
LABEL_COLUMN_NAMES = ("label", "labels", "y", "cluster")
#: labels files read as text, one label a line (or a table of columns)
TEXT_LABEL_SUFFIXES = (".csv", ".txt", ".tsv", ".tab")

_CHUNK_BYTES = 64 * 2**20  # finiteness is checked in row blocks of about this size
#: what a text file that is not UTF-8 is read as: the code page Excel and Windows save text in for
#: Western European languages (Latin-1's letters, plus the euro sign and typographic quotes)
FALLBACK_ENCODING = "cp1252"
T = TypeVar("T")
#: a comment line above a table: "#" alone or followed by a space ("# units: mm")
_COMMENT = re.compile(r"#(\s|$)")
#: rows :func:`_detect_header` compares the first row with
HEADER_PROBE_ROWS = 200
#: what NumPy's .npy/.npz parsing raises on corrupt bytes (headers are parsed as Python literals,
#: members are zip entries)
_ARRAY_FILE_ERRORS = (ValueError, OSError, EOFError, SyntaxError, TypeError, tokenize.TokenError,
                      zipfile.BadZipFile, zlib.error, NotImplementedError)


@dataclass
class LoadedData:
    """What :func:`read_data` returns.

    X: float32, shape (n, d) for tables and 2-D arrays, (n, h, w) or (n, c, h, w) for images.
       A float32 ``.npy`` file comes back memory-mapped (read-only) rather than copied.
    y: labels of shape (n,) (integers or strings), or None when the input carries none.
    kind: "table", "array" or "images".
    source: the path as given.
    feature_names: column names for tables with a header row, else None.
    names: per-row names for image folders (paths relative to the folder, "/"-separated), else None.
    """

    X: np.ndarray
    y: np.ndarray | None
    kind: str
    source: str
    feature_names: list[str] | None = None
    names: list[str] | None = None


# --------------------------------------------------------------------------------------------------
# small helpers


def _short(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message, shortened for a one-line error."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quote_list(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def plain_list(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def _first_nonfinite(arr: np.ndarray) -> tuple[int, ...] | None:
    """0-based index of the first NaN/inf in ``arr`` (row-major), or None; checked in blocks."""
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.floating):
        return None
    row_bytes = max(1, arr[:1].nbytes)
    step = max(1, _CHUNK_BYTES // row_bytes)
    for start in range(0, arr.shape[0], step):
        block = np.asarray(arr[start : start + step])
        bad = ~np.isfinite(block)
        if bad.any():
            flat = int(np.argmax(bad.reshape(-1)))
            idx = np.unravel_index(flat, block.shape)
            return (start + int(idx[0]), *map(int, idx[1:]))
    return None


def _labels_array(values: pd.Series | np.ndarray) -> np.ndarray:
    """Labels as int64 when they are whole numbers, float64 for other numbers, else str."""
    arr = np.asarray(values)
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        return arr.astype(np.float64)
    if arr.dtype.kind in "US":
        return arr.astype(str)
    return np.asarray(pd.Series(arr).astype(str).to_numpy(), dtype=str)


def _check_exists(path: Path, shown: str) -> None:
    if not path.exists():
        raise DeepclustError(f"{shown}: no such file or folder")


# --------------------------------------------------------------------------------------------------
# public entry points


def file_suffix(path: Path) -> str:
    """``path``'s suffix in lower case; for a compressed text table (``data.csv.gz``), the table's."""
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) > 1 and suffixes[-1] in COMPRESSED_SUFFIXES and suffixes[-2] in TABLE_SUFFIXES:
        return suffixes[-2]
    return path.suffix.lower()


def read_data(
    path: PathLike, label_column: str | None = None, *, image_mode: str = "L"
) -> LoadedData:
    """Read a table, array file or image folder into a :class:`LoadedData`.

    ``label_column`` names the column of a table that holds labels (it is removed from X); for a
    table without a header row, columns are named by their 0-based position ("0", "1", ...). For an
    ``.npz`` file it names the labels array. ``image_mode`` is "L" (grayscale, X of shape (n, h, w))
    or "RGB" (X of shape (n, 3, h, w)) for image folders.
    """
    shown = str(path)
    p = Path(os.fspath(path)).expanduser()
    _check_exists(p, shown)
    if p.is_dir():
        if label_column is not None:
            raise DeepclustError(
                f"{shown}: label_column applies to tables; an image folder takes its labels from "
                "its subfolder names"
            )
        return read_image_folder(p, mode=image_mode, source=shown)
    suffix = file_suffix(p)
    if suffix not in SUPPORTED_SUFFIXES:
        raise DeepclustError(
            f"{shown}: unsupported file type {suffix or '(no suffix)'!r}; supported are "
            f"{', '.join(SUPPORTED_SUFFIXES)} or a folder of PNG/JPEG images"
        )
    if p.stat().st_size == 0:
        raise DeepclustError(f"{shown}: the file is empty")
    if suffix in TABLE_SUFFIXES or suffix in PARQUET_SUFFIXES:
        df, has_header = read_table_frame(p, shown)
        return _table_to_loaded(df, shown, label_column, has_header)
    if suffix == ".npy":
        if label_column is not None:
            raise DeepclustError(
                f"{shown}: label_column applies to tables and .npz files, not .npy"
            )
        X = _read_npy(p, shown)
        return LoadedData(X=X, y=None, kind="array", source=shown)
    X, y = _read_npz(p, shown, label_column)
    return LoadedData(X=X, y=y, kind="array", source=shown)


def read_labels(path: PathLike, column: str | None = None) -> np.ndarray:
    """Read a labels file into an array of shape (n,) (int64 for whole numbers, else float or str).

    Accepts ``.npy`` (1-D or (n, 1)), ``.npz`` (array ``y``/``labels`` or its single array), and
    ``.csv``/``.tsv``/``.txt`` with one column, or several of which ``column`` (by its header
    name) or else the one named label/labels/y/cluster (the last column otherwise) is used. A
    header row is allowed.
    """
    shown = str(path)
    p = Path(os.fspath(path)).expanduser()
    _check_exists(p, shown)
    if p.is_dir():
        raise DeepclustError(f"{shown}: is a folder; expected a labels file (.csv, .txt, .npy)")
    suffix = p.suffix.lower()
    if p.stat().st_size == 0:
        raise DeepclustError(f"{shown}: the file is empty")
    if suffix == ".npy":
        labels = _load_npy_full(p, shown)
    elif suffix == ".npz":
        labels = _read_npz_labels(p, shown)
    elif suffix in TEXT_LABEL_SUFFIXES:
        return _read_text_labels(p, shown, "\t" if suffix in (".tsv", ".tab") else None, column)
    else:
        raise DeepclustError(
            f"{shown}: unsupported labels file type {suffix or '(no suffix)'!r}; "
            "supported are .csv, .txt, .tsv, .npy, .npz"
        )
    if column is not None:
        raise DeepclustError(f"{shown}: a column name ({column!r}) needs a table of labels (.csv, .tsv)")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DeepclustError(f"{shown}: labels must be 1-D, got shape {labels.shape}")
    if labels.shape[0] == 0:
        raise DeepclustError(f"{shown}: no labels in the file")
    if labels.dtype.kind == "f":
        bad = _first_nonfinite(labels)
        if bad is not None:
            raise DeepclustError(f"{shown}: missing or infinite label at index {bad[0]}")
    return _labels_array(labels)


# --------------------------------------------------------------------------------------------------
# tables


def _looks_numeric(values: pd.Series, decimal: str = ".") -> pd.Series:
    """Boolean mask: which string cells parse as numbers written with ``decimal`` as the decimal
    mark (with a decimal comma, as :func:`_decimal_comma_numbers` reads them: points may group
    thousands, and a currency sign, a percent sign or parentheses may stand around the number:
    ``1.234,5``, ``€ 1.000``, ``12,5 %``)."""
    if decimal == ".":
        return pd.to_numeric(values, errors="coerce").notna()
    cells = _without_marks(values)
    grouped = cells.str.fullmatch(_DECIMAL_COMMA, na=False)
    return pd.to_numeric(cells.str.replace(decimal, ".", regex=False), errors="coerce").notna() | grouped


def _detect_header(path: Path, shown: str, sep: str, decimal: str, encoding: str, skip: int) -> bool:
    """Whether the first row names the columns, judged on the first :data:`HEADER_PROBE_ROWS` rows:
    when none of its cells is a number (written with ``decimal`` as the decimal mark) and one is
    present, or when one of its cells is text over a column of numbers (``x1`` over ``0.5``), or
    a value found nowhere below in a column of repeated values (``species`` over ``setosa``, ...).
    Missing-value markers (``NA``, ``?``, ...) are not text; a row of numbers over numbers is data."""
    # rows of more fields than the first are left to the full read, which names them
    rows = _read_csv_checked(path, shown, sep=sep, header=None, nrows=HEADER_PROBE_ROWS, dtype=str, skiprows=skip,
                             na_values=["?"], encoding=encoding, on_bad_lines="skip")
    if rows.empty:
        raise DeepclustError(f"{shown}: the file is empty")
    rows = rows.apply(lambda column: column.str.strip()).replace("", np.nan)
    first, below = rows.iloc[0], rows.iloc[1:]
    numeric = _looks_numeric(first.fillna(""), decimal).to_numpy()
    if not numeric.any():
        return bool(first.notna().any())
    for name in first.index[first.notna().to_numpy() & ~numeric]:
        values = below[name].dropna()
        if values.empty:
            continue
        if _looks_numeric(values, decimal).all() or (first[name] not in set(values)
                                                     and values.nunique() <= len(values) // 2):
            return True
    return False


def read_decoded(read: Callable[[str], T], shown: str, fell_back: Callable[[str], object] | None = None) -> T:
    """``read(encoding)`` of a text file: in UTF-8 (with or without a byte-order mark), or, when
    the file is not UTF-8, again in :data:`FALLBACK_ENCODING` with a warning saying so (or,
    given ``fell_back``, a call ``fell_back(shown)`` instead); a file that decodes as neither
    is refused."""
    try:
        return read("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        result = read(FALLBACK_ENCODING)
    except UnicodeDecodeError:
        raise DeepclustError(f"cannot read {shown}: neither UTF-8 nor Windows-1252 text") from None
    if fell_back is not None:
        fell_back(shown)
    else:
        warnings.warn(f"{shown}: not UTF-8 text; read as Windows-1252, the encoding Excel saves in on "
                      "Western European Windows", UserWarning, stacklevel=4)
    return result


def _read_csv_checked(path: Path, shown: str, **options) -> pd.DataFrame:
    """``pd.read_csv`` with its failures turned into one-line errors naming the file."""
    try:
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        raise DeepclustError(f"{shown}: the file is empty") from None
    except UnicodeDecodeError:
        raise  # for read_decoded
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise DeepclustError(f"cannot read {shown}: {_short(exc)}") from None


def _separator_and_decimal(path: Path, sep: str, encoding: str) -> tuple[str, str, int]:
    """The field separator and decimal mark of a text table whose suffix names ``sep``, and the
    lines before its first row: comment lines (``#`` then a space, or alone) at the top are
    skipped (a header ``#,name`` or ``#id,x`` is not one), and so is a line ``sep=X`` after
    them, which Excel writes and reads to declare the separator ``X``.
    A ``.csv`` file whose first row holds ``;`` and either no ``,`` (a header) or, between the
    semicolons, only numbers (a first row of data) is semicolon-separated with decimal commas,
    as spreadsheets write CSV where the comma is the decimal mark (``6,99;-8,28``); so is one
    that declares ``sep=;``."""
    skip = 0
    with COMPRESSED_SUFFIXES.get(path.suffix.lower(), open)(path, "rt", encoding=encoding) as fh:
        first = fh.readline().rstrip("\r\n")
        while _COMMENT.match(first) and (line := fh.readline()):  # comment lines above the table
            first, skip = line.rstrip("\r\n"), skip + 1
        declared = re.fullmatch(r"sep=(.)", first)
        if declared:
            first, skip = fh.readline().rstrip("\r\n"), skip + 1
    if declared:
        sep = declared.group(1)
        if sep != ";":
            return sep, ".", skip
    elif sep != "," or ";" not in first:
        return sep, ".", skip
    cells = pd.Series(first.split(";")).str.strip()
    present = cells != ""
    numbers = bool(present.any() and _looks_numeric(cells[present], ",").all())
    return (";", ",", skip) if "," not in first or numbers else (sep, ".", skip)


def _read_text_table(path: Path, shown: str, sep: str) -> tuple[pd.DataFrame, bool]:
    return read_decoded(lambda encoding: _read_text_table_in(path, shown, sep, encoding), shown)


def _read_text_table_in(path: Path, shown: str, sep: str, encoding: str) -> tuple[pd.DataFrame, bool]:
    sep, decimal, skip = _separator_and_decimal(path, sep, encoding)
    has_header = _detect_header(path, shown, sep, decimal, encoding, skip)
    # index_col=False: a row with one more field than the header (a separator at the end of
    # every row) is not read as an index column followed by shifted values; a cell of "?" is
    # missing (UCI's convention), besides pandas' own markers (NA, n/a, null, ...)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        df = _read_csv_checked(path, shown, sep=sep, decimal=decimal, header=0 if has_header else None,
                               index_col=False, na_values=["?"], encoding=encoding, skiprows=skip)
    longer = any("does not match length of data" in str(w.message) for w in caught)
    if decimal == ",":
        df = df.apply(_decimal_comma_numbers)
    first_line = str(df.columns[0]) if has_header else str(df.iat[0, 0])
    others = [s for s in (";", "\t", ",", "|") if s != sep and s in first_line]
    if longer:  # pandas would drop the extra fields
        hint = (f"; the header holds {others[0]!r}: deepclust reads .csv files as comma-separated (or "
                "semicolon-separated when the first line is) and .tsv/.tab files as tab-separated"
                if others else "")
        raise DeepclustError(f"{shown}: some rows have more fields than the header's {df.shape[1]}{hint}")
    if df.shape[1] == 1 and not pd.api.types.is_numeric_dtype(df.iloc[:, 0]):
        if others:
            raise DeepclustError(
                f"{shown}: found a single column whose values contain {others[0]!r}; "
                "deepclust reads .csv files as comma-separated (or semicolon-separated when the first "
                "line is) and .tsv/.tab files as tab-separated, so rename the file or change its separator"
            )
    if not has_header:
        df.columns = [str(i) for i in range(df.shape[1])]
        return df, has_header
    df.columns = [str(c).strip() for c in df.columns]
    # trailing separators give wholly empty columns with an empty header: not features
    unnamed_empty = [
        c for c in df.columns if c.startswith("Unnamed: ") and df[c].isna().all()
    ]
    if unnamed_empty:
        df = df.drop(columns=unnamed_empty)
    if df.shape[1] > 0 and str(df.columns[0]).startswith("Unnamed: 0"):
        # pandas' DataFrame.to_csv() writes the index as a first column with an empty header.
        first = df.iloc[:, 0]
        if pd.api.types.is_integer_dtype(first) and np.array_equal(
            first.to_numpy(), np.arange(len(first))
        ):
            df = df.iloc[:, 1:]
    return df, has_header


def _read_parquet(path: Path, shown: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001  pyarrow's decoders and pandas' metadata handling
        # raise many types (ArrowException, KeyError from corrupt pandas metadata, ...) on bad bytes
        raise DeepclustError(f"cannot read {shown}: {_short(exc)}") from None


def read_table_frame(path: Path, shown: str) -> tuple[pd.DataFrame, bool]:
    """A CSV/TSV or Parquet file as a DataFrame with string column names, and whether it had a
    header row (without one, columns are named "0", "1", ...). Cells are not checked."""
    suffix = file_suffix(path)
    if path.stat().st_size == 0:
        raise DeepclustError(f"{shown}: the file is empty")
    if suffix in TABLE_SUFFIXES:
        df, has_header = _read_text_table(path, shown, TABLE_SUFFIXES[suffix])
    elif suffix in PARQUET_SUFFIXES:
        df, has_header = _read_parquet(path, shown), True
    else:
        raise DeepclustError(f"{shown}: not a table; expected {', '.join((*TABLE_SUFFIXES, *PARQUET_SUFFIXES))}")
    df = df.copy(deep=False)
    df.columns = [str(c) for c in df.columns]
    if df.shape[0] == 0:
        raise DeepclustError(f"{shown}: no data rows")
    return df, has_header


def take_label_column(
    df: pd.DataFrame, shown: str, label_column: str | None, has_header: bool
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """``df`` without ``label_column``, and that column's values as labels (None when not given)."""
    if label_column is None:
        return df, None
    label_column = str(label_column)
    if label_column not in df.columns:
        cols = plain_list(list(df.columns))
        note = "" if has_header else " (the file has no header row, so columns are numbered)"
        raise DeepclustError(f"{shown}: no column named '{label_column}'; columns are: {cols}{note}")
    labels = df[label_column]
    missing = labels.isna().to_numpy()
    if missing.any():
        row = int(np.argmax(missing)) + 1
        raise DeepclustError(f"{shown}: label column '{label_column}' has a missing value at row {row}")
    return df.drop(columns=[label_column]), _labels_array(labels)


def _table_to_loaded(
    df: pd.DataFrame, shown: str, label_column: str | None, has_header: bool
) -> LoadedData:
    df, y = take_label_column(df, shown, label_column, has_header)
    if df.shape[1] == 0:
        raise DeepclustError(f"{shown}: no feature columns (only the label column)")

    df = _check_numeric_columns(df, shown, has_header)

    with np.errstate(over="ignore", invalid="ignore"):
        X = df.to_numpy(dtype=np.float32, na_value=np.nan)
    bad = _first_nonfinite(X)
    if bad is not None:
        r, c = bad
        original = df.iat[r, c]
        if pd.isna(original):
            what = "a missing value"
        elif np.isinf(float(original)):
            what = "an infinite value"
        else:
            what = f"the value {float(original)!r}, too large for float32,"
        raise DeepclustError(f"{shown}: column '{df.columns[c]}' has {what} at row {r + 1}")
    return LoadedData(
        X=X,
        y=y,
        kind="table",
        source=shown,
        feature_names=list(df.columns) if has_header else None,
    )


#: a negative number as accounts write it, in parentheses ("(1,234.50)", "($12)")
_PARENTHESES = re.compile(r"^\((.*)\)$")
#: a currency symbol before a number, after an optional sign ("$12", "-€ 3.50")
_CURRENCY = re.compile(r"^([-+]?)\s*[$€£¥]\s*")
#: a percent sign after a number ("45.2%", "12 %")
_PERCENT = re.compile(r"\s*%$")
#: a number with commas between groups of three digits ("1,234", "-12,345,678.9")
_THOUSANDS = re.compile(r"[-+]?[1-9]\d{0,2}(,\d{3})+(\.\d+)?")
#: the same with spaces (plain, no-break or narrow no-break) between the groups ("1 234 567")
_SPACED = re.compile(r"[-+]?[1-9]\d{0,2}([ \u00a0\u202f]\d{3})+(\.\d+)?")


#: a number written with a decimal comma, and points between groups of three digits or none
#: ("1.234.567,5", "-12,5", "1234")
_DECIMAL_COMMA = re.compile(r"[-+]?([1-9]\d{0,2}(\.\d{3})+|\d+)(,\d+)?")


def _without_marks(cells: pd.Series) -> pd.Series:
    """String cells stripped of what reports write around a number: spaces, parentheses around a
    negative one (``(12)`` becomes ``-12``), a currency sign before it and a percent sign after it."""
    cells = cells.str.strip().str.replace(_PARENTHESES, r"-\1", regex=True)
    return cells.str.replace(_CURRENCY, r"\1", regex=True).str.replace(_PERCENT, "", regex=True)


def _decimal_comma_numbers(col: pd.Series) -> pd.Series:
    """A text column of a file with decimal commas, read as numbers when every present cell is one
    with points between groups of three digits (``1.234,5`` is 1234.5), possibly with a currency
    sign, a percent sign or parentheses as :func:`parse_numbers` takes them (``€ 3,25`` is 3.25,
    ``12,5 %`` 12.5); any other column is returned as it is. pandas' own ``thousands="."`` would
    also read ``1.5`` as 15, which is why the grouping is checked."""
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return col
    present = col.notna()
    cells = _without_marks(col[present].astype(str))
    if cells.empty or not cells.str.fullmatch(_DECIMAL_COMMA).all():
        return col
    numbers = pd.Series(np.nan, index=col.index)
    numbers[present] = pd.to_numeric(cells.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    return numbers


def parse_numbers(col: pd.Series) -> pd.Series:
    """Each cell of ``col`` read as a number; missing where it is missing or not a number.

    Numbers as spreadsheets and reports write them are read too: a currency symbol before them
    (``$``, ``€``, ``£``, ``¥``), a percent sign after them (``45.2%`` is 45.2, the number as
    written), parentheses around a negative one (``(1,234)`` is -1234), and commas or spaces
    between groups of three digits (``1,234.5``, ``1 234.5``). Commas are taken for thousands
    only when every comma of the column stands so: a column holding ``2,5`` writes decimal
    commas, and none of its commas is removed. Spaces likewise: a column holding ``1 2`` keeps
    its spaces, and those cells stay missing."""
    try:
        text = col.astype(str).where(col.notna())
        values = pd.to_numeric(text, errors="coerce")
    except (TypeError, ValueError):  # nested values (lists, dicts) in parquet
        return pd.Series(np.nan, index=col.index)
    failed = text.notna() & values.isna()
    if failed.any():
        cells = _without_marks(text[failed])
        for separator, grouped in ((",", _THOUSANDS), ("[ \u00a0\u202f]", _SPACED)):
            separated = cells.str.contains(separator)
            if not (separated & ~cells.str.fullmatch(grouped)).any():
                cells = cells.str.replace(separator, "", regex=True)
        values[failed] = pd.to_numeric(cells, errors="coerce")
    return values


def _check_numeric_columns(df: pd.DataFrame, shown: str, has_header: bool) -> pd.DataFrame:
    """Raise a DeepclustError naming the columns that are not numeric.

    Object columns whose every value parses as a number (e.g. numbers stored as strings in a
    parquet file) are converted and the frame is returned.
    """
    non_numeric = [
        c
        for c in df.columns
        if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))
    ]
    if not non_numeric:
        return df
    all_text: list[str] = []
    partial: list[tuple[str, int, Any]] = []  # (column, 0-based row, value) of the first bad cell
    for c in non_numeric:
        col = df[c]
        present = col.notna()
        values = parse_numbers(col)
        parsed = values.notna()
        bad = (present & ~parsed).to_numpy()
        if not bad.any():  # every present value is a number (or the column is all missing)
            df[c] = values
        elif parsed.any():
            r = int(np.argmax(bad))
            partial.append((c, r, col.iat[r]))
        else:
            all_text.append(c)
    if not all_text and not partial:
        return df
    if not has_header and partial and all(r == 0 for _, r, _ in partial) and not all_text:
        cells = ", ".join(str(v) for v in df.iloc[0].tolist()[:10])
        raise DeepclustError(
            f"{shown}: the first row mixes numbers and text ({cells}); if it is a header row, "
            "give every column a non-numeric name"
        )
    if all_text:
        raise DeepclustError(
            f"{shown}: non-numeric columns: {quote_list(all_text)}. Remove them, or name the "
            "label column (--label-column on the command line, label_column= in Python)"
        )
    c, r, value = partial[0]
    raise DeepclustError(f"{shown}: column '{c}' has a non-numeric value {value!r} at row {r + 1}")


def _read_text_labels(path: Path, shown: str, sep: str | None, name: str | None = None) -> np.ndarray:
    raw = read_decoded(lambda encoding: _read_csv_checked(
        path, shown, sep=sep if sep is not None else ",", encoding=encoding, header=None, dtype=str,
        keep_default_na=False, na_filter=False, skip_blank_lines=True), shown)
    if raw.shape[0] == 0 or raw.shape[1] == 0:
        raise DeepclustError(f"{shown}: no labels in the file")
    raw = raw.apply(lambda s: s.str.strip())
    first = raw.iloc[0]
    numeric = raw.apply(_looks_numeric)
    lowered = first.str.lower()
    known = lowered.isin(LABEL_COLUMN_NAMES)
    if name is not None:
        if name not in set(first):
            raise DeepclustError(f"{shown}: no column {name!r} in the header; columns are "
                                 + ", ".join(map(str, first.tolist()[:20])))
        known = first == name
    col = int(np.argmax(known.to_numpy())) if known.any() else raw.shape[1] - 1
    column = raw.iloc[:, col]
    rest = column.iloc[1:]
    first_row_text = not numeric.iloc[0].any() and (first != "").any()
    has_header = False
    if first_row_text and raw.shape[0] > 1:
        has_header = bool(
            known.any() or name is not None
            or numeric.iloc[1:].all(axis=0).any()  # some column is numbers below a text cell
            or (
                (rest != column.iloc[0]).all() and rest.duplicated().any()
            )  # a one-off name above repeated class names
        )
    values = rest if has_header else column
    if len(values) == 0:
        raise DeepclustError(f"{shown}: a header row but no labels")
    empty = (values == "").to_numpy()
    if empty.any():
        row = int(np.argmax(empty)) + 1
        raise DeepclustError(f"{shown}: missing label at row {row}")
    as_num = pd.to_numeric(values, errors="coerce")
    if as_num.notna().all():
        arr = as_num.to_numpy()
        bad = _first_nonfinite(arr.astype(np.float64))
        if bad is not None:
            raise DeepclustError(f"{shown}: infinite or NaN label at row {bad[0] + 1}")
        return _labels_array(arr)
    return values.to_numpy().astype(str)


# --------------------------------------------------------------------------------------------------
# .npy / .npz


def npy_header(path: Path, shown: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype of a .npy file, read without loading (or unpickling) it."""
    try:
        with open(path, "rb") as fh:
            return _read_npy_header(fh, shown)
    except OSError as exc:
        raise DeepclustError(f"cannot read {shown}: not a valid .npy file ({_short(exc)})") from None


def _read_npy_header(fh, shown: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``npy_header`` from an open file, which is left at the first byte of the data."""
    import numpy.lib.format as fmt

    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            return fmt.read_array_header_1_0(fh)
        # 2.0 and 3.0 share the layout (3.0 only allows UTF-8 field names)
        return fmt.read_array_header_2_0(fh)
    except _ARRAY_FILE_ERRORS as exc:
        reason = _short(exc)
        raise DeepclustError(f"cannot read {shown}: not a valid .npy file ({reason})") from None


def _refuse_dtype(dtype: np.dtype, shown: str, what: str = "the array") -> None:
    if dtype.hasobject:
        raise DeepclustError(
            f"{shown}: {what} holds Python objects (dtype {dtype}), which can only be loaded by "
            "unpickling; deepclust never unpickles files. Save a numeric array instead, "
            "e.g. np.save(path, X.astype('float32'))"
        )
    if dtype.names is not None:
        raise DeepclustError(
            f"{shown}: {what} is a structured array (fields {', '.join(dtype.names)}); "
            "save a plain numeric array instead"
        )


def _check_numeric_dtype(dtype: np.dtype, shown: str, what: str = "the array") -> None:
    _refuse_dtype(dtype, shown, what)
    if dtype.kind not in "biuf":
        raise DeepclustError(
            f"{shown}: {what} has non-numeric dtype {dtype}; expected integers or floats"
        )


def _check_array_shape(shape: tuple[int, ...], shown: str, what: str = "the array") -> None:
    ndim = len(shape)
    if ndim == 1:
        raise DeepclustError(
            f"{shown}: {what} is 1-D with shape {shape}; reshape it to (n_samples, n_features), "
            "e.g. X.reshape(-1, 1) for a single feature"
        )
    if ndim not in (2, 3, 4):
        raise DeepclustError(
            f"{shown}: {what} has {ndim} dimensions (shape {shape}); expected 2 (n, features), "
            "3 (n, h, w images) or 4 (n, c, h, w images)"
        )
    if shape[0] == 0:
        raise DeepclustError(f"{shown}: {what} has no rows (shape {shape})")
    if 0 in shape[1:]:
        raise DeepclustError(f"{shown}: {what} has an empty dimension (shape {shape})")


def _to_float32_checked(
    arr: np.ndarray, shown: str, what: str = "the array", row_offset: int = 0
) -> np.ndarray:
    """``arr`` as float32, refusing NaN/inf (or overflow) with its index; ``row_offset`` is added
    to the row of that index when ``arr`` is a block of a larger array."""
    with np.errstate(over="ignore", invalid="ignore"):
        X = np.asarray(arr, dtype=np.float32)
    bad = _first_nonfinite(X)
    if bad is not None:
        idx = ", ".join(map(str, (bad[0] + row_offset, *bad[1:])))
        original = arr[bad]
        if np.isnan(original):
            kind = "a missing (NaN) value"
        elif np.isinf(original):
            kind = "an infinite value"
        else:
            kind = f"the value {float(original)!r}, too large for float32,"
        raise DeepclustError(f"{shown}: {what} has {kind} at index [{idx}]")
    return X


def _read_npy(path: Path, shown: str) -> np.ndarray:
    shape, _fortran, dtype = npy_header(path, shown)
    _check_numeric_dtype(dtype, shown)
    _check_array_shape(tuple(shape), shown)
    try:
        mm = np.load(path, mmap_mode="r", allow_pickle=False)
    except _ARRAY_FILE_ERRORS as exc:
        raise DeepclustError(f"cannot read {shown}: {_short(exc)}") from None
    return _to_float32_checked(mm, shown)


def iter_npy_rows(path: PathLike, rows: int = 65_536) -> Iterator[np.ndarray]:
    """Blocks of up to ``rows`` rows of a C-ordered numeric ``.npy`` file as float32, read with
    plain file reads (no memory map), so memory stays bounded by the block, not the file.
    Raises the same errors as :func:`read_data`."""
    shown = str(path)
    p = Path(os.fspath(path)).expanduser()
    _check_exists(p, shown)
    try:
        fh = open(p, "rb")
    except OSError as exc:
        raise DeepclustError(f"cannot read {shown}: {exc.strerror or exc}") from None
    with fh:
        shape, fortran, dtype = _read_npy_header(fh, shown)
        _check_numeric_dtype(dtype, shown)
        _check_array_shape(tuple(shape), shown)
        if fortran:  # column-major: rows are not contiguous on disk
            yield _read_npy(p, shown)
            return
        per_row = int(np.prod(shape[1:], dtype=np.int64))
        for start in range(0, shape[0], rows):
            count = min(rows, shape[0] - start)
            block = np.fromfile(fh, dtype=dtype, count=count * per_row)
            if block.size != count * per_row:
                row = start + block.size // max(per_row, 1)
                raise DeepclustError(f"cannot read {shown}: the file ends before row {row}")
            yield _to_float32_checked(block.reshape(count, *shape[1:]), shown, row_offset=start)


def _load_npy_full(path: Path, shown: str) -> np.ndarray:
    _shape, _fortran, dtype = npy_header(path, shown)
    _refuse_dtype(dtype, shown)
    try:
        return np.load(path, allow_pickle=False)
    except _ARRAY_FILE_ERRORS as exc:
        raise DeepclustError(f"cannot read {shown}: {_short(exc)}") from None


@contextlib.contextmanager
def _open_npz(path: Path, shown: str) -> Iterator[Any]:
    """Open an .npz file (never unpickling); the file handle is closed even when it is invalid."""
    with open(path, "rb") as fh:
        try:
            npz = np.load(fh, allow_pickle=False)
        except _ARRAY_FILE_ERRORS as exc:
            reason = _short(exc)
            raise DeepclustError(f"cannot read {shown}: not a valid .npz file ({reason})") from None
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise DeepclustError(f"cannot read {shown}: not a valid .npz file (it is a .npy file)")
        with npz:
            yield npz


def _npz_member(npz: Any, key: str, shown: str) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DeepclustError(
                f"{shown}: array '{key}' holds Python objects, which can only be loaded by "
                "unpickling; deepclust never unpickles files. Save numeric arrays instead"
            ) from None
        raise DeepclustError(f"cannot read {shown}: array '{key}': {_short(exc)}") from None
    except _ARRAY_FILE_ERRORS as exc:
        raise DeepclustError(f"cannot read {shown}: array '{key}': {_short(exc)}") from None


def _read_npz(
    path: Path, shown: str, label_key: str | None
) -> tuple[np.ndarray, np.ndarray | None]:
    with _open_npz(path, shown) as npz:
        keys = list(npz.files)
        if not keys:
            raise DeepclustError(f"{shown}: the .npz file holds no arrays")
        data_key = next((k for k in NPZ_DATA_KEYS if k in keys), None)
        if label_key is not None:
            if label_key not in keys:
                raise DeepclustError(
                    f"{shown}: no array named '{label_key}'; arrays are: {plain_list(keys)}"
                )
            y_key: str | None = label_key
        else:
            y_key = next((k for k in NPZ_LABEL_KEYS if k in keys), None)
        if data_key is None:
            others = [k for k in keys if k != y_key]
            if len(others) != 1:
                raise DeepclustError(
                    f"{shown}: no array named {', '.join(NPZ_DATA_KEYS)}; arrays are: "
                    f"{plain_list(keys)}. Name the data array X"
                )
            data_key = others[0]
        raw = _npz_member(npz, data_key, shown)
        what = f"array '{data_key}'"
        _check_numeric_dtype(raw.dtype, shown, what)
        _check_array_shape(raw.shape, shown, what)
        X = _to_float32_checked(raw, shown, what)
        y = None
        if y_key is not None:
            labels = _npz_member(npz, y_key, shown)
            _refuse_dtype(labels.dtype, shown, f"array '{y_key}'")
            if labels.ndim == 2 and labels.shape[1] == 1:
                labels = labels[:, 0]
            if labels.ndim != 1 or labels.shape[0] != X.shape[0]:
                raise DeepclustError(
                    f"{shown}: labels '{y_key}' have shape {labels.shape} but '{data_key}' has "
                    f"{X.shape[0]} rows; expected shape ({X.shape[0]},)"
                )
            bad = _first_nonfinite(labels) if labels.dtype.kind == "f" else None
            if bad is not None:
                raise DeepclustError(
                    f"{shown}: labels '{y_key}' have a missing or infinite value at index {bad[0]}"
                )
            y = _labels_array(labels)
    return X, y


def _read_npz_labels(path: Path, shown: str) -> np.ndarray:
    with _open_npz(path, shown) as npz:
        keys = list(npz.files)
        key = next((k for k in NPZ_LABEL_KEYS if k in keys), None)
        if key is None:
            if len(keys) != 1:
                raise DeepclustError(
                    f"{shown}: no array named y or labels; arrays are: {plain_list(keys)}"
                )
            key = keys[0]
        labels = _npz_member(npz, key, shown)
    _refuse_dtype(labels.dtype, shown, f"array '{key}'")
    return labels


# --------------------------------------------------------------------------------------------------
# image folders


def find_files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files under ``root`` (recursive) with one of ``suffixes``, sorted by relative path; hidden
    files and folders skipped."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in suffixes:
                found.append(Path(dirpath) / name)
    return sorted(found, key=lambda f: f.relative_to(root).as_posix())


def labels_from_subfolders(names: list[str], shown: str) -> np.ndarray | None:
    """First-level subfolder of each "/"-separated relative path when every file sits in one
    (``root/<class>/.../file``), else None (with a warning when only some do)."""
    parts = [name.split("/") for name in names]
    if all(len(p) >= 2 for p in parts):
        return np.array([p[0] for p in parts], dtype=str)
    if any(len(p) >= 2 for p in parts):
        warnings.warn(
            f"{shown}: some files sit directly in the folder and some in subfolders, so "
            "subfolder names are not used as labels",
            UserWarning,
            stacklevel=3,
        )
    return None


def _decode_image(file: Path, mode: str, size: tuple[int, int]) -> np.ndarray:
    """Decode one image to float32 in [0, 1]: (h, w) for "L", (3, h, w) for "RGB"."""
    from PIL import Image, ImageOps

    with Image.open(file) as img:
        img.load()
        img = ImageOps.exif_transpose(img)
        if img.mode.startswith("I"):  # 16-bit grayscale PNGs: keep the full range
            img = img.convert("I")
            if img.size != size:
                img = img.resize(size, Image.Resampling.BILINEAR)
            gray = np.clip(np.asarray(img, dtype=np.float32) / 65535.0, 0.0, 1.0)
            return gray if mode == "L" else np.repeat(gray[None], 3, axis=0)
        img = img.convert(mode)
        if img.size != size:
            img = img.resize(size, Image.Resampling.BILINEAR)
        arr = np.asarray(img, dtype=np.float32) / 255.0
        return arr if mode == "L" else arr.transpose(2, 0, 1)


def read_image_folder(
    path: PathLike, *, mode: str = "L", size: tuple[int, int] | None = None,
    source: str | None = None,
) -> LoadedData:
    """Read a folder of PNG/JPEG images (recursive, sorted by relative path).

    Returns X float32 in [0, 1] of shape (n, h, w) for ``mode="L"`` (grayscale) or (n, 3, h, w) for
    ``mode="RGB"``. ``size`` is (width, height) in pixels; by default the most common size, other
    images being resized to it. When every
    image sits in a subfolder (``root/<class>/.../img.png``), y holds the first-level subfolder
    names. Unreadable files are skipped with one warning naming them; if none is readable, raises.
    """
    shown = source if source is not None else str(path)
    root = Path(os.fspath(path)).expanduser()
    _check_exists(root, shown)
    if mode not in ("L", "RGB"):
        raise DeepclustError(f"image mode must be 'L' (grayscale) or 'RGB', got {mode!r}")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise DeepclustError(f"image size must be (width, height) in pixels, got {size!r}")
    if not root.is_dir():
        raise DeepclustError(f"{shown}: not a folder")
    files = find_files(root, IMAGE_SUFFIXES)
    if not files:
        raise DeepclustError(
            f"{shown}: no images found (looked recursively for {', '.join(IMAGE_SUFFIXES)})"
        )

    from PIL import Image

    skipped: list[tuple[Path, str]] = []
    sizes: dict[Path, tuple[int, int]] = {}
    for f in files:  # pass 1: sizes from the headers only
        try:
            with Image.open(f) as img:
                sizes[f] = img.size
        except Exception as exc:  # PIL raises many types for bad files
            if isinstance(exc, MemoryError):
                raise
            skipped.append((f, _short(exc, 80)))
    if not sizes:
        warn_skipped(shown, "image files", [(f.relative_to(root).as_posix(), why) for f, why in skipped], len(files))
        raise DeepclustError(f"{shown}: none of the {len(files)} image files could be read")
    target = size if size is not None else Counter(sizes.values()).most_common(1)[0][0]
    w, h = target
    shape = (h, w) if mode == "L" else (3, h, w)
    X = np.empty((len(sizes), *shape), dtype=np.float32)
    kept: list[Path] = []
    for f in sizes:  # pass 2: decode into the preallocated array
        try:
            X[len(kept)] = _decode_image(f, mode, target)
        except Exception as exc:
            if isinstance(exc, MemoryError):
                raise
            skipped.append((f, _short(exc, 80)))
            continue
        kept.append(f)
    if skipped:
        reasons = [(f.relative_to(root).as_posix(), why) for f, why in sorted(skipped)]
        warn_skipped(shown, "image files", reasons, len(files))
    if not kept:
        raise DeepclustError(f"{shown}: none of the {len(files)} image files could be read")
    if len(kept) < X.shape[0]:
        X = X[: len(kept)].copy()

    rel = [f.relative_to(root).as_posix() for f in kept]
    y = labels_from_subfolders(rel, shown)
    return LoadedData(X=X, y=y, kind="images", source=shown, feature_names=None, names=rel)


def warn_skipped(shown: str, what: str, skipped: list[tuple[str, str]], total: int) -> None:
    """One warning naming the first files (or rows) of ``what`` that were skipped, and why."""
    if not skipped:
        return
    listed = "; ".join(f"{name} ({why})" for name, why in skipped[:5])
    more = f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    warnings.warn(
        f"{shown}: skipped {len(skipped)} of {total} {what} that could not be read: {listed}{more}",
        UserWarning,
        stacklevel=4,
    )
