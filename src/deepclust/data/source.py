"""Rows that stay on disk: a ``.npy`` file, a folder of ``.npy`` or Parquet shards, a memmap.

:class:`ArraySource` reads such data in contiguous *chunks* of rows, so that an estimator can
train on data larger than memory (``fit("big.npy")``): the training loop shuffles chunks, reads
a window of them at a time and shuffles rows within the window
(:class:`deepclust.training.StreamedData`), and every full pass (input scaling statistics,
encoding, prediction) goes through :meth:`ArraySource.blocks` in file order. Files are read
with plain reads, never memory-mapped, so resident memory is bounded by what a read returns,
not by the file; every block is converted to float32 and checked for NaN/inf (the message names
the row) as it is read.
"""
from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import DeepclustError
from .readers import (
    PARQUET_SUFFIXES,
    _check_array_shape,
    _check_numeric_dtype,
    _read_npy_header,
    _to_float32_checked,
)

#: a NumPy array of at least this many bytes as float32 is better read from its file: the CLI
#: streams ``.npy`` files this large instead of loading them (the bundled MNIST-70k, 220 MB,
#: is loaded)
STREAM_BYTES = 1 << 30
#: rows per read where no other size is given
CHUNK_ROWS = 16_384
#: blocks at least this large are given back to the system when freed (glibc's ``mallopt``)
MMAP_THRESHOLD = 4 << 20
_heap_bounded = False


def _bound_heap() -> None:
    """Make glibc return every freed block of ``MMAP_THRESHOLD`` bytes or more to the system.

    By default glibc raises its threshold for such blocks (up to 32 MiB) each time one is freed,
    so the tens of MB a pass over a large file allocates per block then come from the heap, which
    fragments and only grows with the passes (measurements: ``benchmarks/NOTES.md``). Done once
    per process, on Linux only.
    """
    global _heap_bounded
    if _heap_bounded or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, MMAP_THRESHOLD)  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # another C library: nothing to set
        pass
    _heap_bounded = True


@dataclass(frozen=True)
class Chunk:
    """Rows ``[start, stop)`` of part ``part``, which are the source's rows ``first...``."""

    part: int
    start: int
    stop: int
    first: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


class _NpyPart:
    """One C-ordered ``.npy`` file, read with ``pread`` at the rows asked for."""

    def __init__(self, path: Path, shown: str):
        self.path, self.shown = path, shown
        try:
            with open(path, "rb") as fh:
                shape, fortran, dtype = _read_npy_header(fh, shown)
                self.offset = fh.tell()
        except OSError as exc:
            raise DeepclustError(f"cannot read {shown}: {exc.strerror or exc}") from None
        _check_numeric_dtype(dtype, shown)
        _check_array_shape(tuple(shape), shown)
        if fortran and len(shape) > 1:
            raise DeepclustError(f"{shown}: the array is stored column by column (Fortran order); save it "
                                 "row by row to train from the file, e.g. np.save(path, np.ascontiguousarray(X))")
        self.dtype, self.rows, self.shape = dtype, int(shape[0]), tuple(int(s) for s in shape[1:])
        self.row_bytes = int(np.prod(self.shape, dtype=np.int64)) * dtype.itemsize
        expected = self.offset + self.rows * self.row_bytes
        if path.stat().st_size < expected:
            raise DeepclustError(f"cannot read {shown}: the file ends before row {self.rows} "
                                 f"({path.stat().st_size:,} bytes, {expected:,} expected)")
        self.chunk_bounds = None
        self._file = None

    def read(self, start: int, stop: int) -> np.ndarray:
        data = np.empty((stop - start, *self.shape), self.dtype)
        if self._file is None:  # opened at the first read, kept for the next ones
            self._file = open(self.path, "rb")
        got = os.preadv(self._file.fileno(), [data.reshape(-1).view(np.uint8)], self.offset + start * self.row_bytes)
        if got != data.nbytes:
            raise DeepclustError(f"cannot read {self.shown}: the file ends before row {start + got // self.row_bytes}")
        return data


class _ArrayPart:
    """An array already open (a ``numpy.memmap`` or any array), sliced at the rows asked for."""

    def __init__(self, array: np.ndarray, shown: str):
        _check_numeric_dtype(array.dtype, shown)
        _check_array_shape(tuple(array.shape), shown)
        self.array, self.shown = array, shown
        self.dtype, self.rows, self.shape = array.dtype, int(array.shape[0]), tuple(int(s) for s in array.shape[1:])
        self.chunk_bounds = None

    def read(self, start: int, stop: int) -> np.ndarray:
        return np.array(self.array[start:stop])


