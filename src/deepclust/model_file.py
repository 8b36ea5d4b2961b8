"""The model file format: ``config.json`` + ``model.safetensors``, no pickle anywhere.

A model is a folder holding the two files, or a ``.zip`` of them. Writes are atomic (temporary
file or folder, then rename), so an interrupted save leaves the previous model intact. Reading
checks that the weights match the checksum recorded in the config; :func:`deepclust.io.load`
then rebuilds the estimator, which must be one of deepclust's own classes.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from sklearn.utils.validation import check_is_fitted

from .data.featurize import featurizer_state
from .exceptions import ModelFileError
from .files import OutputSet, atomic_write_bytes, jsonable
from .training.distributed import is_writer

FORMAT = "deepclust-model"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FITTED_MARKERS = ("labels_", "network_", "generator_")
#: prefix of the tensors of a model's input preprocessing (``preprocessing_``) in model.safetensors
PREPROCESSING = "preprocessing."


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def _serialise(estimator) -> tuple[bytes, bytes]:
    if not any(hasattr(estimator, m) for m in FITTED_MARKERS):
        check_is_fitted(estimator, FITTED_MARKERS[0])
    tensors = {k: v.detach().cpu().contiguous() for k, v in estimator._state_tensors().items()}
    preprocessing = getattr(estimator, "preprocessing_", None)
    if preprocessing is not None:
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
        "params": jsonable(params),
        "fitted": jsonable(estimator._state_fitted()),
        **({"preset_params": jsonable(estimator.preset_params_)} if hasattr(estimator, "preset_params_") else {}),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        **({"preprocessing": jsonable(preprocessing)} if preprocessing is not None else {}),
        "versions": {"deepclust": _version("deepclust"), "torch": torch.__version__},
    }
    return json.dumps(config, indent=2).encode(), weights


def save_model(estimator, path) -> Path:
    """Save a fitted estimator to the folder ``path`` (or a ``.zip`` file); returns the path.
    Under torchrun only rank 0 writes (every rank holds the same model)."""
    path = Path(path)
    if not is_writer():
        return path
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
        outputs.write_folder(path, model_files(estimator, path))
        outputs.commit()
    return path


def model_files(estimator, path: Path) -> dict[str, bytes]:
    """The files of the model folder ``path`` for a fitted ``estimator``, by name; refuses a
    ``path`` that exists and is not a deepclust model folder (nothing is overwritten)."""
    path = Path(path)
    if path.exists() and not (path.is_dir() and (not any(path.iterdir()) or (path / CONFIG_NAME).exists())):
        raise ModelFileError(f"{path} exists and is not a deepclust model folder; not overwriting it")
    config, weights = _serialise(estimator)
    return {WEIGHTS_NAME: weights, CONFIG_NAME: config}


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


def params_from_config(params: dict) -> dict:
    """Saved parameters as ``get_params`` gave them: JSON has no tuples, and every sequence
    parameter (``hidden_dims``, ``k_range``...) is a tuple, so a list comes back as one."""
    return {name: tuple(value) if isinstance(value, list) else value for name, value in params.items()}


def estimator_from_config(cls, params: dict, device: str):
    """An unfitted ``cls`` with the saved ``params``, on ``device``: a parameter added since the
    file was written takes the value it had in effect then (``cls._params_before_they_existed``),
    and lists come back as tuples (:func:`params_from_config`)."""
    return cls(**{**getattr(cls, "_params_before_they_existed", {}), **params_from_config(params), "device": device})


def read_model(path, known_classes) -> tuple[dict, dict[str, torch.Tensor], dict[str, np.ndarray]]:
    """``(config, tensors, preprocessing arrays)`` of the model at ``path``, checked: valid JSON of
    this format and version, a class named in ``known_classes``, weights matching the checksum.

    Raises :class:`~deepclust.exceptions.ModelFileError` naming what is wrong.
    """
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
    if not isinstance(class_name, str) or class_name not in known_classes:
        raise ModelFileError(
            f"{path}: unknown model class {class_name!r}; deepclust loads only {', '.join(sorted(known_classes))}"
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
    if not isinstance(config.get("params"), dict) or not isinstance(config.get("fitted"), dict):
        raise ModelFileError(f"{path}: config.json lacks 'params' or 'fitted'")
    arrays = {k[len(PREPROCESSING):]: tensors.pop(k).numpy() for k in list(tensors) if k.startswith(PREPROCESSING)}
    return config, tensors, arrays
