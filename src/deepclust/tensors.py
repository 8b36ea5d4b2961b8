"""Checking the tensors read from a model file (a leaf: torch and deepclust's exceptions only)."""
from __future__ import annotations

import torch

from .exceptions import ModelFileError


def expect_tensor(
    tensors: dict[str, torch.Tensor], name: str, shape: tuple, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """``tensors[name]`` if present with ``shape`` and ``dtype`` (default: int64 for ``labels``,
    else any floating type); otherwise a clear :class:`ModelFileError`."""
    if name not in tensors:
        raise ModelFileError(f"model file is missing the tensor {name!r}")
    tensor = tensors[name]
    if tuple(tensor.shape) != tuple(shape):
        raise ModelFileError(
            f"tensor {name!r} has shape {tuple(tensor.shape)}, expected {tuple(shape)}"
        )
    if dtype is None and name == "labels":
        dtype = torch.int64
    if (tensor.dtype != dtype) if dtype is not None else not tensor.dtype.is_floating_point:
        expected = str(dtype).replace("torch.", "") if dtype is not None else "a floating type"
        raise ModelFileError(
            f"tensor {name!r} has dtype {str(tensor.dtype).replace('torch.', '')}, expected {expected}"
        )
    return tensor
