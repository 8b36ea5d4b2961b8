"""Deep Clustering Network (DCN): reconstruction plus a k-means pull in latent space."""
from __future__ import annotations

import torch

from ..exceptions import DeepclustError
from ..nn import reconstruction_loss
from ..params import document_parameters, reals, store_params
from ..training import Phase, run_phase
from ..training.distributed import all_sum
from .clusterer import DeepClusterer
from .registry import register


@register("dcn")
@document_parameters
class DCN(DeepClusterer):
    """Joint autoencoder + k-means training (Yang et al., 2017), in the article's form.

    Per mini-batch ``B`` with codes ``h_i = f(x_i)`` and decoder ``g``::

        L = alpha · (1/|B|) Σ_i ||x_i − g(h_i)||²  +  (1 − alpha) · (1/|B|) Σ_i ||h_i − μ_{s_i}||²

    which is the article's ``α·reconstruction + (1 − α)·coding error`` with the target ``a_j``
    read as the centre ``μ_{s_j}`` of the cluster the code is assigned to (``alpha = 1`` is a
    plain autoencoder; DCN's ``λ`` is ``(1 − alpha) / alpha``). Each batch: assign every code to
    its nearest centre, take a gradient step on ``L`` with assignments and centres fixed, then
    move each centre to the running mean of all codes ever assigned to it
    (``μ_c ← μ_c + (Σ h − n_c μ_c) / count_c``, the paper's ``1/count`` step, vectorised).
    Centres start from k-means with ``n_init`` restarts. Training stops early when fewer than
    ``tol`` of the labels change in an epoch.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import DCN
    >>> X = load_digits().data
    >>> model = DCN(10, alpha=0.5, random_state=0).fit(X)
    >>> model.predict(X[:5]).shape
    (5,)
    """

    _parameter_constraints = {"alpha": [reals(0, 1)]}
    _parameter_docs = {
        "alpha": "Weight of the reconstruction loss; ``1 - alpha`` weighs the coding (k-means) loss.",
        "n_init": "k-means restarts of the initial centres; the best is kept.",
    }

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        preset: str = "default",
        alpha: float = 0.5,
        latent_dim: int = 10,
        hidden_dims: tuple[int, ...] | None = None,
        architecture: str = "mlp",
        pretrain_epochs: int | str = "auto",
        epochs: int = 10,
        cluster_lr: float = 1e-3,
        batch_size: int = 64,
        lr: float = 1e-3,
        n_init: int = 10,
        tol: float = 1e-3,
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

    def _check_params(self, X) -> None:
        super()._check_params(X)
        if self.architecture == "none":
            raise DeepclustError("DCN trains a network towards its k-means centres, and architecture='none' leaves "
                                 "nothing to train (AEKMeans(architecture='none') is k-means on the features)")

    def _fit_clusters(self, data, generator: torch.Generator) -> int:
        network = self.autoencoder_.network_
        k = self.n_clusters
        counts = torch.bincount(self._kmeans_labels, minlength=k).to(self._centers.dtype)
        state = {"centers": self._centers, "counts": counts, "previous": self._kmeans_labels.clone()}

        def step(xb: torch.Tensor, index: torch.Tensor) -> dict[str, torch.Tensor]:
            z, x_hat = network(xb)
            rec = reconstruction_loss(xb, x_hat)
            with torch.no_grad():
                assigned = torch.cdist(z, self._centers).argmin(dim=1)
            coding = (z - self._centers[assigned]).pow(2).sum(dim=1).mean()
            with torch.no_grad():
                # the job's batch: every rank's counts and sums (under torchrun)
                batch_counts = all_sum(torch.bincount(assigned, minlength=k).to(z.dtype))
                sums = all_sum(torch.zeros_like(self._centers).index_add_(0, assigned, z.detach()))
                counts.add_(batch_counts)
                self._centers.add_((sums - batch_counts[:, None] * self._centers) / counts.clamp(min=1)[:, None])
            loss = self.alpha * rec + (1.0 - self.alpha) * coding
            return {"loss": loss, "reconstruction": rec, "coding": coding}

        def on_epoch_end(epoch: int) -> dict:
            labels = self._assign(self.autoencoder_._encode(data))
            changed = float((labels != state["previous"]).float().mean())
            state["previous"].copy_(labels)
            return {"labels_changed": changed, "stop": changed < self.tol}

        phase = Phase(
            max_grad_norm=self.max_grad_norm,
            precision=self.precision,
            compile=self.compile,
            name="dcn",
            step=step,
            parameters=network.parameters(),
            epochs=int(self.epochs),
            lr=self.cluster_lr,
            modules=[network],
            on_epoch_end=on_epoch_end,
            augment=self._augmenter(),
            state=state,
        )
        return run_phase(phase, data, self.batch_size, generator, self.history_, self.verbose,
                         self._phase_checkpoint(phase))