class _ParquetPart:
    """One Parquet file of numeric columns; a chunk is one of its row groups."""

    def __init__(self, path: Path, shown: str):
        import pyarrow.parquet as pq

        try:
            self.file = pq.ParquetFile(path)
        except (OSError, ValueError) as exc:
            raise DeepclustError(f"cannot read {shown}: not a valid Parquet file ({exc})") from None
        self.shown = shown
        schema = self.file.schema_arrow
        wrong = [f.name for f in schema if not (f.type.num_fields == 0 and _numeric_arrow(f.type))]
        if wrong:
            raise DeepclustError(f"{shown}: column {wrong[0]!r} is not numeric; training from shards needs "
                                 "numeric columns only (prepare the table first)")
        metadata = self.file.metadata
        self.rows, self.shape = int(metadata.num_rows), (len(schema),)
        self.dtype = np.dtype(np.float32)
        sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        self.chunk_bounds = np.cumsum([0, *sizes]).tolist()

    def read(self, start: int, stop: int) -> np.ndarray:
        bounds = self.chunk_bounds
        first = int(np.searchsorted(bounds, start, side="right")) - 1
        last = int(np.searchsorted(bounds, stop, side="left"))
        table = self.file.read_row_groups(list(range(first, last)))
        block = np.column_stack([c.to_numpy(zero_copy_only=False) for c in table.columns])
        return block[start - bounds[first]:stop - bounds[first]]


def _numeric_arrow(arrow_type) -> bool:
    import pyarrow.types as t

    return t.is_integer(arrow_type) or t.is_floating(arrow_type)


class ArraySource:
    """Samples ``(n, *shape)`` kept where they are (files or an open array) and read in chunks.

    Parameters
    ----------
    parts : list
        The files or arrays, in order; the source's rows are theirs, one after the other.
    shown : str
        How messages name the data (the path the user gave).
    sample_shape : tuple of int, optional
        The shape one stored row is read as (the same number of values); default: as stored.

    Attributes
    ----------
    shape : tuple of int
        ``(n, *sample_shape)``, as for an array.
    reads : list of int
        The number of rows of every read so far (what bounds the memory a pass needs).
    """

    def __init__(self, parts: list, shown: str, sample_shape: tuple[int, ...] | None = None):
        shapes = {p.shape for p in parts}
        if len(shapes) > 1:
            raise DeepclustError(f"{shown}: the shards hold samples of different shapes {sorted(shapes)}")
        self.parts, self.shown = parts, shown
        stored = parts[0].shape
        self.sample_shape = stored if sample_shape is None else tuple(int(s) for s in sample_shape)
        if np.prod(self.sample_shape, dtype=np.int64) != np.prod(stored, dtype=np.int64):
            raise ValueError(f"samples stored as {stored} cannot be read as {self.sample_shape}")
        self.n = sum(p.rows for p in parts)
        self.shape = (self.n, *self.sample_shape)
        self.ndim = len(self.shape)
        self.dtype = np.result_type(*[p.dtype for p in parts])
        self.reads: list[int] = []
        _bound_heap()

    def __len__(self) -> int:
        return self.n

    def chunks(self, rows: int, start: int = 0, stop: int | None = None) -> list[Chunk]:
        """The rows ``[start, stop)`` (default: all) in contiguous chunks of up to ``rows`` (a
        Parquet shard's row groups as they are, cut at ``start`` and ``stop``); none crosses a
        part's end."""
        stop = self.n if stop is None else stop
        out, first = [], 0
        for i, part in enumerate(self.parts):
            bounds = part.chunk_bounds or list(range(0, part.rows, rows)) + [part.rows]
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                lo, hi = max(lo, start - first), min(hi, stop - first)
                if lo < hi:
                    out.append(Chunk(i, lo, hi, first + lo))
            first += part.rows
        return out

    def read(self, chunk: Chunk) -> np.ndarray:
        """The chunk's rows in the stored dtype (uint8 stays uint8), not yet checked."""
        self.reads.append(chunk.rows)
        raw = self.parts[chunk.part].read(chunk.start, chunk.stop)
        return raw.reshape(len(raw), *self.sample_shape)

    def reshaped(self, sample_shape: tuple[int, ...]) -> ArraySource:
        """The same rows read as samples of ``sample_shape`` (the same number of values each),
        e.g. flat rows of 784 pixels as ``(28, 28)`` images."""
        return ArraySource(self.parts, self.shown, sample_shape)

    def checked(self, raw: np.ndarray, first: int) -> np.ndarray:
        """``raw`` rows (the source's rows ``first...``) as float32, refusing NaN/inf with its row."""
        return _to_float32_checked(raw, self.shown, row_offset=first)

    def blocks(self, rows: int, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, float32 block)`` of the rows ``[start, stop)`` (default: all) in order,
        every row checked."""
        for chunk in self.chunks(rows, start, stop):
            yield chunk.first, self.checked(self.read(chunk), chunk.first)

    def __getitem__(self, index) -> np.ndarray:
        """Rows by a slice or an array of row numbers, as float32: read one by one when they
        are few, else by passing over the chunks that hold them."""
        rows = np.arange(*index.indices(self.n)) if isinstance(index, slice) else np.asarray(index)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        if rows.size and not -self.n <= int(rows.min()) <= int(rows.max()) < self.n:
            raise IndexError(f"row index out of range for {self.n} rows")
        rows = rows.astype(np.int64) % max(self.n, 1)
        if rows.ndim == 0:
            return self[rows[None]][0]
        out = np.empty((len(rows), *self.sample_shape), np.float32)
        order = np.argsort(rows, kind="stable")
        chunks = self.chunks(CHUNK_ROWS)
        if len(rows) < len(chunks):
            chunks = [_chunk_of(self.parts, int(row)) for row in rows[order]]
        firsts = np.array([c.first for c in chunks])
        at = np.searchsorted(firsts, rows[order], side="right") - 1
        for i in np.unique(at):
            chunk = chunks[i]
            mine = order[at == i]
            block = self.checked(self.read(chunk), chunk.first)
            out[mine] = block[rows[mine] - chunk.first]
        return out


def _chunk_of(parts: list, row: int) -> Chunk:
    """The one-row chunk of the source's row ``row``."""
    first = 0
    for i, part in enumerate(parts):
        if row < first + part.rows:
            return Chunk(i, row - first, row - first + 1, row)
        first += part.rows
    raise IndexError(row)


