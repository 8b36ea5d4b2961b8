"""Per-feature input scaling, chosen from the data and stored with the model."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..exceptions import DeepclustError

INPUT_SCALINGS = ("auto", "standard", "minmax", "max", "none")


def power_of_two_unit(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    """A power of two near the largest magnitude of ``values`` (along ``axis``; NaNs ignored; 1
    where every value is 0). Dividing by it is exact, and the squares that a variance sums then
    neither overflow (values near 1e300) nor underflow."""
    return np.ldexp(1.0, np.frexp(np.nanmax(np.abs(values), axis=axis))[1])


#: rows whose Euclidean length is within this of 1 are of unit length (float32 embeddings
#: normalised for cosine similarity come within 1e-6)
UNIT_LENGTH_TOLERANCE = 1e-3


def unit_length_rows(block: np.ndarray) -> bool:
    """Whether every row of ``block`` ``(m, *shape)`` has Euclidean length 1 (within
    :data:`UNIT_LENGTH_TOLERANCE`): an embedding normalised for cosine similarity."""
    lengths = np.linalg.norm(block.reshape(block.shape[0], -1), axis=1)
    return bool((np.abs(lengths - 1.0) <= UNIT_LENGTH_TOLERANCE).all())


class ScalingStatistics:
    """What every scaling needs, gathered block by block in one pass: per-feature minimum,
    maximum, mean and variance (Chan et al.'s pairwise update, in float64), whether every
    value is a whole number, and whether every row is of unit length."""

    def __init__(self):
        self.count = 0
        self.whole = True
        self.unit_rows = True

    def add(self, block: np.ndarray) -> None:
        """Fold in ``block`` ``(m, *shape)`` float32."""
        m = block.shape[0]
        if m == 0:
            return
        mean = block.mean(axis=0, dtype=np.float64)
        m2 = ((block - mean.astype(np.float32)).astype(np.float64) ** 2).sum(axis=0)
        lo, hi = block.min(axis=0), block.max(axis=0)
        self.whole = self.whole and bool(np.array_equal(block, np.round(block)))
        # once a row is not of unit length, the norms of later blocks are not needed
        self.unit_rows = self.unit_rows and unit_length_rows(block)
        if self.count == 0:
            self.mean, self.m2, self.lo, self.hi, self.count = mean, m2, lo, hi, m
            return
        total = self.count + m
        delta = mean - self.mean
        self.mean = self.mean + delta * (m / total)
        self.m2 = self.m2 + m2 + delta ** 2 * (self.count * m / total)
        self.lo, self.hi, self.count = np.minimum(self.lo, lo), np.maximum(self.hi, hi), total


def choose_scaling(blocks: np.ndarray | Iterable[np.ndarray], scaling: str) -> tuple[str, np.ndarray, np.ndarray]:
    """Per-feature ``(name, offset, scale)`` so that ``(X - offset) / scale`` is well scaled.

    ``"auto"`` leaves data in [0, 1] alone, and rows all of unit length (an embedding normalised
    for cosine similarity, such as sentence embeddings: standardising its columns would change
    which rows are near), divides non-negative integer data (pixels, counts) by its largest
    value (``"max"``: 255 for 8-bit images), and standardises anything else.
    ``blocks`` is ``X`` ``(n, *shape)`` or consecutive row blocks of it, read once (the same
    blocks give the same result to the last bit); offset and scale have shape ``shape``.
    """
    if scaling not in INPUT_SCALINGS:
        raise DeepclustError(f"input_scaling must be one of {INPUT_SCALINGS}, got {scaling!r}")
    stats = ScalingStatistics()
    for block in [blocks] if isinstance(blocks, np.ndarray) else blocks:
        stats.add(block)
    shape = stats.lo.shape
    lo, hi = float(stats.lo.min()), float(stats.hi.max())
    if scaling == "auto":
        if (lo >= 0.0 and hi <= 1.0) or stats.unit_rows:
            scaling = "none"
        elif lo >= 0.0 and stats.whole:
            scaling = "max"
        else:
            scaling = "standard"
    if scaling == "none":
        return scaling, np.zeros(shape, np.float32), np.ones(shape, np.float32)
    if scaling == "max":
        return scaling, np.zeros(shape, np.float32), np.full(shape, max(hi, 1e-12), np.float32)
    if scaling == "minmax":
        offset, spread = stats.lo, stats.hi - stats.lo
    else:
        offset, spread = stats.mean, np.sqrt(stats.m2 / stats.count)
    spread = np.where(spread > 1e-12, spread, 1.0)
    return scaling, offset.astype(np.float32), spread.astype(np.float32)
