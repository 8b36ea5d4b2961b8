"""Choosing the number of clusters without labels."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import silhouette_score

from ..data.scaling import choose_scaling
from ..exceptions import DeepclustError
from .manifold import umap_embedding
from .mixture import regularised_mixture

#: dimensions of the UMAP manifold the numbers of clusters are compared in
MANIFOLD_DIMS = 10
#: at most this many points are scored by the silhouette (a seeded subsample)
SILHOUETTE_POINTS = 5_000
#: every candidate number of clusters must leave at least this many samples per cluster on average
MIN_SAMPLES_PER_CLUSTER = 10
#: UMAP's neighbours for the comparison: at most this many, and at most this share of the samples
#: (and never fewer than :data:`MIN_NEIGHBOURS`), see :func:`manifold_neighbours`
MAX_NEIGHBOURS, NEIGHBOUR_SHARE, MIN_NEIGHBOURS = 20, 0.05, 5


def manifold_neighbours(n_samples: int) -> int:
    """UMAP's ``n_neighbors`` for comparing numbers of clusters on ``n_samples`` points: 20 (N2D's
    value) from 400 points on, and below that a twentieth of the points, but at least 5 (96
    points: 5; 200 points: 10). A group of fewer points than ``n_neighbors`` cannot fill its
    points' neighbour lists, which then reach into the next group, and the two merge in the
    manifold: on 100 points, 20 neighbours are a fifth of the data."""
    return int(min(MAX_NEIGHBOURS, max(MIN_NEIGHBOURS, n_samples * NEIGHBOUR_SHARE)))


def k_candidates(k_range: tuple[int, int], n_samples: int) -> range:
    """The numbers of clusters considered: ``k_range`` (inclusive), capped so that clusters
    average at least :data:`MIN_SAMPLES_PER_CLUSTER` samples."""
    try:
        low, high = (int(k) for k in k_range)
    except (TypeError, ValueError):
        raise DeepclustError(f"k_range must be two integers (low, high), got {k_range!r}") from None
    if low < 2 or high < low:
        raise DeepclustError(f"k_range must satisfy 2 <= low <= high, got {tuple(k_range)!r}")
    high = min(high, n_samples // MIN_SAMPLES_PER_CLUSTER)
    if high < low:
        raise DeepclustError(
            f"n_clusters='auto' needs at least {low * MIN_SAMPLES_PER_CLUSTER} samples to compare "
            f"{low} or more clusters; got {n_samples}")
    return range(low, high + 1)


def choose_n_clusters(X: np.ndarray, k_range: tuple[int, int], seed: int,
                      input_scaling: str = "auto", verbose: int = 0) -> tuple[int, dict[int, float]]:
    """The number of clusters of ``X`` ``(n, ...)``, and the criterion for each one tried.

    The features are scaled as the models scale them (``input_scaling``) and mapped by
    UMAP (:func:`manifold_neighbours` neighbours: 20 from 400 samples on, fewer below;
    ``min_dist=0``) to :data:`MANIFOLD_DIMS` dimensions, where clusters
    stand apart as dense groups; for each ``k`` of :func:`k_candidates` a Gaussian mixture
    (3 starts) partitions that manifold, and the partition's silhouette (mean over points of
    how much nearer they are to their own cluster than to the next one, in [−1, 1]) is the
    criterion. Unlike a within-cluster spread or a likelihood, the silhouette does not improve
    just because ``k`` grows; the ``k`` with the highest value is returned.
    """
    ks = k_candidates(k_range, X.shape[0])
    flat = X.reshape(X.shape[0], -1)
    _, offset, scale = choose_scaling(flat, input_scaling)
    E = umap_embedding((flat - offset) / scale, MANIFOLD_DIMS, seed, verbose=verbose,
                       n_neighbors=manifold_neighbours(flat.shape[0]))
    rng_points = min(E.shape[0], SILHOUETTE_POINTS)
    scores = {}
    for k in ks:
        labels = regularised_mixture(E, k, n_init=3, random_state=seed).predict(E)
        if np.unique(labels).size < 2:
            scores[k] = -1.0
            continue
        scores[k] = round(float(silhouette_score(E, labels, sample_size=rng_points, random_state=seed)), 4)
    best = max(scores, key=lambda k: scores[k])
    return best, scores