def sample_index(n: int, size: int | None, seed: int) -> np.ndarray | None:
    """Sorted row numbers of ``size`` of ``n`` rows drawn at random without replacement, or
    None when there are no more than ``size`` (or ``size`` is None): then all are used."""
    if size is None or n <= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, int(size), replace=False))


def row_blocks(X, rows: int) -> Iterator[np.ndarray]:
    """``X`` (an array or an :class:`ArraySource`, whose rows are checked as they are read) in
    consecutive blocks of ``rows`` rows, in order."""
    if isinstance(X, ArraySource):
        for _, block in X.blocks(rows):
            yield block
        return
    for start in range(0, X.shape[0], rows):
        yield X[start:start + rows]


def sample_rows(X, size: int | None, seed: int):
    """:func:`sample_index`'s rows of ``X`` (an array or an :class:`ArraySource`); ``X``
    itself when all are kept (a source read whole)."""
    rows = sample_index(X.shape[0], size, seed)
    if rows is None:
        return X[:] if isinstance(X, ArraySource) else X
    return X[rows]


def is_source(X) -> bool:
    """Whether ``fit``/``predict`` read ``X`` through an :class:`ArraySource`: a path, a
    ``numpy.memmap``, or a source itself."""
    return isinstance(X, (str, os.PathLike, np.memmap, ArraySource))


def open_source(X) -> ArraySource:
    """``X`` as an :class:`ArraySource`: a ``.npy`` file, a folder of ``.npy`` or Parquet
    shards (read in name order), or a ``numpy.memmap``; a clear error for anything else."""
    if isinstance(X, ArraySource):
        return X
    if isinstance(X, np.memmap):
        return ArraySource([_ArrayPart(X, "the memmap")], "the memmap")
    shown = os.fspath(X)
    path = Path(shown).expanduser()
    if not path.exists():
        raise DeepclustError(f"{shown}: no such file or folder")
    if path.is_dir():
        shards = sorted(p for p in path.iterdir() if p.suffix.lower() in (".npy", *PARQUET_SUFFIXES))
        if not shards:
            raise DeepclustError(f"{shown}: the folder holds no .npy or Parquet shards")
        kinds = {p.suffix.lower() == ".npy" for p in shards}
        if len(kinds) > 1:
            raise DeepclustError(f"{shown}: the folder mixes .npy and Parquet shards; keep one kind")
        return ArraySource([_part(p, f"{shown}/{p.name}") for p in shards], shown)
    if path.suffix.lower() not in (".npy", *PARQUET_SUFFIXES):
        raise DeepclustError(f"{shown}: training from a file needs a .npy or Parquet file, or a folder of "
                             f"their shards; got {path.suffix or 'a file without suffix'!r} (load it first)")
    return ArraySource([_part(path, shown)], shown)


def _part(path: Path, shown: str):
    return _NpyPart(path, shown) if path.suffix.lower() == ".npy" else _ParquetPart(path, shown)
