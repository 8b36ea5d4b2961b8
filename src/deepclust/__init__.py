"""deepclust: deep clustering with autoencoders and GANs, scikit-learn style."""
from importlib import metadata

from . import datasets
from .exceptions import DeepclustError, ModelFileError, TrainingDiverged
from .io import load
from .methods import AEGMM, DCN, DEC, GAN, IDEC, N2D, REGISTRY, AEKMeans, AutoClusterer, Autoencoder, ClusterGAN, VaDE
from .metrics import ari, cluster_accuracy, evaluate, nmi, purity

try:
    __version__ = metadata.version("deepclust")
except metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = [
    "AEGMM",
    "AEKMeans",
    "AutoClusterer",
    "Autoencoder",
    "ClusterGAN",
    "DCN",
    "DEC",
    "DeepclustError",
    "GAN",
    "IDEC",
    "ModelFileError",
    "N2D",
    "REGISTRY",
    "TrainingDiverged",
    "VaDE",
    "ari",
    "cluster_accuracy",
    "datasets",
    "evaluate",
    "load",
    "nmi",
    "purity",
]
