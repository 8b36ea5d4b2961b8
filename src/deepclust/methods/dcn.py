"""Deep Clustering Network (DCN): reconstruction plus a k-means pull in latent space."""
from __future__ import annotations

import torch

from ..base import DeepClusterer
from ..exceptions import DeepclustError
from ..training import Phase, run_phase
from .autoencoder import reconstruction_loss


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
    """

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        alpha: float = 0.5,
        latent_dim: int = 10,
        hidden_dims: tuple[int, ...] | None = None,
        architecture: str = "mlp",
        pretrain_epochs: int | str = "auto",
        epochs: int = 10,
        batch_size: int = 64,
        lr: float = 1e-3,
        n_init: int = 10,
        tol: float = 1e-3,
        input_scaling: str = "auto",
        max_grad_norm: float | None = None,
        deterministic: bool = False,
        checkpoint_dir: str | None = None,
        checkpoint_every: int = 1,
        augment: bool = False,
        autoencoder=None,
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
    ):
        self.n_clusters = n_clusters
        self.alpha = alpha
        self.latent_dim = latent_dim
        self.hidden_dims = hidden_dims
        self.architecture = architecture
        self.pretrain_epochs = pretrain_epochs
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.n_init = n_init
        self.tol = tol
        self.input_scaling = input_scaling
        self.max_grad_norm = max_grad_norm
        self.deterministic = deterministic
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.augment = augment
        self.autoencoder = autoencoder
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self, X) -> None:
        super()._check_params(X)
        if not 0.0 <= self.alpha <= 1.0:
            raise DeepclustError(f"alpha must be in [0, 1], got {self.alpha}")

    def _fit_clusters(self, Xt: torch.Tensor, generator: torch.Generator) -> int:
        network = self.autoencoder_.network_
        k = self.n_clusters
        counts = torch.bincount(self._kmeans_labels, minlength=k).to(Xt.dtype)
        state = {"centers": self._centers, "counts": counts, "previous": self._kmeans_labels.clone()}

        def step(xb: torch.Tensor, index: torch.Tensor) -> dict[str, torch.Tensor]:
            z, x_hat = network(xb)
            rec = reconstruction_loss(xb, x_hat)
            with torch.no_grad():
                assigned = torch.cdist(z, self._centers).argmin(dim=1)
            coding = (z - self._centers[assigned]).pow(2).sum(dim=1).mean()
            with torch.no_grad():
                batch_counts = torch.bincount(assigned, minlength=k).to(z.dtype)
                sums = torch.zeros_like(self._centers).index_add_(0, assigned, z.detach())
                counts.add_(batch_counts)
                self._centers.add_((sums - batch_counts[:, None] * self._centers) / counts.clamp(min=1)[:, None])
            loss = self.alpha * rec + (1.0 - self.alpha) * coding
            return {"loss": loss, "reconstruction": rec, "coding": coding}

        def on_epoch_end(epoch: int) -> dict:
            labels = self._assign(self.autoencoder_._encode(Xt))
            changed = float((labels != state["previous"]).float().mean())
            state["previous"].copy_(labels)
            return {"labels_changed": changed, "stop": changed < self.tol}

        phase = Phase(
            max_grad_norm=self.max_grad_norm,
            name="dcn",
            step=step,
            parameters=network.parameters(),
            epochs=int(self.epochs),
            lr=self.lr,
            modules=[network],
            on_epoch_end=on_epoch_end,
            augment=self._augmenter(),
            state=state,
        )
        return run_phase(phase, Xt, self.batch_size, generator, self.history_, self.verbose,
                         self._phase_checkpoint(phase))
