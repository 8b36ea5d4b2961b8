"""ClusterGAN: a GAN whose latent carries a cluster code, and an encoder that reads it back."""
from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..base import check_draw, check_n_clusters, load_module_state, resolve_pretrain_epochs, warn_if_clusters_empty
from ..exceptions import DeepclustError
from ..nn.gan import discriminator_loss, generator_loss
from ..params import document_parameters, ints, reals, store_params
from ..report import ReportMixin
from ..tensors import expect_tensor
from ..training import Phase, draw_seed, run_phase
from ..training.distributed import from_rank_0
from .clusterer import DeepClusterer
from .gan import GAN
from .registry import REGISTRY, register


@register("clustergan")
@document_parameters
class ClusterGAN(ReportMixin, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, GAN):
    """ClusterGAN (Mukherjee et al., 2019): cluster real data and generate any cluster's samples.

    The generator's input is ``z = z_n ⊕ one_hot(c)`` with ``z_n ~ N(0, noise_std²·I)`` of size
    ``noise_dim`` and ``c`` uniform over ``n_clusters``. An encoder ``E`` maps data back to
    ``(ẑ_n, logits of c)``; generator and encoder are trained together on the adversarial loss plus
    ``beta_n·MSE(ẑ_n, z_n) + beta_c·CE(logits, c)`` on generated samples, so that every cluster
    code generates a distinct mode of the data and ``E`` recognises it. Real data is clustered by
    ``E``: ``predict`` is the most likely code, ``predict_proba`` its softmax, ``transform`` the
    encoded latent ``ẑ_n ⊕ softmax(logits)``. ``sample(n, cluster=k)`` generates cluster ``k``
    and ``augment(X, n_per_cluster)`` adds generated samples to a dataset.

    ``history_`` records per epoch the generator's adversarial loss (``generator``), the encoder's
    recovery losses (``encoder_noise``, ``encoder_cluster``), its loss on real data against the
    ``init`` clusters (``encoder_init``), their weighted sum (``loss``) and the discriminator's
    loss (``discriminator``).

    Initialisation (``init``): trained from random weights alone, as published, two cluster codes
    often end up generating the same mode while another mode gets none, and the clusters of real
    data are then wrong. So the encoder is first taught, for ``init_epochs`` epochs on the real data, the clusters of
    an autoencoder clusterer: ``init="n2d"`` (default) or any other registry name; ``"none"``
    skips it. That clusterer's autoencoder is pretrained for ``pretrain_epochs`` (``"auto"``: 20,
    more on small data, as for the autoencoder clusterers) with a code of
    ``latent_dim``, or ``autoencoder=`` (a fitted :class:`~deepclust.Autoencoder`) is reused.
    During the game the encoder's cross-entropy against those clusters on the real batch, weight
    ``beta_init``, keeps it from drifting towards what the generator draws (0 turns it off). The
    recovery loss then drives each code's samples onto one real cluster. The encoder's accuracy
    therefore follows ``init``'s; the game adds generation.

    Conditional critic (``conditional_critic=True``, an addition to the published method): the
    discriminator scores a sample *as a member of a cluster*, a real sample as one of its
    ``init`` cluster and a generated one as one of its code's cluster (with ``init="none"``
    there are no clusters of real data, and the critic is the published one). It has
    ``1 + n_clusters`` outputs, an unconditional score plus one per cluster, and its score for
    cluster ``k`` is their sum (a projection critic); in its updates the generated samples
    carry the real batch's clusters. The published critic
    sees only whether a sample looks real, so a code may draw any digit the encoder happens to
    read as that code; the conditional one makes code ``k`` draw what cluster ``k`` holds.

    Defaults (chosen by measurement, ``benchmarks/NOTES.md``): WGAN-GP with 5 critic updates per
    generator update and Adam 1e-4, β (0.5, 0.9), as published (the non-saturating loss can
    collapse to a single mode); noise σ = 0.5 instead of the published 0.1, which gives nearly
    identical samples within a cluster; MLP networks, much cheaper than the DCGAN-style ones
    (``architecture="conv"``) on a CPU.

    The other parameters are :class:`~deepclust.GAN`'s (``hidden_dims`` are the generator's); the
    encoder has the discriminator's architecture. With ``checkpoint_dir`` the warm start and the
    game are saved as ``encoder.safetensors`` and ``clustergan.safetensors``, beside the init
    clusterer's own checkpoints (``pretrain.safetensors``, ...).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import ClusterGAN
    >>> X = load_digits().data
    >>> model = ClusterGAN(10, epochs=5, random_state=0).fit(X)
    >>> model.sample(4, cluster=3).shape, model.append_samples(X, n_per_cluster=2)[0].shape
    ((4, 64), (1817, 64))
    """

    #: files saved before ``conditional_critic`` existed hold the published critic (see io.load)
    _params_before_they_existed = {"conditional_critic": False}

    _parameter_constraints = {
        "n_clusters": [ints(2)],
        "noise_std": [reals(0, None, closed="neither")],
        "beta_n": [reals(0)],
        "beta_c": [reals(0)],
        "init": [str],
        "init_epochs": [ints(0)],
        "beta_init": [reals(0)],
        "conditional_critic": ["boolean"],
    }
    _parameter_docs = {
        "noise_dim": "Size of the continuous part ``z_n`` of the generator's input.",
        "noise_std": "Standard deviation of ``z_n``.",
        "beta_n": "Weight of the encoder's noise-recovery loss ``MSE(ẑ_n, z_n)``.",
        "beta_c": "Weight of the encoder's cluster-recovery loss ``CE(logits, c)``.",
        "init": ("The autoencoder clusterer (a registry name such as ``'n2d'``) whose clusters the encoder "
                 "learns first, on the real data; ``'none'`` starts from random weights, as published."),
        "init_epochs": "Epochs of that warm start.",
        "beta_init": ("Weight of the encoder's loss against the ``init`` clusters during the game (0 turns it "
                      "off)."),
        "conditional_critic": ("Score a sample as a member of a cluster (real: its ``init`` cluster; generated: "
                               "its code's) instead of only as real or generated; needs ``init``."),
        "pretrain_epochs": ("Pretraining epochs of the ``init`` clusterer's autoencoder (``'auto'``: 20, more on "
                            "small data)."),
        "latent_dim": "Code size of the ``init`` clusterer's autoencoder.",
        "autoencoder": "A fitted :class:`~deepclust.Autoencoder` for the ``init`` clusterer to reuse.",
    }
    _attribute_docs = {
        "labels_": ("ndarray of shape (n_samples,)", "The encoder's cluster of every training sample."),
        "encoder_": ("torch.nn.Module", "The fitted encoder: data → (noise, cluster logits)."),
    }

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        noise_dim: int = 30,
        noise_std: float = 0.5,
        beta_n: float = 10.0,
        beta_c: float = 10.0,
        init: str = "n2d",
        init_epochs: int = 10,
        beta_init: float = 1.0,
        conditional_critic: bool = True,
        pretrain_epochs: int | str = "auto",
        latent_dim: int = 10,
        autoencoder=None,
        hidden_dims: tuple[int, ...] | None = None,
        discriminator_dims: tuple[int, ...] | None = None,
        architecture: str = "mlp",
        activation: str = "relu",
        discriminator_activation: str = "leaky_relu",
        output_activation: str | None = "auto",
        loss: str = "wgan-gp",
        n_critic: int = 5,
        gp_weight: float = 10.0,
        epochs: int = 30,
        batch_size: int = 64,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.9),
        input_scaling: str = "auto",
        max_grad_norm: float | None = None,
        deterministic: bool = False,
        checkpoint_dir: str | None = None,
        checkpoint_every: int = 1,
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
    ):
        store_params(self, locals())

    # --- fitting ---------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Train generator, discriminator and encoder on ``X``; sets ``labels_`` (via the encoder)."""
        super().fit(X)
        self._init_targets = None  # needed only while training
        warn_if_clusters_empty(self.labels_, self.n_clusters, self.history_)
        return self

    def _check_params(self, X: np.ndarray) -> None:
        super()._check_params(X)
        check_n_clusters(self.n_clusters, X.shape[0])

    def _train(self, X: np.ndarray, Xt: torch.Tensor, generator: torch.Generator) -> None:
        """Warm-start the encoder, play the game, then cluster ``X`` with the encoder."""
        self._warm_start_encoder(X, Xt, generator)
        # the init clusters steer the game: a checkpoint of it fits only these clusters
        anchor = {} if self._init_targets is None else {"init_targets": self._init_targets}
        self.n_iter_ = self._play("clustergan", [self.generator_, self.encoder_], Xt, generator, anchor)
        self.labels_ = self._encode(Xt)[:, self.noise_dim:].argmax(dim=1).cpu().numpy()

    def _warm_start_encoder(self, X: np.ndarray, Xt: torch.Tensor, generator: torch.Generator) -> None:
        """Teach the encoder the clusters of ``init`` (an autoencoder clusterer) on the real data.

        The encoder's recovery loss then makes the generator give every cluster code its own
        cluster of real data, which random initialisation often fails to do (two codes share a
        mode while another mode gets none).
        """
        self._init_targets = None
        if self.init == "none":
            return
        if self.init not in REGISTRY or not issubclass(REGISTRY[self.init], DeepClusterer):
            choices = ["none", *(name for name, cls in REGISTRY.items() if issubclass(cls, DeepClusterer))]
            raise DeepclustError(f"init must be one of {choices}, got {self.init!r}")
        pretrain_epochs = resolve_pretrain_epochs(self.pretrain_epochs, DeepClusterer.default_pretrain_epochs,
                                                  tuple(X.shape), self.batch_size)
        clusterer = REGISTRY[self.init](
            self.n_clusters, pretrain_epochs=pretrain_epochs, latent_dim=self.latent_dim,
            batch_size=self.batch_size, autoencoder=self.autoencoder, device=self.device,
            checkpoint_dir=self.checkpoint_dir, checkpoint_every=self.checkpoint_every,
            deterministic=self.deterministic, verbose=self.verbose,
            random_state=from_rank_0(int(torch.randint(2**31 - 1, (1,), generator=generator))),
        ).fit(X)
        self.history_ += clusterer.history_
        targets = self._init_targets = torch.as_tensor(clusterer.labels_, device=Xt.device)

        def step(xb: torch.Tensor, index: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"loss": F.cross_entropy(self.encoder_(xb)[:, self.noise_dim:], targets[index])}

        phase = Phase(max_grad_norm=self.max_grad_norm, name="encoder", step=step,
                      parameters=self.encoder_.parameters(), epochs=int(self.init_epochs), lr=self.lr,
                      betas=tuple(self.betas), modules=[self.encoder_], state={"init_targets": targets})
        run_phase(phase, Xt, self.batch_size, generator, self.history_, self.verbose,
                  self._phase_checkpoint(phase))

    @property
    def _latent_dim(self) -> int:
        return int(self.noise_dim) + int(self.n_clusters)

    @property
    def _conditional(self) -> bool:
        """Whether the critic is conditional: asked for, and there are ``init`` clusters."""
        return bool(self.conditional_critic) and self.init != "none"

    @property
    def _critic_outputs(self) -> int:
        # an unconditional score, then one per cluster (see _critic_scores)
        return 1 + int(self.n_clusters) if self._conditional else 1

    def _critic_scores(self, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """The discriminator's score ``(n, 1)`` of each sample of ``x`` as a member of its cluster
        ``codes`` ``(n,)``: the unconditional score plus the cluster's own (a projection critic
        whose cluster embeddings are its last layer's rows)."""
        scores = self.discriminator_(x)
        if not self._conditional:
            return scores
        return scores[:, :1] + scores[:, 1:].gather(1, codes[:, None])

    def _discriminator_step(self, xb: torch.Tensor, index: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self._conditional:
            return super()._discriminator_step(xb, index)
        # generated samples carry the real batch's clusters, so real and generated samples of one
        # cluster meet in the critic, and the gradient penalty's interpolates have one condition
        codes = self._init_targets[index]
        noise, _ = self._draw_codes(xb.shape[0])
        with torch.no_grad():
            fake = self.generator_(self._latent(noise, codes))

        def critic(x: torch.Tensor) -> torch.Tensor:
            return self._critic_scores(x, codes)

        return {"loss": discriminator_loss(self.loss, critic, xb, fake, self.gp_weight)}

    def _build_networks(self) -> None:
        super()._build_networks()
        self.encoder_ = self._make_discriminator(self._latent_dim).to(self._device())

    def _draw_codes(
        self, n: int, generator: torch.Generator | None = None, cluster: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise ``z_n`` ``(n, noise_dim)`` and cluster indices ``c`` ``(n,)`` (uniform or fixed)."""
        device = self._device()
        noise = self.noise_std * torch.randn(n, self.noise_dim, generator=generator, device=device)
        if cluster is None:
            codes = torch.randint(self.n_clusters, (n,), generator=generator, device=device)
        else:
            codes = torch.full((n,), int(cluster), device=device)
        return noise, codes

    def _latent(self, noise: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return torch.cat([noise, F.one_hot(codes, self.n_clusters).to(noise.dtype)], dim=1)

    def _draw_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self._latent(*self._draw_codes(n, generator))

    def _generator_step(self, xb: torch.Tensor, index: torch.Tensor) -> dict[str, torch.Tensor]:
        noise, codes = self._draw_codes(xb.shape[0])
        fake = self.generator_(self._latent(noise, codes))
        adversarial = generator_loss(self.loss, self._critic_scores(fake, codes))
        encoded = self.encoder_(fake)
        noise_error = F.mse_loss(encoded[:, : self.noise_dim], noise)
        cluster_error = F.cross_entropy(encoded[:, self.noise_dim:], codes)
        parts = {
            "loss": adversarial + self.beta_n * noise_error + self.beta_c * cluster_error,
            "generator": adversarial,
            "encoder_noise": noise_error,
            "encoder_cluster": cluster_error,
        }
        if self._init_targets is not None and self.beta_init > 0:
            real_error = F.cross_entropy(self.encoder_(xb)[:, self.noise_dim:], self._init_targets[index])
            parts["loss"] = parts["loss"] + self.beta_init * real_error
            parts["encoder_init"] = real_error
        return parts

    # --- the clustering contract ---------------------------------------------------------
    def _encode(self, Xt: torch.Tensor) -> torch.Tensor:
        """The encoder's output ``(ẑ_n, code logits)``, ``(n, noise_dim + n_clusters)``."""
        self.encoder_.eval()
        return self._apply(self.encoder_, Xt)

    def _encoded(self, X) -> torch.Tensor:
        check_is_fitted(self, "labels_")
        return self._in_blocks(X, lambda block: self._encode(self._to_tensor(block)))

    def predict(self, X) -> np.ndarray:
        """Cluster index of each sample, ``(n,)`` int64: the encoder's most likely code."""
        return self._encoded(X)[:, self.noise_dim:].argmax(dim=1).cpu().numpy()

    def predict_proba(self, X) -> np.ndarray:
        """Posterior over clusters, ``(n, n_clusters)``: softmax of the encoder's code logits."""
        return torch.softmax(self._encoded(X)[:, self.noise_dim:], dim=1).cpu().numpy()

    @property
    def _n_features_out(self) -> int:  # names of get_feature_names_out: clustergan0, clustergan1...
        return int(self.noise_dim) + int(self.n_clusters)

    def transform(self, X) -> np.ndarray:
        """The encoded latent ``ẑ_n ⊕ softmax(logits)``, ``(n, noise_dim + n_clusters)`` float32."""
        encoded = self._encoded(X)
        noise, logits = encoded[:, : self.noise_dim], encoded[:, self.noise_dim:]
        return torch.cat([noise, torch.softmax(logits, dim=1)], dim=1).cpu().numpy()

    def clustering_space(self, X) -> tuple[np.ndarray, str]:
        """The encoded latent (see ``transform``), where the encoder reads each sample's cluster."""
        return self.transform(X), "encoded latent space"

    def score(self, X, y=None) -> float:
        """Mean log-probability of each sample's most likely cluster (higher = more confident)."""
        log_proba = torch.log_softmax(self._encoded(X)[:, self.noise_dim:], dim=1)
        return float(log_proba.max(dim=1).values.mean())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = False
        return tags

    # --- generation ------------------------------------------------------------------------
    def sample(self, n: int, cluster: int | None = None, random_state=None, return_labels: bool = False):
        """``n`` generated samples ``(n, *input_shape)`` in the input's units.

        With ``cluster=k`` all come from cluster ``k``; otherwise clusters are drawn uniformly.
        ``return_labels=True`` also returns the cluster of each sample, ``(n,)`` int64.
        """
        check_is_fitted(self, "labels_")
        check_draw(n, cluster, self.n_clusters)
        generator = torch.Generator(device=self._device()).manual_seed(draw_seed(random_state))
        noise, codes = self._draw_codes(int(n), generator, cluster)
        samples = self._generate(self._latent(noise, codes))
        return (samples, codes.cpu().numpy()) if return_labels else samples

    def append_samples(self, X, n_per_cluster: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """``X`` followed by ``n_per_cluster`` generated samples of every cluster, with labels:
        data augmentation for a downstream model.

        Parameters
        ----------
        X : array-like of shape (n_samples, *input_shape)
            Real data, shaped as in ``fit``.
        n_per_cluster : int
            New samples drawn from every cluster (>= 1).
        random_state : int, RandomState or None
            Seed of the draws.

        Returns
        -------
        X_augmented : ndarray of shape (n_samples + n_clusters * n_per_cluster, *input_shape)
            ``X`` as float32, then the new samples; new rows start at ``len(X)``.
        labels : ndarray of shape (len(X_augmented),)
            ``predict(X)`` for the real rows and the generating cluster for the new ones.
        """
        check_draw(n_per_cluster, name="n_per_cluster")
        real = self._check_input(X, reset=False)
        labels = [self.predict(real)]
        parts = [real]
        generator = np.random.RandomState(draw_seed(random_state))
        for k in range(self.n_clusters):
            parts.append(self.sample(n_per_cluster, cluster=k, random_state=generator))
            labels.append(np.full(n_per_cluster, k, dtype=np.int64))
        return np.concatenate(parts).astype(np.float32, copy=False), np.concatenate(labels)

    def augment(self, X, n_per_cluster: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Deprecated name of :meth:`append_samples` (``augment`` is also a parameter's name)."""
        warnings.warn("ClusterGAN.augment() is renamed append_samples(); the old name will be removed",
                      FutureWarning, stacklevel=2)
        return self.append_samples(X, n_per_cluster, random_state)

    # --- persistence hooks (see io.py) ---------------------------------------------------
    def _state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = super()._state_tensors()
        tensors.update({f"encoder.{k}": v for k, v in self.encoder_.state_dict().items()})
        tensors["labels"] = torch.as_tensor(self.labels_)
        return tensors

    def _state_fitted(self) -> dict:
        return {**super()._state_fitted(), "n_samples": int(self.labels_.shape[0])}

    def _restore(self, tensors: dict[str, torch.Tensor], fitted: dict) -> None:
        super()._restore(tensors, fitted)
        load_module_state(self.encoder_, tensors, "encoder.")
        self.encoder_.eval()
        self.labels_ = expect_tensor(tensors, "labels", (fitted["n_samples"],)).numpy()
