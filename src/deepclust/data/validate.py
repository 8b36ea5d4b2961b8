"""Turn user input (array, DataFrame, tensor, images) into a checked float32 array."""
from __future__ import annotations

import numpy as np
from sklearn.utils.validation import validate_data

from ..exceptions import DeepclustError


def check_input(estimator, X, *, reset: bool) -> np.ndarray:
    """Validate ``X`` for ``estimator`` and return it as float32 of shape ``(n, *input_shape_)``.

    Accepts ``(n, d)`` tables and ``(n, h, w)`` / ``(n, c, h, w)`` images (NumPy, pandas, torch).
    On ``reset`` it records ``input_shape_`` and ``n_features_in_``; otherwise it checks them,
    accepting flattened images with the right number of features. Messages follow
    scikit-learn's (NaN/inf, 1-D input, feature count) so pipelines and checks behave as usual.
    """
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # torch tensor
        X = X.detach().cpu().numpy()
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        X = np.asarray(X)
        ndim = X.ndim
    shape = tuple(int(s) for s in X.shape[1:]) if ndim in (3, 4) else None
    if ndim not in (1, 2, 3, 4):
        raise DeepclustError(
            f"X must be (n_samples, n_features) or images (n, h, w) / (n, c, h, w); "
            f"got {ndim} dimensions, shape {tuple(X.shape)}"
        )
    if shape is not None:
        X = np.asarray(X).reshape(X.shape[0], -1)
    try:
        X = validate_data(estimator, X, dtype=np.float32, reset=reset)
    except ValueError as exc:  # NaN/inf, 1-D input, feature count: keep sklearn's wording
        raise DeepclustError(str(exc)) from None
    if reset:
        estimator.input_shape_ = shape if shape is not None else (X.shape[1],)
    elif shape is not None and shape != tuple(estimator.input_shape_):
        raise DeepclustError(
            f"X holds images of shape {shape}, but {type(estimator).__name__} was fitted on "
            f"shape {tuple(estimator.input_shape_)}"
        )
    return X.reshape(X.shape[0], *estimator.input_shape_)
