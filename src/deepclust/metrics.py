"""Clustering metrics against known labels: Hungarian-matched accuracy, NMI, ARI, purity.

Labels may be integers or strings, and the number of clusters may differ from the number of
classes. Cluster ids are never compared to class ids directly: accuracy matches them first.
"""
from __future__ import annotations

import inspect

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from .exceptions import DeepclustError


def _check_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise DeepclustError(
            f"true and predicted labels differ in length: {y_true.size} vs {y_pred.size}"
        )
    if y_true.size == 0:
        raise DeepclustError("cannot evaluate empty label arrays")
    return y_true, y_pred


def _matching(y_true, y_pred):
    """Classes, clusters, their contingency counts and the Hungarian (row, col) matching."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    classes, true_idx = np.unique(y_true, return_inverse=True)
    clusters, pred_idx = np.unique(y_pred, return_inverse=True)
    counts = contingency_matrix(true_idx, pred_idx)  # (n_classes, n_clusters)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return classes, clusters, counts, rows, cols


_PAIR_PARAMETERS = """

Parameters
----------
y_true : array-like of shape (n_samples,)
    Known classes (ints or strings).
y_pred : array-like of shape (n_samples,)
    Cluster labels; their numbering need not match the classes'.

"""


def _compares_labels(fn):
    """Insert the shared ``Parameters`` section after the summary of ``fn``'s docstring."""
    summary, _, rest = inspect.cleandoc(fn.__doc__).partition("\n\n")
    fn.__doc__ = summary + _PAIR_PARAMETERS + rest
    return fn


@_compares_labels
def cluster_mapping(y_true, y_pred) -> dict:
    """The one-to-one cluster → class matching that maximises agreement (Hungarian algorithm).

    Returns
    -------
    dict
        Cluster → class. Clusters left unmatched (more clusters than classes) are absent.

    Examples
    --------
    >>> cluster_mapping([0, 0, 1, 1], [5, 5, 7, 7])
    {5: 0, 7: 1}
    """
    classes, clusters, _, rows, cols = _matching(y_true, y_pred)
    return {clusters[c].item(): classes[r].item() for r, c in zip(rows, cols)}


@_compares_labels
def cluster_accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose cluster maps to their class under the best one-to-one matching
    (the Hungarian ACC of the deep-clustering literature), in [0, 1].

    Examples
    --------
    >>> cluster_accuracy([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    _, _, counts, rows, cols = _matching(y_true, y_pred)
    return float(counts[rows, cols].sum() / counts.sum())


@_compares_labels
def purity(y_true, y_pred) -> float:
    """Fraction of samples in their cluster's majority class (many clusters may share a class),
    in [0, 1]; it reaches 1 with one cluster per sample, so compare it at equal cluster counts.

    Examples
    --------
    >>> purity([0, 0, 1, 1], [0, 0, 0, 0])
    0.5
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    counts = contingency_matrix(y_true, y_pred)
    return float(counts.max(axis=0).sum() / y_true.size)


@_compares_labels
def nmi(y_true, y_pred) -> float:
    """Normalized mutual information (arithmetic normalisation, as scikit-learn), in [0, 1].

    Examples
    --------
    >>> nmi([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    return float(normalized_mutual_info_score(*_check_pair(y_true, y_pred)))


@_compares_labels
def ari(y_true, y_pred) -> float:
    """Adjusted Rand index: 1 for identical partitions, about 0 for random ones.

    Examples
    --------
    >>> ari([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    return float(adjusted_rand_score(*_check_pair(y_true, y_pred)))


@_compares_labels
def evaluate(y_true, y_pred) -> dict[str, float | int]:
    """All metrics at once.

    Returns
    -------
    dict
        ``acc``, ``nmi``, ``ari``, ``purity`` and the counts ``n_samples``, ``n_clusters``,
        ``n_classes``.

    Examples
    --------
    >>> evaluate([0, 0, 1, 1], [1, 1, 0, 0])["acc"]
    1.0
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    return {
        "acc": cluster_accuracy(y_true, y_pred),
        "nmi": nmi(y_true, y_pred),
        "ari": ari(y_true, y_pred),
        "purity": purity(y_true, y_pred),
        "n_samples": int(y_true.size),
        "n_clusters": int(np.unique(y_pred).size),
        "n_classes": int(np.unique(y_true).size),
    }


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``(n, d)`` and ``(m, d)``.

    ``‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^½)``: FID when the features come from an Inception
    network, and the same measure of sample quality in any classifier's feature space.
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise DeepclustError(
            f"frechet_distance needs two (n, d) feature sets with the same d and n >= 2, "
            f"got shapes {a.shape} and {b.shape}"
        )
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Tr((Σ_a Σ_b)^½) = Tr((Σ_a^½ Σ_b Σ_a^½)^½): symmetric eigenproblems, stable when a
    # covariance is singular (e.g. dead ReLU features), where a general matrix root is not
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)).sum()
    mean_term = np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2)
    return float(max(mean_term + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root, 0.0))
