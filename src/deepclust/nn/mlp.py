"""Multi-layer perceptrons of any shape, named activations."""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..exceptions import DeepclustError

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softmax": lambda: nn.Softmax(dim=-1),
}


def make_activation(name: str | None) -> nn.Module:
    """An activation module by name; ``None`` or ``"linear"`` gives the identity."""
    if name is None or name == "linear":
        return nn.Identity()
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise DeepclustError(
            f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)} or 'linear'"
        ) from None


def build_mlp(
    sizes: Sequence[int],
    activation: str | None = "relu",
    output_activation: str | None = None,
    batch_norm: bool = False,
    dropout: float = 0.0,
) -> nn.Sequential:
    """Fully connected layers ``sizes[0] → sizes[1] → … → sizes[-1]``.

    Hidden layers get ``activation`` (optionally batch norm before it and dropout after it); the
    last layer gets ``output_activation``. The article's autoencoder is
    ``build_mlp([100, 20], output_activation="relu")`` + ``build_mlp([20, 100],
    output_activation="sigmoid")``; its GAN generator is
    ``build_mlp([100, 200, 400, 800, 100], "relu", "sigmoid")``.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise DeepclustError(f"an MLP needs at least two positive layer sizes, got {sizes}")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            if batch_norm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        elif output_activation not in (None, "linear"):
            layers.append(make_activation(output_activation))
    return nn.Sequential(*layers)
