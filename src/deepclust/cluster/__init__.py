"""Non-deep clustering pieces shared by the methods: a Gaussian mixture kept as tensors, UMAP
manifolds, and the choice of the number of clusters."""
from .manifold import MANIFOLD_SAMPLES, ManifoldPlacement, umap_embedding, umap_gmm
from .mixture import TensorMixture, fit_mixture, kmeans, regularised_mixture
from .number import choose_n_clusters

__all__ = ["MANIFOLD_SAMPLES", "ManifoldPlacement", "TensorMixture", "choose_n_clusters", "fit_mixture", "kmeans",
           "regularised_mixture", "umap_embedding", "umap_gmm"]
