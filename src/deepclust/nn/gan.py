"""GAN networks and adversarial losses: generators, discriminators (critics), encoders.

Two families: MLPs for any input (images are flattened inside) and DCGAN-style convolutional
networks for images ``(h, w)`` or ``(c, h, w)``, the ClusterGAN paper's MNIST networks by default.
Discriminators return raw scores ``(n, out_features)``: the sigmoid of the article's
discriminator lives inside the loss (``binary_cross_entropy_with_logits``), which is the same
function computed without overflow.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .layers import Reshape, image_channels_height_width
from .mlp import build_mlp, make_activation

#: adversarial losses: non-saturating GAN (the article's) and Wasserstein with gradient penalty
GAN_LOSSES = ("bce", "wgan-gp")


def mlp_generator(
    latent_dim: int,
    output_shape: Sequence[int],
    hidden_dims: Sequence[int] = (256, 512),
    activation: str = "relu",
    output_activation: str | None = None,
    batch_norm: bool = False,
) -> nn.Sequential:
    """``(n, latent_dim) → (n, *output_shape)``. The article's generator is
    ``mlp_generator(100, (100,), (200, 400, 800), "relu", "sigmoid")``."""
    sizes = [latent_dim, *hidden_dims, math.prod(output_shape)]
    return nn.Sequential(
        build_mlp(sizes, activation, output_activation, batch_norm=batch_norm),
        Reshape(*output_shape),
    )


def mlp_discriminator(
    input_shape: Sequence[int],
    hidden_dims: Sequence[int] = (512, 256),
    out_features: int = 1,
    activation: str = "leaky_relu",
) -> nn.Sequential:
    """``(n, *input_shape) → (n, out_features)`` raw scores. The article's discriminator is
    ``mlp_discriminator((100,), (400, 800), 1, "relu")`` with the sigmoid in the loss."""
    sizes = [math.prod(input_shape), *hidden_dims, out_features]
    return nn.Sequential(nn.Flatten(), build_mlp(sizes, activation))


def conv_generator(
    latent_dim: int,
    output_shape: Sequence[int],
    channels: Sequence[int] = (64, 128),
    output_activation: str | None = None,
    fc_width: int = 1024,
) -> nn.Sequential:
    """ClusterGAN's MNIST generator, any image size: FC ``fc_width``-BN-ReLU → FC to
    ``channels[-1]`` maps of size ⌈h/4⌉×⌈w/4⌉ -BN-ReLU → 4×4 stride-2 transposed convolutions
    (BN-ReLU between) up to the image, cropped to ``(h, w)``."""
    c, h, w = image_channels_height_width(output_shape)
    widths = [c, *channels]
    factor = 2 ** len(channels)
    sh, sw = -(-h // factor), -(-w // factor)
    layers: list[nn.Module] = [
        nn.Linear(latent_dim, fc_width), nn.BatchNorm1d(fc_width), nn.ReLU(),
        nn.Linear(fc_width, widths[-1] * sh * sw), nn.BatchNorm1d(widths[-1] * sh * sw), nn.ReLU(),
        Reshape(widths[-1], sh, sw),
    ]
    for i in range(len(channels), 0, -1):
        layers.append(nn.ConvTranspose2d(widths[i], widths[i - 1], 4, stride=2, padding=1))
        if i > 1:
            layers += [nn.BatchNorm2d(widths[i - 1]), nn.ReLU()]
    layers += [_Crop(h, w), make_activation(output_activation), Reshape(*output_shape)]
    return nn.Sequential(*layers)


def conv_discriminator(
    input_shape: Sequence[int],
    out_features: int = 1,
    channels: Sequence[int] = (64, 128),
    fc_width: int = 1024,
) -> nn.Sequential:
    """ClusterGAN's MNIST discriminator and encoder: 4×4 stride-2 convolutions with
    LeakyReLU(0.2) → FC ``fc_width`` → ``out_features`` raw outputs."""
    c, h, w = image_channels_height_width(input_shape)
    layers: list[nn.Module] = [Reshape(c, h, w)]
    for c_in, c_out in zip([c, *channels[:-1]], channels):
        layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        h, w = (h - 2) // 2 + 1, (w - 2) // 2 + 1
    layers += [
        nn.Flatten(), nn.Linear(channels[-1] * h * w, fc_width), nn.LeakyReLU(0.2),
        nn.Linear(fc_width, out_features),
    ]
    return nn.Sequential(*layers)


class _Crop(nn.Module):
    """Keep the top-left ``(h, w)`` of ``(n, c, H, W)`` maps."""

    def __init__(self, h: int, w: int):
        super().__init__()
        self.h, self.w = h, w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, : self.h, : self.w]


def discriminator_loss(
    loss: str,
    discriminator: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    gp_weight: float = 10.0,
) -> torch.Tensor:
    """The discriminator's (critic's) loss on a batch of real and generated samples.

    ``"bce"``: ``−[log D(x) + log(1 − D(G(z)))]``. ``"wgan-gp"``: ``D(G(z)) − D(x)`` plus
    ``gp_weight`` times the squared distance of the gradient norm from 1 at random interpolates.
    ``discriminator`` maps a batch to scores ``(n, 1)``; a conditional critic is passed as a
    function that scores every sample against its own (fixed) condition.
    """
    real_scores, fake_scores = discriminator(real), discriminator(fake)
    if loss == "bce":
        return (F.binary_cross_entropy_with_logits(real_scores, torch.ones_like(real_scores))
                + F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores)))
    mix = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device)
    between = (mix * real + (1 - mix) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(between).sum(), between, create_graph=True)
    penalty = (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
    return fake_scores.mean() - real_scores.mean() + gp_weight * penalty


def generator_loss(loss: str, fake_scores: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial loss: non-saturating ``−log D(G(z))`` or WGAN's ``−D(G(z))``."""
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))
    return -fake_scores.mean()
