"""Convolutional autoencoder for images shaped ``(h, w)`` or ``(c, h, w)``."""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .autoencoder import AutoencoderNet
from .layers import Reshape, image_channels_height_width
from .mlp import make_activation


def conv_autoencoder(
    input_shape: Sequence[int],
    latent_dim: int = 10,
    channels: Sequence[int] = (32, 64, 128),
    activation: str = "relu",
    output_activation: str | None = None,
) -> AutoencoderNet:
    """Stride-2 3×3 convolutions down to a linear code; upsample + convolution back.

    Works for any image size: the decoder upsamples to the exact sizes the encoder saw, so odd
    sizes (e.g. 28 → 14 → 7 → 4 → 7 → 14 → 28) round-trip.
    """
    output_shape = tuple(int(s) for s in input_shape)
    c, h, w = image_channels_height_width(output_shape)
    sizes = [(h, w)]
    for _ in channels:
        ph, pw = sizes[-1]
        sizes.append(((ph + 1) // 2, (pw + 1) // 2))
    widths = [c, *channels]

    enc: list[nn.Module] = [Reshape(c, h, w)]
    for c_in, c_out in zip(widths[:-1], widths[1:]):
        enc += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), make_activation(activation)]
    flat = widths[-1] * sizes[-1][0] * sizes[-1][1]
    enc += [nn.Flatten(), nn.Linear(flat, latent_dim)]

    dec: list[nn.Module] = [
        nn.Linear(latent_dim, flat),
        make_activation(activation),
        Reshape(widths[-1], *sizes[-1]),
    ]
    for i in range(len(channels), 0, -1):
        dec += [nn.Upsample(size=sizes[i - 1]), nn.Conv2d(widths[i], widths[i - 1], 3, padding=1)]
        dec.append(make_activation(activation if i > 1 else output_activation))
    dec.append(Reshape(*output_shape))
    return AutoencoderNet(nn.Sequential(*enc), nn.Sequential(*dec))
