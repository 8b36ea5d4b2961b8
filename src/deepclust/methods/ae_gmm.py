"""AE + GMM: pretrain an autoencoder, then a Gaussian mixture in its latent space."""
from __future__ import annotations

import numpy as np
import torch

from ..cluster import TensorMixture, fit_mixture
from ..params import document_parameters, store_params
from .clusterer import DeepClusterer
from .registry import register


@register("ae-gmm")
@document_parameters
class AEGMM(DeepClusterer):
    """Autoencoder embedding followed by a Gaussian mixture (best likelihood of ``n_init`` starts).

    Where k-means assumes round clusters of equal spread, the mixture fits each cluster its own
    covariance (``covariance_type="full"``) or per-dimension variances (``"diag"``), and gives
    soft assignments (``predict_proba``: the posterior of the components). With
    ``architecture="none"`` there is no network and the mixture is fitted on the scaled
    features themselves. Common parameters: see ``DeepClusterer``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from deepclust import AEGMM
    >>> X = load_iris().data
    >>> model = AEGMM(3, architecture="none", random_state=0).fit(X)  # a GMM of the scaled features
    >>> model.predict_proba(X).shape
    (150, 3)
    """

    _parameter_docs = {"n_init": "Mixture starts (EM runs); the best likelihood is kept."}

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        preset: str = "default",
        covariance_type: str = "full",
        n_init: int = 10,
        latent_dim: int = 10,
        hidden_dims: tuple[int, ...] | None = None,
        architecture: str = "mlp",
        pretrain_epochs: int | str = "auto",
        batch_size: int = 64,
        lr: float = 1e-3,
        input_scaling: str = "auto",
        max_grad_norm: float | None = None,
        precision: str | None = None,
        compile: bool = False,
        deterministic: bool = False,
        checkpoint_dir: str | None = None,
        checkpoint_every: int = 1,
        augment: bool = False,
        autoencoder=None,
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
    ):
        store_params(self, locals())

    def _init_clusters(self, Z: torch.Tensor, seed: int) -> None:
        self._mixture, _ = fit_mixture(Z.cpu().numpy(), self.n_clusters, seed, covariance_type=self.covariance_type,
                                       n_init=self.n_init, device=Z.device)
        self._centers = self._mixture.means.clone()

    def _assign(self, Z: torch.Tensor) -> torch.Tensor:
        return self._mixture.log_resp(Z).argmax(dim=1)

    def predict_proba(self, X) -> np.ndarray:
        """Posterior of each mixture component, ``(n, n_clusters)``."""
        Z = self._embed(X)
        return self._mixture.log_resp(Z).exp().cpu().numpy()

    # --- persistence -------------------------------------------------------------------------
    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return {**super()._state_tensors(), **self._mixture.tensors("gmm_")}

    def _restore(self, tensors: dict[str, torch.Tensor], fitted: dict) -> None:
        super()._restore(tensors, fitted)
        self._mixture = TensorMixture.from_tensors(tensors, "gmm_", self.n_clusters, self.autoencoder_.latent_dim_,
                                                   self._centers.device)
