"""Devices and seeding: where tensors live and how runs are made repeatable."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from sklearn.utils import check_random_state

from ..exceptions import DeepclustError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → the first CUDA GPU when present, else the CPU; other values are validated."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeepclustError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:i]'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise DeepclustError(f"device {device!r} requested but CUDA is not available here")
    return resolved


def draw_seed(random_state) -> int:
    """An int seed from ``random_state`` (None, int or RandomState), as scikit-learn does."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[torch.Generator]:
    """Seed torch for weight init and dropout without touching the caller's global RNG state.

    Yields a generator on ``device`` for shuffling batches.
    """
    # torch.manual_seed reseeds every GPU, so every GPU's state is saved and restored
    cuda_devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)
        yield generator
