"""UMAP manifolds and the Gaussian mixture fitted in them (N2D's manifold step)."""
from __future__ import annotations

import numpy as np
import torch

from ..exceptions import DeepclustError
from .mixture import TensorMixture, fit_mixture


def umap_embedding(Z: np.ndarray, n_components: int, seed: int, *, n_neighbors: int = 20,
                   min_dist: float = 0.0) -> np.ndarray:
    """UMAP of ``Z`` (n, m) to ``n_components`` dimensions (at most n − 2), float32 ``(n, c)``;
    ``n_neighbors`` is capped at n − 1. umap-learn's own progress messages are not shown (the
    caller's progress says what runs)."""
    try:
        import umap
    except ImportError:  # pragma: no cover - umap-learn is a dependency
        raise DeepclustError("UMAP needs umap-learn: pip install umap-learn") from None
    n = Z.shape[0]
    reducer = umap.UMAP(
        n_components=min(n_components, n - 2),
        n_neighbors=min(n_neighbors, n - 1),
        min_dist=min_dist,
        random_state=seed,
        n_jobs=1,  # a seeded UMAP runs single-threaded anyway; saying so avoids its warning
    )
    threads = torch.get_num_threads()
    try:
        return reducer.fit_transform(Z).astype(np.float32)
    finally:  # numba's OpenMP start-up resets torch's thread count to the number of cores
        torch.set_num_threads(threads)


def umap_gmm(Z: np.ndarray, n_clusters: int, seed: int, *, n_neighbors: int = 20, min_dist: float = 0.0,
             n_components: int | None = None, covariance_type: str = "full", n_init: int = 10,
             device: torch.device | str = "cpu") -> tuple[np.ndarray, TensorMixture, np.ndarray]:
    """N2D's manifold step: UMAP of the codes ``Z`` (n, latent_dim) to ``n_components``
    (default ``n_clusters``) dimensions, then a Gaussian mixture there (best likelihood of
    ``n_init`` starts). Returns the manifold positions ``(n, n_components)`` float32, the
    fitted mixture (tensors on ``device``) and the training points' labels."""
    E = umap_embedding(Z, n_components or n_clusters, seed, n_neighbors=n_neighbors, min_dist=min_dist)
    # several starts, best likelihood: one start sometimes merges two clusters
    mixture, labels = fit_mixture(E, n_clusters, seed, covariance_type=covariance_type, n_init=n_init,
                                  device=device)
    return E, mixture, labels
