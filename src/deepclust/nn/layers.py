"""Small reusable layers."""
from __future__ import annotations

import torch
from torch import nn


class Reshape(nn.Module):
    """Reshape ``(n, ...)`` to ``(n, *shape)``."""

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
