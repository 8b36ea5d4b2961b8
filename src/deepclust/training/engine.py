"""Devices, precision and seeding: where tensors live, in what number format training computes,
and how runs are made repeatable."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np
import torch
from sklearn.utils import check_random_state

from ..exceptions import DeepclustError
from .distributed import world


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → the first CUDA GPU when present (under torchrun: the GPU of the process's
    ``LOCAL_RANK``), else the CPU; other values are validated."""
    if device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        here = world()
        if here.active:
            return torch.device("cuda", here.local_rank % torch.cuda.device_count())
        return torch.device("cuda")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeepclustError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:i]'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise DeepclustError(f"device {device!r} requested but CUDA is not available here")
    return resolved


#: the accepted values of ``precision``
PRECISIONS = ("auto", "32", "bf16")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a CUDA GPU that supports it, or a CPU
    with AVX-512 BF16 or AMX instructions (elsewhere bfloat16 is emulated, slower than float32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return False


def autocast_dtype(precision: str | None, device: torch.device) -> torch.dtype | None:
    """The dtype training steps autocast to for ``precision`` on ``device``, ``None`` for float32:
    ``"32"`` (or ``None``) never autocasts, ``"bf16"`` always, ``"auto"`` where :func:`native_bf16`."""
    if precision is None:
        return None
    if precision not in PRECISIONS:
        raise DeepclustError(f"unknown precision {precision!r}; use 'auto', '32' or 'bf16'")
    if precision == "bf16" or (precision == "auto" and native_bf16(device)):
        return torch.bfloat16
    return None


def draw_seed(random_state) -> int:
    """An int seed from ``random_state`` (None, int or RandomState), as scikit-learn does."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@contextlib.contextmanager
def seeded(seed: int, device: torch.device, deterministic: bool = False) -> Iterator[torch.Generator]:
    """Seed torch for weight init and dropout without touching the caller's global RNG state.

    Yields a generator on ``device`` for shuffling batches; under torchrun it is seeded with
    ``seed + rank``, so each process shuffles its share in its own order, while weights start
    alike everywhere. ``deterministic=True`` switches
    PyTorch to its deterministic algorithms for the block (cuDNN's deterministic kernels, no
    cuDNN benchmarking, cuBLAS with a fixed workspace; an operation without a deterministic
    version raises instead of running) and restores the previous settings afterwards. On the
    CPU every operation deepclust uses is deterministic already.
    """
    # torch.manual_seed reseeds every GPU, so every GPU's state is saved and restored
    cuda_devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    previous = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
                torch.backends.cudnn.benchmark)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            generator = torch.Generator(device=device)
            generator.manual_seed(seed + world().rank)
            yield generator
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous[1:]
