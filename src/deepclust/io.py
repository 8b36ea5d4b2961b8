"""Saving and loading models: ``config.json`` + ``model.safetensors``, no pickle anywhere.

A model is a folder holding the two files, or a ``.zip`` of them. Writes are atomic (temporary
file or folder, then rename), so an interrupted save leaves the previous model intact. Loading
executes nothing from the file: the class must be one of deepclust's own, the weights must match
the checksum recorded in the config, and every tensor must have the shape the config implies.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from importlib import metadata
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from sklearn.utils.validation import check_is_fitted

from .exceptions import ModelFileError

FORMAT = "deepclust-model"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FITTED_MARKERS = ("labels_", "network_", "generator_")
#: prefix of the tensors of a model's input preprocessing (``preprocessing_``) in model.safetensors
PREPROCESSING = "preprocessing."


def _jsonable(value):
    """Hyperparameters and fitted scalars as plain JSON types (tuples become lists)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store {type(value).__name__} value {value!r} in config.json")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_temp(path: Path, data: bytes) -> Path:
    """``data`` in a new temporary file beside ``path``, flushed to disk; returns its name."""
    with _temp_file(path) as (handle, tmp):
        handle.write(data)
    return tmp


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

    ``write`` and ``add_model`` put each output in a temporary file (or folder) beside its target
    at once, so a full disk or any other failure surfaces before anything is replaced; ``commit``
    then renames them all into place, which takes no space. Leaving the ``with`` block without
    ``commit`` (an exception, a signal) removes the temporaries and leaves earlier outputs as
    they were.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []  # (temporary, target)

    def write(self, path: Path, data: bytes) -> None:
        path = Path(path)
        self._staged.append((_write_temp(path, data), path))

    def add_model(self, estimator, path: Path) -> None:
        path = Path(path)
        self._staged.append((_stage_model_folder(estimator, path), path))

    def commit(self) -> None:
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


def _serialise(estimator) -> tuple[bytes, bytes]:
    if not any(hasattr(estimator, m) for m in FITTED_MARKERS):
        check_is_fitted(estimator, FITTED_MARKERS[0])
    tensors = {k: v.detach().cpu().contiguous() for k, v in estimator._state_tensors().items()}
    preprocessing = getattr(estimator, "preprocessing_", None)
    if preprocessing is not None:
        from .data.featurize import featurizer_state

        preprocessing, arrays = featurizer_state(preprocessing)
        tensors.update({PREPROCESSING + k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()})
    weights = save_safetensors(tensors)
    params = estimator.get_params(deep=False)
    params.pop("autoencoder", None)  # the fitted autoencoder_ is stored in the tensors instead
    if not isinstance(params.get("random_state"), (int, type(None))):
        params["random_state"] = None
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": type(estimator).__name__,
        "params": _jsonable(params),
        "fitted": _jsonable(estimator._state_fitted()),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        **({"preprocessing": _jsonable(preprocessing)} if preprocessing is not None else {}),
        "versions": {"deepclust": _version("deepclust"), "torch": torch.__version__},
    }
    return json.dumps(config, indent=2).encode(), weights


def save_model(estimator, path) -> Path:
    """Save a fitted estimator to the folder ``path`` (or a ``.zip`` file); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".zip":
        config, weights = _serialise(estimator)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(CONFIG_NAME, config)
            archive.writestr(WEIGHTS_NAME, weights)
        atomic_write_bytes(path, buffer.getvalue())
        return path
    with OutputSet() as outputs:
        outputs.add_model(estimator, path)
        outputs.commit()
    return path


def _stage_model_folder(estimator, path: Path) -> Path:
    """The model folder written complete under a temporary name beside ``path``."""
    if path.exists() and not (path.is_dir() and (not any(path.iterdir()) or (path / CONFIG_NAME).exists())):
        raise ModelFileError(f"{path} exists and is not a deepclust model folder; not overwriting it")
    config, weights = _serialise(estimator)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        os.chmod(staging, 0o777 & ~_umask())
        for name, data in ((WEIGHTS_NAME, weights), (CONFIG_NAME, config)):
            atomic_write_bytes(staging / name, data)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def _read_files(path: Path) -> tuple[bytes, bytes]:
    if not path.exists():
        raise ModelFileError(f"{path}: no such model folder or file")
    try:
        if path.is_dir():
            missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if not (path / n).is_file()]
            if missing:
                raise ModelFileError(f"{path}: not a deepclust model, missing {', '.join(missing)}")
            return (path / CONFIG_NAME).read_bytes(), (path / WEIGHTS_NAME).read_bytes()
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if n not in names]
            if missing:
                raise ModelFileError(f"{path}: not a deepclust model, missing {', '.join(missing)}")
            return archive.read(CONFIG_NAME), archive.read(WEIGHTS_NAME)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
        raise ModelFileError(
            f"{path}: cannot read the model ({type(exc).__name__}: {exc}); expected a folder or "
            ".zip holding config.json and model.safetensors"
        ) from None


def load(path, device: str = "auto"):
    """Load a model saved by ``save``; ``device`` says where its tensors go.

    Raises :class:`~deepclust.exceptions.ModelFileError` for anything that is not an intact
    deepclust model: unknown class, bad JSON, checksum mismatch, missing or misshapen tensors.
    """
    from .methods import LOADABLE

    path = Path(path)
    config_bytes, weights = _read_files(path)
    try:
        config = json.loads(config_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: config.json is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path}: config.json is not a deepclust model config")
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {config.get('format_version')!r} is not supported "
            f"(this deepclust reads version {FORMAT_VERSION})"
        )
    class_name = config.get("class")
    if not isinstance(class_name, str) or class_name not in LOADABLE:
        raise ModelFileError(
            f"{path}: unknown model class {class_name!r}; deepclust loads only {', '.join(sorted(LOADABLE))}"
        )
    if hashlib.sha256(weights).hexdigest() != config.get("weights_sha256"):
        raise ModelFileError(
            f"{path}: model.safetensors does not match the checksum in config.json "
            "(the file is truncated or was modified)"
        )
    try:
        tensors = load_safetensors(weights)
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise ModelFileError(f"{path}: model.safetensors is not readable ({exc})") from None
    params = config.get("params")
    fitted = config.get("fitted")
    if not isinstance(params, dict) or not isinstance(fitted, dict):
        raise ModelFileError(f"{path}: config.json lacks 'params' or 'fitted'")
    arrays = {k[len(PREPROCESSING):]: tensors.pop(k).numpy() for k in list(tensors) if k.startswith(PREPROCESSING)}
    try:
        cls = LOADABLE[class_name]
        # a parameter added since the file was written takes the value that it had in effect then
        estimator = cls(**{**getattr(cls, "_params_before_they_existed", {}), **params, "device": device})
        estimator._restore(tensors, fitted)
        if "preprocessing" in config:
            from .data.featurize import featurizer_from_state

            estimator.preprocessing_ = featurizer_from_state(config["preprocessing"], arrays)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise ModelFileError(
            f"{path}: the model does not match its configuration ({type(exc).__name__}: {exc})"
        ) from None
    return estimator
