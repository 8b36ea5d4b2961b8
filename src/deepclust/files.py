"""Atomic file writing and JSON conversion, shared by every part of deepclust that writes files.

A write goes to a temporary file (or folder) beside its target, is flushed to disk, and is
renamed into place only when complete: an interrupted write leaves the previous file intact.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np


def jsonable(value):
    """``value`` as plain JSON types: tuples become lists, NumPy scalars Python numbers.

    Raises ``TypeError`` for anything else (an object cannot be stored in a JSON config).
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store {type(value).__name__} value {value!r} in config.json")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _temp_file(path: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """(handle, name) of a new temporary file beside ``path``, flushed to disk on exit and removed
    if the block fails. It gets the usual permissions (``0o666`` less the umask), not mkstemp's
    private 0600."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            yield handle, Path(tmp)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_temp(path: Path, data: bytes) -> Path:
    """``data`` in a new temporary file beside ``path``, flushed to disk; returns its name."""
    with _temp_file(path) as (handle, tmp):
        handle.write(data)
    return tmp


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file handle whose contents appear at ``path`` only when the block succeeds: for
    outputs written piece by piece (labels of a streamed prediction)."""
    path = Path(path)
    with _temp_file(path) as (handle, tmp):
        yield handle
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    with atomic_writer(path) as handle:
        handle.write(data)


def stage_folder(path: Path, files: dict[str, bytes]) -> Path:
    """A new folder beside ``path`` holding ``files`` (name → contents), complete and flushed;
    returns its temporary name. Nothing is left behind if writing fails."""
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        os.chmod(staging, 0o777 & ~_umask())
        for name, data in files.items():
            atomic_write_bytes(staging / name, data)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def _replace_folder(staging: Path, path: Path) -> None:
    """Put the folder ``staging`` where ``path`` is, the old one removed only once it is replaced."""
    if path.exists():
        backup = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, backup)
        os.replace(staging, path)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(staging, path)


class OutputSet:
    """Several outputs written all together or not at all.

    ``write`` and ``write_folder`` put each output in a temporary file (or folder) beside its
    target at once, so a full disk or any other failure surfaces before anything is replaced;
    ``commit`` then renames them all into place, which takes no space. Leaving the ``with``
    block without ``commit`` (an exception, a signal) removes the temporaries and leaves earlier
    outputs as they were.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []  # (temporary, target)

    def write(self, path: Path, data: bytes) -> None:
        """Stage the file ``path`` with contents ``data``."""
        path = Path(path)
        self._staged.append((_write_temp(path, data), path))

    def write_folder(self, path: Path, files: dict[str, bytes]) -> None:
        """Stage the folder ``path`` holding ``files`` (name → contents), replacing it whole."""
        path = Path(path)
        self._staged.append((stage_folder(path, files), path))

    def commit(self) -> None:
        """Rename every staged output into place."""
        for tmp, target in self._staged:
            if tmp.is_dir():
                _replace_folder(tmp, target)
            else:
                os.replace(tmp, target)
        self._staged = []

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, *exc_info) -> None:
        for tmp, _ in self._staged:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
        self._staged = []
