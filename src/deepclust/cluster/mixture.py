"""A Gaussian mixture fitted by scikit-learn and kept as plain tensors (saved as safetensors,
evaluated on any device), never as a pickled object; k-means and mixtures of many points
started on a sample."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from ..data.source import sample_rows
from ..exceptions import DeepclustError
from ..tensors import expect_tensor

COVARIANCE_TYPES = ("full", "diag")
#: above this many points k-means restarts run on a random sample (see :func:`kmeans`)
KMEANS_SAMPLES = 100_000


@dataclass
class TensorMixture:
    """Weights ``(k,)``, means ``(k, m)`` and precisions' Cholesky factors ``(k, m, m)``
    (precision = P Pᵀ, as scikit-learn's ``precisions_cholesky_``)."""

    weights: torch.Tensor
    means: torch.Tensor
    precisions_cholesky: torch.Tensor

    NAMES = ("weights", "means", "precisions_cholesky")
    #: points per block of ``log_resp``
    block_rows: ClassVar[int] = 65_536

    def log_resp(self, E: torch.Tensor) -> torch.Tensor:
        """Log posterior of each component, ``(n, k)``, for points ``E`` ``(n, m)``:
        ``log N(x | μ, Σ) = −½‖(x − μ) P‖² + log|det P| − (m/2) log 2π``; in blocks of
        ``block_rows`` points, so the ``(rows, k, m)`` projection stays small whatever ``n``."""
        P = self.precisions_cholesky
        centre = torch.einsum("km,kmj->kj", self.means, P)
        log_det = torch.diagonal(P, dim1=1, dim2=2).log().sum(dim=1)
        constant = log_det - 0.5 * E.shape[1] * math.log(2 * math.pi) + self.weights.log()
        out = []
        for block in E.split(self.block_rows):
            projected = torch.einsum("nm,kmj->nkj", block, P) - centre
            weighted = -0.5 * projected.pow(2).sum(dim=2) + constant
            out.append(weighted - torch.logsumexp(weighted, dim=1, keepdim=True))
        return torch.cat(out)

    def tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        """The three tensors named ``prefix + name``, for saving."""
        return {prefix + name: getattr(self, name) for name in self.NAMES}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], prefix: str, k: int, m: int,
                     device: torch.device) -> TensorMixture:
        """The mixture saved by :meth:`tensors`, ``k`` components in ``m`` dimensions; a clear
        ModelFileError for a missing or misshapen tensor."""
        shapes = {"weights": (k,), "means": (k, m), "precisions_cholesky": (k, m, m)}
        return cls(**{name: expect_tensor(tensors, prefix + name, shape).to(device)
                      for name, shape in shapes.items()})


def check_covariance_type(covariance_type) -> None:
    """Refuse a covariance type the mixture does not know, naming the parameter."""
    if covariance_type not in COVARIANCE_TYPES:
        raise DeepclustError(f"covariance_type must be 'full' or 'diag', got {covariance_type!r}")


#: above this many points a mixture's starts run on a random sample of them, and the best
#: start is then refined on all the points (the same rule as :data:`KMEANS_SAMPLES`)
MIXTURE_SAMPLES = 100_000


#: the variance added to every covariance's diagonal: scikit-learn's default first, then larger
#: ones when a component's covariance is singular in float32 (a component none of whose points
#: has some rare category of a one-hot group, or points that coincide)
REG_COVARS = (1e-6, 1e-4, 1e-2)


def regularised_mixture(E: np.ndarray, n_components: int, **kwargs) -> GaussianMixture:
    """``GaussianMixture(n_components, **kwargs).fit(E)`` with the first of :data:`REG_COVARS`
    under which every component's covariance can be inverted."""
    for reg_covar in REG_COVARS:
        try:
            return GaussianMixture(n_components, reg_covar=reg_covar, **kwargs).fit(E)
        except ValueError as error:
            if "ill-defined empirical covariance" not in str(error):
                raise
    raise DeepclustError(
        f"a Gaussian mixture of {n_components} components could not be fitted: some components' covariance "
        f"stays singular even with {REG_COVARS[-1]:g} added to its diagonal (duplicate or collapsed points); "
        "try fewer clusters")


def fit_mixture(E: np.ndarray, n_components: int, seed: int, *, covariance_type: str = "full",
                n_init: int = 10, device: torch.device | str = "cpu") -> tuple[TensorMixture, np.ndarray]:
    """Fit a Gaussian mixture to ``E`` (n, m), best likelihood of ``n_init`` starts; returns it
    as tensors on ``device`` and the training points' labels ``(n,)``. On more than
    :data:`MIXTURE_SAMPLES` points the starts use a random sample of that size and the best one
    is refined by EM on every point."""
    check_covariance_type(covariance_type)
    gmm = regularised_mixture(sample_rows(E, MIXTURE_SAMPLES, seed), n_components,
                              covariance_type=covariance_type, n_init=n_init, random_state=seed)
    if len(E) > MIXTURE_SAMPLES:
        gmm = GaussianMixture(n_components, covariance_type=covariance_type, weights_init=gmm.weights_,
                              means_init=gmm.means_, precisions_init=gmm.precisions_, reg_covar=gmm.reg_covar,
                              random_state=seed).fit(E)
    precisions = gmm.precisions_cholesky_
    if covariance_type == "diag":
        precisions = np.stack([np.diag(p) for p in precisions])
    as_tensor = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=device)
    mixture = TensorMixture(as_tensor(gmm.weights_), as_tensor(gmm.means_), as_tensor(precisions))
    return mixture, gmm.predict(E)


def kmeans(Z: np.ndarray, n_clusters: int, seed: int, n_init: int) -> KMeans:
    """k-means of ``Z`` (n, d), best of ``n_init`` restarts; on more than
    :data:`KMEANS_SAMPLES` points the restarts use a random sample of that size (faiss samples
    256 points per cluster by default; this is more) and the best is refined by Lloyd's
    iterations on every point."""
    km = KMeans(n_clusters, n_init=n_init, random_state=seed).fit(sample_rows(Z, KMEANS_SAMPLES, seed))
    if len(Z) > KMEANS_SAMPLES:
        km = KMeans(n_clusters, init=km.cluster_centers_, n_init=1, random_state=seed).fit(Z)
    return km


