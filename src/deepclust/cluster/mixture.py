"""A Gaussian mixture fitted by scikit-learn and kept as plain tensors (saved as safetensors,
evaluated on any device), never as a pickled object."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

from ..exceptions import DeepclustError
from ..tensors import expect_tensor

COVARIANCE_TYPES = ("full", "diag")


@dataclass
class TensorMixture:
    """Weights ``(k,)``, means ``(k, m)`` and precisions' Cholesky factors ``(k, m, m)``
    (precision = P Pᵀ, as scikit-learn's ``precisions_cholesky_``)."""

    weights: torch.Tensor
    means: torch.Tensor
    precisions_cholesky: torch.Tensor

    NAMES = ("weights", "means", "precisions_cholesky")

    def log_resp(self, E: torch.Tensor) -> torch.Tensor:
        """Log posterior of each component, ``(n, k)``, for points ``E`` ``(n, m)``:
        ``log N(x | μ, Σ) = −½‖(x − μ) P‖² + log|det P| − (m/2) log 2π``."""
        P = self.precisions_cholesky
        projected = torch.einsum("nm,kmj->nkj", E, P) - torch.einsum("km,kmj->kj", self.means, P)
        log_det = torch.diagonal(P, dim1=1, dim2=2).log().sum(dim=1)
        log_prob = -0.5 * projected.pow(2).sum(dim=2) + log_det - 0.5 * E.shape[1] * math.log(2 * math.pi)
        weighted = log_prob + self.weights.log()
        return weighted - torch.logsumexp(weighted, dim=1, keepdim=True)

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


def fit_mixture(E: np.ndarray, n_components: int, seed: int, *, covariance_type: str = "full",
                n_init: int = 10, device: torch.device | str = "cpu") -> tuple[TensorMixture, np.ndarray]:
    """Fit a Gaussian mixture to ``E`` (n, m), best likelihood of ``n_init`` starts; returns it
    as tensors on ``device`` and the training points' labels ``(n,)``."""
    check_covariance_type(covariance_type)
    gmm = GaussianMixture(n_components, covariance_type=covariance_type, n_init=n_init,
                          random_state=seed).fit(E)
    precisions = gmm.precisions_cholesky_
    if covariance_type == "diag":
        precisions = np.stack([np.diag(p) for p in precisions])
    as_tensor = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=device)
    mixture = TensorMixture(as_tensor(gmm.weights_), as_tensor(gmm.means_), as_tensor(precisions))
    return mixture, gmm.predict(E)
