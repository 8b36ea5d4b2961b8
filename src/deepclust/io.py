"""Loading models saved by ``save``: the estimator rebuilt from its file, no pickle anywhere.

Loading executes nothing from the file: the class must be one of deepclust's own (``LOADABLE``),
the weights must match the checksum recorded in the config (see :mod:`deepclust.model_file`),
and every tensor must have the shape the config implies.
"""
from __future__ import annotations

from pathlib import Path

from .data.featurize import featurizer_from_state
from .exceptions import ModelFileError
from .methods import LOADABLE
from .model_file import estimator_from_config, params_from_config, read_model


def load(path, device: str = "auto"):
    """Load a model saved by ``save``.

    Parameters
    ----------
    path : str or Path
        The model folder, or the ``.zip`` of one.
    device : str, default="auto"
        Where the model's tensors go: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda:0"``...

    Returns
    -------
    estimator
        The fitted estimator, of the class that was saved.

    Raises
    ------
    ModelFileError
        For anything that is not an intact deepclust model: unknown class, bad JSON, checksum
        mismatch, missing or misshapen tensors.
    """
    path = Path(path)
    config, tensors, arrays = read_model(path, LOADABLE)
    try:
        cls = LOADABLE[config["class"]]
        estimator = estimator_from_config(cls, config["params"], device)
        estimator._restore(tensors, config["fitted"])
        if "preset_params" in config:
            estimator.preset_params_ = params_from_config(config["preset_params"])
        if "preprocessing" in config:
            estimator.preprocessing_ = featurizer_from_state(config["preprocessing"], arrays)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise ModelFileError(
            f"{path}: the model does not match its configuration ({type(exc).__name__}: {exc})"
        ) from None
    return estimator
