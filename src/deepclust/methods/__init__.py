"""Every method deepclust offers. The CLI, the docs and the common tests read ``REGISTRY``."""
from .ae_kmeans import AEKMeans
from .autoencoder import Autoencoder
from .dcn import DCN
from .n2d import N2D

#: clusterers by CLI name
REGISTRY = {
    "ae-kmeans": AEKMeans,
    "dcn": DCN,
    "n2d": N2D,
}

#: every class ``deepclust.load`` may rebuild (clusterers and the autoencoder), by class name
LOADABLE = {cls.__name__: cls for cls in (*REGISTRY.values(), Autoencoder)}

__all__ = ["AEKMeans", "Autoencoder", "DCN", "LOADABLE", "N2D", "REGISTRY"]
