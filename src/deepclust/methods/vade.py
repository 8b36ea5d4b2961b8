"""VaDE: a variational autoencoder whose prior is a learnable Gaussian mixture."""
from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..base import check_draw
from ..cluster import regularised_mixture, umap_gmm
from ..nn import reconstruction_loss
from ..params import StrOptions, document_parameters, store_params
from ..tensors import expect_tensor
from ..training import Phase, draw_seed, run_phase
from .clusterer import DeepClusterer
from .registry import register

LOG_2PI = math.log(2 * math.pi)




def cluster_moments(
    Z: np.ndarray, labels: np.ndarray, k: int, covariance_type: str = "diag"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weight ``(k,)``, mean ``(k, d)`` and covariance of the codes ``Z`` (n, d) in each of ``k``
    clusters: per-dimension variances ``(k, d)`` (``"diag"``) or matrices ``(k, d, d)``
    (``"full"``), floored at 1e-6 on the diagonal. An empty cluster gets weight 1/n and the
    overall mean and covariance."""
    Z = Z.astype(np.float64)
    moments = (lambda A: A.var(0)) if covariance_type == "diag" else (lambda A: np.cov(A.T, bias=True))
    weights = np.empty(k)
    means = np.tile(Z.mean(0), (k, 1))
    covariances = np.stack([moments(Z)] * k)
    for c in range(k):
        members = Z[labels == c]
        weights[c] = max(len(members), 1) / len(Z)
        if len(members):
            means[c], covariances[c] = members.mean(0), moments(members)
    if covariance_type == "diag":
        covariances = np.maximum(covariances, 1e-6)
    else:
        covariances = covariances + 1e-6 * np.eye(Z.shape[1])
    return weights / weights.sum(), means, covariances


def spread_of(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """The prior's trainable spread parameter for the given covariances: log-variances ``(k, d)``
    (``"diag"``), or ``(k, d, d)`` holding the upper Cholesky factor ``U`` of each precision
    matrix (``Σ⁻¹ = U Uᵀ``, scikit-learn's ``precisions_cholesky_``) with its diagonal as logs."""
    if covariance_type == "diag":
        return np.log(covariances)
    lower = np.linalg.cholesky(covariances)  # Σ = C Cᵀ, so Σ⁻¹ = C⁻ᵀ C⁻¹ and U = C⁻ᵀ
    factor = np.linalg.inv(lower).transpose(0, 2, 1)
    diagonal = np.diagonal(factor, axis1=1, axis2=2)
    return np.triu(factor, 1) + np.einsum("kd,de->kde", np.log(diagonal), np.eye(factor.shape[1]))


def precision_cholesky(spread: torch.Tensor) -> torch.Tensor:
    """Upper Cholesky factors ``U`` ``(k, d, d)`` of the precisions, from :func:`spread_of`'s
    parameter (its shape says which kind)."""
    if spread.dim() == 2:
        return torch.diag_embed((-0.5 * spread).exp())
    return torch.triu(spread, 1) + torch.diag_embed(spread.diagonal(dim1=1, dim2=2).exp())


@register("vade")
@document_parameters
class VaDE(DeepClusterer):
    """Variational Deep Embedding (Jiang et al., 2017).

    The pretrained encoder gives the posterior mean ``μ(x)``; a linear head on ``μ`` gives its
    log-variance. The prior is a mixture of ``n_clusters`` Gaussians with learnable weights
    ``π``, means and covariances (``covariance_type``: ``"diag"`` as in the paper, or
    ``"full"``), initialised on the pretrained embedding — VaDE's known remedy against
    collapsing to one cluster: ``init="gmm"`` fits a Gaussian mixture there (``n_init``
    starts); ``init="n2d"`` takes the weight, mean and covariance of each cluster that N2D's
    manifold step (UMAP + Gaussian mixture, N2D's defaults) finds in the embedding (the
    better start on measurement, ``benchmarks/NOTES.md``). Training maximises the ELBO for
    ``epochs`` epochs with Adam and a cosine-decayed learning rate ``cluster_lr`` (``lr`` is the
    pretraining's). The ELBO tends to move the partition away from its start, so the defaults
    are those that move it least (full covariances, a small ``cluster_lr``). The likelihood
    ``p(x | z)`` is Gaussian with variance ``noise_variance_``, the pretrained autoencoder's
    squared error per feature.

    ``predict_proba`` is the posterior ``p(c | z = μ(x))``; ``predict`` its argmax;
    ``sample(n, cluster=k)`` decodes draws from component ``k`` (or from the whole mixture).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import VaDE
    >>> X = load_digits().data
    >>> model = VaDE(10, random_state=0).fit(X)
    >>> model.sample(4, cluster=2).shape
    (4, 64)
    """

    #: files saved before ``covariance_type`` existed hold a diagonal prior
    _params_before_they_existed = {"covariance_type": "diag"}

    _parameter_constraints = {"init": [StrOptions({"gmm", "n2d"})]}
    _parameter_docs = {
        "init": ("How the mixture prior starts on the pretrained embedding: ``'n2d'`` (the clusters N2D's "
                 "manifold step finds) or ``'gmm'`` (a Gaussian mixture of the embedding)."),
        "n_init": "Mixture starts of the ``'gmm'`` initialisation; the best likelihood is kept.",
        "epochs": "ELBO training epochs.",
        "cluster_lr": "Learning rate of the ELBO training (Adam, cosine decay).",
    }
    _attribute_docs = {"noise_variance_": ("float", "Variance of the Gaussian likelihood p(x | z).")}

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        preset: str = "default",
        epochs: int = 10,
        cluster_lr: float = 2e-4,
        init: str = "n2d",
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

    # --- the mixture prior ---------------------------------------------------------------------
    def _init_clusters(self, Z: torch.Tensor, seed: int) -> None:
        Z_np = Z.cpu().numpy()
        if self.init == "gmm":
            gmm = regularised_mixture(Z_np, self.n_clusters, covariance_type=self.covariance_type,
                                      n_init=self.n_init, random_state=seed)
            weights, means, covariances = gmm.weights_, gmm.means_, gmm.covariances_
        else:
            rows, _, _, labels = umap_gmm(Z_np, self.n_clusters, seed, verbose=self.verbose)
            weights, means, covariances = cluster_moments(Z_np[rows], labels, self.n_clusters,
                                                          self.covariance_type)
        as_tensor = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=Z.device)
        self._prior_logits = as_tensor(np.log(weights))
        self._centers = as_tensor(means)
        self._prior_spread = as_tensor(spread_of(np.asarray(covariances, np.float64),
                                                 self.covariance_type))
        variances = covariances if self.covariance_type == "diag" else np.diagonal(covariances, 0, 1, 2)
        d = Z.shape[1]
        head = nn.Linear(d, d).to(Z.device)
        nn.init.zeros_(head.weight)
        # start with posterior variances a hundredth of the typical cluster variance
        nn.init.constant_(head.bias, float(np.log(np.mean(variances) / 100.0)))
        self.log_var_head_ = head.eval()

    def _log_joint(self, z: torch.Tensor, logits, means, factor, variances=None) -> torch.Tensor:
        """``log π_c + log N(z | μ_c, Σ_c)`` for every component, ``(n, k)``, with ``factor`` the
        precisions' upper Cholesky factors ``(k, d, d)`` (:func:`precision_cholesky`); with the
        posterior's per-dimension ``variances`` ``(n, d)``, the expectation of that over
        ``z ~ N(z, variances)``."""
        whitened = torch.einsum("nkd,kde->nke", z[:, None, :] - means, factor)
        log_pz = (factor.diagonal(dim1=1, dim2=2).log().sum(1) - 0.5 * z.shape[1] * LOG_2PI
                  - 0.5 * whitened.pow(2).sum(2))
        if variances is not None:  # E[(z − μ)ᵀ Σ⁻¹ (z − μ)] adds Σ_i var_i (Σ⁻¹)_ii
            log_pz = log_pz - 0.5 * variances @ factor.pow(2).sum(2).T
        return torch.log_softmax(logits, dim=0) + log_pz

    def _fit_clusters(self, data, generator: torch.Generator) -> int:
        network, head = self.autoencoder_.network_, self.log_var_head_
        logits = nn.Parameter(self._prior_logits.clone())
        means = nn.Parameter(self._centers.clone())
        spread = nn.Parameter(self._prior_spread.clone())
        # Gaussian likelihood p(x | z) = N(x̂, σ²·I) with σ² the pretrained autoencoder's mean
        # squared error per feature, so the reconstruction term keeps its weight against the KL
        # term whatever the data's scale (an unweighted squared error lets the KL term win and
        # merges clusters)
        errors = self._apply(lambda xb: (network(xb)[1] - xb).pow(2).flatten(1).mean(1), data)
        self.noise_variance_ = float(errors.mean().clamp_min(1e-6))
        rec_weight = 0.5 / self.noise_variance_

        def step(xb: torch.Tensor, index: torch.Tensor) -> dict[str, torch.Tensor]:
            mu = network.encode(xb)
            log_var = head(mu)
            z = mu + torch.randn_like(mu) * (0.5 * log_var).exp()
            rec = reconstruction_loss(xb, network.decode(z))
            factor = precision_cholesky(spread)
            gamma = torch.softmax(self._log_joint(z, logits, means, factor), dim=1)
            # KL(q(z, c | x) ‖ p(z, c)), closed form in z, expectation over c under gamma:
            # E_q[log p(z, c)] = log π_c + E_q[log N(z | μ_c, Σ_c)]
            expected = self._log_joint(mu, logits, means, factor, variances=log_var.exp())
            kl = ((gamma * (gamma.clamp_min(1e-10).log() - expected)).sum(1)
                  - 0.5 * (1.0 + LOG_2PI + log_var).sum(1)).mean()
            return {"loss": rec_weight * rec + kl, "reconstruction": rec, "kl": kl}

        phase = Phase(
            max_grad_norm=self.max_grad_norm,
            precision=self.precision,
            compile=self.compile,
            name="vade",
            step=step,
            parameters=[*network.parameters(), *head.parameters(), logits, means, spread],
            epochs=int(self.epochs),
            lr=self.cluster_lr,
            schedule="cosine",
            modules=[network, head],
            augment=self._augmenter(),
            state={"logits": logits, "means": means, "spread": spread},
        )
        epochs = run_phase(phase, data, self.batch_size, generator, self.history_, self.verbose,
                           self._phase_checkpoint(phase))
        self._prior_logits, self._centers, self._prior_spread = (
            logits.detach(), means.detach(), spread.detach())
        return epochs

    def _assign(self, Z: torch.Tensor) -> torch.Tensor:
        return self._log_joint(Z, self._prior_logits, self._centers,
                               precision_cholesky(self._prior_spread)).argmax(1)

    def predict_proba(self, X) -> np.ndarray:
        """Posterior over components ``p(c | z = μ(x))``, ``(n, n_clusters)``."""
        log_joint = self._log_joint(self._embed(X), self._prior_logits, self._centers,
                                    precision_cholesky(self._prior_spread))
        return torch.softmax(log_joint, dim=1).cpu().numpy()

    @property
    def weights_(self) -> np.ndarray:
        """Mixture weights ``π`` of the prior, ``(n_clusters,)``."""
        return torch.softmax(self._prior_logits, dim=0).cpu().numpy()

    @property
    def covariances_(self) -> np.ndarray:
        """Covariances of the prior's components: variances ``(n_clusters, latent_dim)`` for
        ``covariance_type="diag"``, matrices ``(n_clusters, latent_dim, latent_dim)`` for
        ``"full"`` (scikit-learn's ``GaussianMixture`` shapes)."""
        if self._prior_spread.dim() == 2:
            return self._prior_spread.exp().cpu().numpy()
        factor = precision_cholesky(self._prior_spread).cpu().double()
        return torch.linalg.inv(factor @ factor.transpose(1, 2)).float().numpy()

    @torch.no_grad()
    def sample(self, n: int, cluster: int | None = None, random_state=None, return_labels: bool = False):
        """``n`` new samples ``(n, *input_shape)`` in the input's units, decoded from the prior.

        With ``cluster=k`` every draw comes from component ``k``; otherwise components are drawn
        with probabilities ``π``. ``return_labels=True`` also returns each draw's component.
        """
        check_is_fitted(self, "labels_")
        check_draw(n, cluster, self.n_clusters)
        device = self._centers.device
        generator = torch.Generator(device=device).manual_seed(draw_seed(random_state))
        if cluster is None:
            components = torch.multinomial(torch.softmax(self._prior_logits, 0), n, replacement=True,
                                           generator=generator)
        else:
            components = torch.full((n,), int(cluster), device=device)
        noise = torch.randn(n, self._centers.shape[1], generator=generator, device=device)
        # z = μ + U⁻ᵀ ε has covariance U⁻ᵀ U⁻¹ = (U Uᵀ)⁻¹ = Σ
        factor = precision_cholesky(self._prior_spread)[components]
        offsets = torch.linalg.solve_triangular(factor.transpose(1, 2), noise[:, :, None], upper=False)
        z = self._centers[components] + offsets[:, :, 0]
        samples = self.autoencoder_._from_tensor(self.autoencoder_._decode(z))
        return (samples, components.cpu().numpy()) if return_labels else samples

    # --- persistence -------------------------------------------------------------------------
    def _spread_name(self) -> str:
        """The saved name of the prior's spread (``"prior_log_vars"`` kept for diagonal priors)."""
        return "prior_log_vars" if self.covariance_type == "diag" else "prior_precision_factor"

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = super()._state_tensors()
        tensors["prior_logits"] = self._prior_logits
        tensors[self._spread_name()] = self._prior_spread
        tensors.update({f"log_var_head.{k}": v for k, v in self.log_var_head_.state_dict().items()})
        return tensors

    def _state_fitted(self) -> dict:
        return {**super()._state_fitted(), "noise_variance_": self.noise_variance_}

    def _restore(self, tensors: dict[str, torch.Tensor], fitted: dict) -> None:
        super()._restore(tensors, fitted)
        self.noise_variance_ = float(fitted["noise_variance_"])
        k, d = self.n_clusters, self.autoencoder_.latent_dim_
        device = self._centers.device
        self._prior_logits = expect_tensor(tensors, "prior_logits", (k,)).to(device)
        shape = (k, d) if self.covariance_type == "diag" else (k, d, d)
        self._prior_spread = expect_tensor(tensors, self._spread_name(), shape).to(device)
        head = nn.Linear(d, d)
        head.load_state_dict({
            "weight": expect_tensor(tensors, "log_var_head.weight", (d, d)),
            "bias": expect_tensor(tensors, "log_var_head.bias", (d,)),
        })
        self.log_var_head_ = head.to(device).eval()
