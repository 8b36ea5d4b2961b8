"""Torch building blocks: no scikit-learn here."""
from .autoencoder import AutoencoderNet, mlp_autoencoder
from .conv import conv_autoencoder
from .layers import Reshape, reconstruction_loss, squared_distances, student_t_assignment, target_distribution
from .mlp import build_mlp, make_activation

__all__ = [
    "AutoencoderNet",
    "Reshape",
    "build_mlp",
    "conv_autoencoder",
    "make_activation",
    "mlp_autoencoder",
    "reconstruction_loss",
    "squared_distances",
    "student_t_assignment",
    "target_distribution",
]
