"""Small reusable layers."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..exceptions import DeepclustError


def is_image_shape(sample_shape: Sequence[int]) -> bool:
    """Whether samples of ``sample_shape`` are images: ``(h, w)`` or ``(c, h, w)``."""
    return len(sample_shape) in (2, 3)


def image_channels_height_width(shape: Sequence[int]) -> tuple[int, int, int]:
    """``(c, h, w)`` of images whose samples are shaped ``(h, w)`` (one channel) or ``(c, h, w)``;
    anything else is refused, for the convolutional networks that need images."""
    shape = tuple(int(s) for s in shape)
    if not is_image_shape(shape):
        raise DeepclustError(
            f"architecture='conv' needs images shaped (h, w) or (c, h, w); got samples of shape {shape}"
        )
    return (1, *shape) if len(shape) == 2 else shape


class Reshape(nn.Module):
    """Reshape ``(n, ...)`` to ``(n, *shape)``."""

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def squared_distances(z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """``‖z_i − μ_j‖²``, ``(n, k)``, computed exactly (``cdist``'s shortcut loses precision)."""
    return (z[:, None, :] - centers[None, :, :]).pow(2).sum(dim=2)


def student_t_assignment(z: torch.Tensor, centers: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """DEC's soft assignment ``q_ij ∝ (1 + ‖z_i − μ_j‖² / α)^(−(α+1)/2)``, rows summing to 1.

    ``z`` is ``(n, d)``, ``centers`` ``(k, d)``; returns ``(n, k)``.
    """
    kernel = (1.0 + squared_distances(z, centers) / alpha).pow(-(alpha + 1.0) / 2.0)
    return kernel / kernel.sum(dim=1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC's sharpened target ``p_ij ∝ q_ij² / f_j`` with cluster frequencies ``f_j = Σ_i q_ij``."""
    weight = q.pow(2) / q.sum(dim=0)
    return weight / weight.sum(dim=1, keepdim=True)


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """``(1/m) Σ_i ||x_i − x̂_i||²``: squared error summed over features, averaged over the batch."""
    return (x_hat - x).pow(2).flatten(1).sum(dim=1).mean()
