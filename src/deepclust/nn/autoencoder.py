"""Autoencoder networks: an encoder to a code and a decoder back to the input's shape."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .layers import Reshape
from .mlp import build_mlp


class AutoencoderNet(nn.Module):
    """``encoder: (n, *input_shape) → (n, latent_dim)``, ``decoder``: the way back."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return z, self.decoder(z)


def mlp_autoencoder(
    input_shape: Sequence[int],
    latent_dim: int = 10,
    hidden_dims: Sequence[int] = (500, 500, 2000),
    activation: str = "relu",
    latent_activation: str | None = None,
    output_activation: str | None = None,
) -> AutoencoderNet:
    """The standard ``d-500-500-2000-10`` autoencoder (any sizes); images are flattened inside.

    With ``hidden_dims=()``, ``latent_activation="relu"`` and ``output_activation="sigmoid"`` it is
    the article's ``100 → 20 (ReLU) → 100 (sigmoid)`` autoencoder.
    """
    n_features = math.prod(input_shape)
    sizes = [n_features, *hidden_dims, latent_dim]
    encoder = nn.Sequential(nn.Flatten(), build_mlp(sizes, activation, latent_activation))
    decoder = nn.Sequential(
        build_mlp(sizes[::-1], activation, output_activation), Reshape(*input_shape)
    )
    return AutoencoderNet(encoder, decoder)
