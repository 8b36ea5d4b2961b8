"""On-the-fly image augmentation for training batches: random shifts and rotations.

Shifts of up to 10% and rotations of up to 10° during pretraining and clustering, as DEC-DA
and ASPC-DA do, teach an autoencoder that moved copies of an image belong together. Done with torch's
``affine_grid``/``grid_sample`` on whole batches, on the batch's device.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_shift_rotate(
    images: torch.Tensor, max_shift: float = 0.1, max_degrees: float = 10.0
) -> torch.Tensor:
    """Shift each image by up to ``max_shift`` of its size and rotate it by up to ``max_degrees``.

    ``images`` is ``(n, h, w)`` or ``(n, c, h, w)``; the result has the same shape. Uncovered
    pixels become 0 (the background of images scaled to [0, 1]). Draws from torch's global RNG,
    which deepclust's ``fit`` seeds.
    """
    batch = images if images.dim() == 4 else images.unsqueeze(1)
    n = batch.shape[0]
    uniform = lambda *shape: torch.rand(*shape, device=batch.device, dtype=batch.dtype) * 2 - 1
    angle = uniform(n) * math.radians(max_degrees)
    # affine_grid's coordinates span [-1, 1], so a shift of a fraction f of the image is 2f
    shift = uniform(n, 2) * (2 * max_shift)
    cos, sin = angle.cos(), angle.sin()
    # grid_sample reads each output pixel p from input position R⁻¹(p − t): rotate, then shift,
    # so the shift along each axis stays within max_shift whatever the angle
    inverse = torch.stack([torch.stack([cos, sin], dim=1), torch.stack([-sin, cos], dim=1)], dim=1)
    theta = torch.cat([inverse, -(inverse @ shift[:, :, None])], dim=2)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    moved = F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved.reshape(images.shape)
