"""Per-feature input scaling, chosen from the data and stored with the model."""
from __future__ import annotations

import numpy as np

from ..exceptions import DeepclustError

INPUT_SCALINGS = ("auto", "standard", "minmax", "max", "none")


def choose_scaling(X: np.ndarray, scaling: str) -> tuple[str, np.ndarray, np.ndarray]:
    """Per-feature ``(name, offset, scale)`` so that ``(X - offset) / scale`` is well scaled.

    ``"auto"`` leaves data in [0, 1] alone, divides non-negative integer data (pixels, counts) by
    its largest value (``"max"``: 255 for 8-bit images), and standardises anything else.
    ``X`` is ``(n, *shape)``; offset and scale have shape ``shape``.
    """
    if scaling not in INPUT_SCALINGS:
        raise DeepclustError(f"input_scaling must be one of {INPUT_SCALINGS}, got {scaling!r}")
    shape = X.shape[1:]
    lo, hi = float(X.min()), float(X.max())
    if scaling == "auto":
        if lo >= 0.0 and hi <= 1.0:
            scaling = "none"
        elif lo >= 0.0 and np.array_equal(X, np.round(X)):
            scaling = "max"
        else:
            scaling = "standard"
    if scaling == "none":
        return scaling, np.zeros(shape, np.float32), np.ones(shape, np.float32)
    if scaling == "max":
        return scaling, np.zeros(shape, np.float32), np.full(shape, max(hi, 1e-12), np.float32)
    if scaling == "minmax":
        offset, spread = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
    else:
        offset, spread = X.mean(axis=0, dtype=np.float64), X.std(axis=0, dtype=np.float64)
    spread = np.where(spread > 1e-12, spread, 1.0)
    return scaling, offset.astype(np.float32), spread.astype(np.float32)
