"""DEC and IDEC: sharpen the autoencoder's clusters with a self-training KL loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..nn import reconstruction_loss, student_t_assignment, target_distribution
from ..params import document_parameters, ints, reals, store_params
from ..training import Phase, run_phase
from .clusterer import DeepClusterer
from .registry import register


@register("dec")
@document_parameters
class DEC(DeepClusterer):
    """Deep Embedded Clustering (Xie et al., 2016).

    Soft assignments ``q`` (Student-t kernel, α = 1) between codes and learnable centres are pulled
    towards the sharpened target ``p ∝ q² / f`` by minimising ``KL(p ‖ q)`` over the encoder and
    the centres (the decoder is dropped). The target is recomputed on the *whole* dataset every
    ``update_interval`` batches (at least once per epoch); training stops when fewer than ``tol`` of the labels changed
    since the previous target, or after ``epochs`` epochs. Centres start from k-means with
    ``n_init`` restarts on the pretrained embedding. The clustering phase uses Adam with
    ``cluster_lr`` (``lr`` is the pretraining's). ``predict_proba`` returns ``q``.

    Defaults are DEC-DA's recipe: images are shifted and rotated at random in pretraining and
    clustering (``augment="auto"``; other data is left alone), 60 pretraining epochs at batch
    256, which on MNIST-70k is worth far more than its cost (``benchmarks/NOTES.md``);
    ``augment=False, pretrain_epochs=20, batch_size=64`` gives the plain method.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import DEC
    >>> X = load_digits().data
    >>> model = DEC(10, random_state=0).fit(X)
    >>> model.predict_proba(X).shape
    (1797, 10)
    """

    default_pretrain_epochs = 60

    _parameter_constraints = {"update_interval": [ints(1)]}
    _parameter_docs = {
        "update_interval": "Batches between recomputations of the target distribution (at least once per epoch).",
        "n_init": "k-means restarts of the initial centres; the best is kept.",
    }
    _attribute_docs = {"n_iter_": ("int", "Epochs of the clustering phase run (it may stop early, see ``tol``).")}

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        preset: str = "default",
        epochs: int = 20,
        cluster_lr: float = 1e-4,
        update_interval: int = 140,
        tol: float = 1e-3,
        n_init: int = 20,
        latent_dim: int = 10,
        hidden_dims: tuple[int, ...] | None = None,
        architecture: str = "mlp",
        pretrain_epochs: int | str = "auto",
        batch_size: int = 256,
        lr: float = 1e-3,
        input_scaling: str = "auto",
        max_grad_norm: float | None = None,
        precision: str | None = None,
        compile: bool = False,
        deterministic: bool = False,
        checkpoint_dir: str | None = None,
        checkpoint_every: int = 1,
        augment: bool | str = "auto",
        autoencoder=None,
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
    ):
        store_params(self, locals())

    def _kl_weight_beside_reconstruction(self) -> float | None:
        """None: KL loss alone, decoder dropped (DEC); a number γ: ``L_rec + γ·KL`` (IDEC)."""
        return None

    def _fit_clusters(self, data, generator: torch.Generator) -> int:
        network = self.autoencoder_.network_
        centers = torch.nn.Parameter(self._centers.clone())
        gamma = self._kl_weight_beside_reconstruction()
        # the target is set at the first batch; tensors from the start so that a checkpoint
        # restores them in place
        state = {"centers": centers, "labels": self._kmeans_labels.clone(),
                 "changed": torch.ones((), device=data.device),
                 "target": torch.zeros(data.n, self.n_clusters, device=data.device)}
        # at least once per epoch, so that small datasets refresh their target too
        interval = min(int(self.update_interval), data.num_batches(int(self.batch_size)))

        def on_batch_start(step: int) -> bool:
            if step % interval:
                return False
            with torch.no_grad():
                q = student_t_assignment(self.autoencoder_._encode(data), centers)
            network.train()  # _encode switched to eval mode
            labels = q.argmax(dim=1)
            state["changed"].fill_((labels != state["labels"]).float().mean())
            state["labels"].copy_(labels)
            state["target"].copy_(target_distribution(q))
            return step > 0 and float(state["changed"]) < self.tol

        def step(xb: torch.Tensor, index: torch.Tensor) -> dict[str, torch.Tensor]:
            if gamma is None:
                z = network.encode(xb)
            else:
                z, x_hat = network(xb)
            q = student_t_assignment(z, centers)
            kl = F.kl_div(q.clamp_min(1e-12).log(), state["target"][index], reduction="batchmean")
            if gamma is None:
                return {"loss": kl, "kl": kl}
            # per-feature mean, as in the reference (Keras 'mse' + gamma · 'kld')
            rec = reconstruction_loss(xb, x_hat) / xb[0].numel()
            return {"loss": rec + gamma * kl, "kl": kl, "reconstruction": rec}

        phase = Phase(
            max_grad_norm=self.max_grad_norm,
            precision=self.precision,
            compile=self.compile,
            name=type(self).__name__.lower(),
            step=step,
            parameters=[*network.parameters(), centers],
            epochs=int(self.epochs),
            lr=self.cluster_lr,
            modules=[network],
            on_batch_start=on_batch_start,
            on_epoch_end=lambda epoch: {"labels_changed": float(state["changed"])},
            augment=self._augmenter(),
            state=state,
        )
        epochs = run_phase(phase, data, self.batch_size, generator, self.history_, self.verbose,
                           self._phase_checkpoint(phase))
        self._centers = centers.detach()
        return epochs

    def predict_proba(self, X):
        """Soft assignments ``q`` ``(n, n_clusters)``: Student-t similarity to each centre."""
        return student_t_assignment(self._embed(X), self._centers).cpu().numpy()


@register("idec")
@document_parameters
class IDEC(DEC):
    """Improved DEC (Guo et al., 2017): DEC's KL loss plus the autoencoder's reconstruction loss.

    Minimises ``L_rec + gamma · KL(p ‖ q)`` with the decoder kept, so the embedding keeps the
    local structure of the data while the clusters sharpen (``L_rec`` is the mean squared error
    per feature, as in the reference code). Otherwise as :class:`DEC`.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import IDEC
    >>> X = load_digits().data
    >>> model = IDEC(10, gamma=0.1, random_state=0).fit(X)
    >>> model.labels_.shape
    (1797,)
    """

    _parameter_constraints = {"gamma": [reals(0, None, closed="neither")]}
    _parameter_docs = {"gamma": "Weight of the KL clustering loss beside the reconstruction loss."}

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        preset: str = "default",
        gamma: float = 0.1,
        epochs: int = 20,
        cluster_lr: float = 1e-4,
        update_interval: int = 140,
        tol: float = 1e-3,
        n_init: int = 20,
        latent_dim: int = 10,
        hidden_dims: tuple[int, ...] | None = None,
        architecture: str = "mlp",
        pretrain_epochs: int | str = "auto",
        batch_size: int = 256,
        lr: float = 1e-3,
        input_scaling: str = "auto",
        max_grad_norm: float | None = None,
        precision: str | None = None,
        compile: bool = False,
        deterministic: bool = False,
        checkpoint_dir: str | None = None,
        checkpoint_every: int = 1,
        augment: bool | str = "auto",
        autoencoder=None,
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
    ):
        store_params(self, locals())

    def _kl_weight_beside_reconstruction(self) -> float | None:
        return float(self.gamma)

