"""Every method deepclust offers. The CLI, the docs and the common tests read ``REGISTRY``."""
from .ae_gmm import AEGMM
from .ae_kmeans import AEKMeans
from .auto import AutoClusterer
from .autoencoder import Autoencoder
from .clustergan import ClusterGAN
from .dcn import DCN
from .dec import DEC, IDEC
from .gan import GAN
from .n2d import N2D
from .vade import VaDE

#: clusterers by CLI name
REGISTRY = {
    "auto": AutoClusterer,
    "ae-gmm": AEGMM,
    "ae-kmeans": AEKMeans,
    "clustergan": ClusterGAN,
    "dcn": DCN,
    "dec": DEC,
    "idec": IDEC,
    "n2d": N2D,
    "vade": VaDE,
}

#: every class ``deepclust.load`` may rebuild (clusterers, the autoencoder, the GAN), by class name
LOADABLE = {cls.__name__: cls for cls in (*REGISTRY.values(), Autoencoder, GAN)}

__all__ = ["AEGMM", "AEKMeans", "Autoencoder", "AutoClusterer", "ClusterGAN", "DCN", "DEC", "GAN", "IDEC",
           "LOADABLE", "N2D", "REGISTRY", "VaDE"]
