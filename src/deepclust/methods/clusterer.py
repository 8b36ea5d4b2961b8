"""``DeepClusterer``: the base class of every autoencoder clusterer.

It adds the clustering contract to :class:`~deepclust.base.TorchEstimator`: an autoencoder
(pretrained here or passed in as ``autoencoder=``), cluster initialisation in its latent space,
method-specific training phases, and the method's own assignment rule.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted

from ..base import (
    TorchEstimator,
    check_n_clusters,
    preset_pretrain_epochs,
    resolve_pretrain_epochs,
    steps_per_epoch,
    warn_if_clusters_empty,
)
from ..cluster import kmeans
from ..data.validate import input_scaling_for
from ..exceptions import DeepclustError
from ..params import validate_params
from ..report import ReportMixin
from ..tensors import expect_tensor
from ..training import seeded
from .autoencoder import Autoencoder


class DeepClusterer(ReportMixin, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, TorchEstimator,
                    BaseEstimator):
    """Base of every autoencoder clusterer: autoencoder + latent clusters + the method's own
    training. Not used directly: each method (``AEKMeans``, ``DCN``, ``DEC``...) subclasses it.

    Shared parameters have the same names and meaning in every method (their constraints and
    descriptions are in :mod:`deepclust.params`); defaults may differ by method, and each
    method's own docstring lists its real ones.

    Subclasses define ``__init__`` (hyperparameters only: ``store_params(self, locals())``),
    declare the constraints and descriptions of the parameters they add, and may override the
    hooks ``_init_clusters(Z, seed)``, ``_fit_clusters(data, generator)``, ``_assign(Z)`` and
    ``_final_labels(data)``.
    """

    _attribute_docs = {
        "labels_": ("ndarray of shape (n_samples,)", "The method's own cluster of every training sample."),
        "cluster_centers_": ("ndarray of shape (n_clusters, latent_dim)", "Cluster centres in the latent space."),
        "autoencoder_": ("Autoencoder", "The fitted (pretrained, then fine-tuned) autoencoder."),
        "n_iter_": ("int", "Epochs of the clustering phase run."),
    }

    #: the pretraining epochs ``pretrain_epochs="auto"`` starts from
    default_pretrain_epochs = 20
    #: ``fast``: a short pretraining in large batches, bfloat16 where native; ``accurate``: N2D's
    #: long recipe (100 epochs at batch 256, ``benchmarks/NOTES.md``)
    _presets = {
        "fast": {"pretrain_epochs": 20, "batch_size": 256, "precision": "auto"},
        "accurate": {"pretrain_epochs": 100, "batch_size": 256},
    }

    # --- the public contract -------------------------------------------------------------
    def fit(self, X, y=None):
        """Pretrain (or reuse ``autoencoder``), initialise clusters, train; sets ``labels_``.

        ``X`` is an array, a DataFrame, or data too large for memory: a path to a ``.npy`` file
        or a folder of ``.npy``/Parquet shards, or a ``numpy.memmap``, read in blocks of
        ``input_block_rows`` rows and shuffled a window at a time
        (:mod:`deepclust.training.data`)."""
        validate_params(self)
        if self.preset != "default":
            return self._fit_with_preset(X)
        self.preset_params_ = {}
        X = self._check_input(X, reset=True)
        self._check_params(X)
        seed = self._seed()
        device = self._device()
        with seeded(seed, device, self.deterministic) as generator:
            self.autoencoder_ = self._get_autoencoder(X, seed)
            if self.checkpoint_dir is not None and self.autoencoder is None:
                # the new autoencoder's scaling pass fingerprinted X already
                self._fit_data_sha256 = self.autoencoder_._fit_data_sha256
            elif self.checkpoint_dir is not None:
                for _ in self._fingerprinted(self._row_blocks(X)):
                    pass
            self.history_ = list(self.autoencoder_.history_)
            data = self.autoencoder_._training_data(X)
            self._init_clusters(self.autoencoder_._encode(data), seed)
            self.n_iter_ = self._fit_clusters(data, generator)
            self.labels_ = self._final_labels(data).cpu().numpy()
        warn_if_clusters_empty(self.labels_, self.n_clusters, self.history_)
        return self

    def predict(self, X) -> np.ndarray:
        """Cluster index of each sample, ``(n,)`` int64, by the method's own assignment rule."""
        return self._assign(self._embed(X)).cpu().numpy()

    @property
    def _n_features_out(self) -> int:  # names of get_feature_names_out: dec0, dec1...
        return self.autoencoder_.latent_dim_

    def transform(self, X) -> np.ndarray:
        """The learned embedding, ``(n, latent_dim)`` float32."""
        return self._embed(X).cpu().numpy()

    def clustering_space(self, X) -> tuple[np.ndarray, str]:
        """The samples where the method tells clusters apart, ``(n, d)`` float32, and the name of
        that space (for maps of the clustering): the latent space here; N2D's UMAP manifold."""
        return self.transform(X), "latent space"

    def score(self, X, y=None) -> float:
        """Negative mean squared latent distance to the nearest cluster centre (higher is better).

        It compares models with the same number of clusters (e.g. other seeds or settings); it
        improves as ``n_clusters`` grows, so a search over ``n_clusters`` by it picks the
        largest. To choose the number of clusters use ``AutoClusterer(n_clusters="auto")`` or
        :func:`deepclust.cluster.choose_n_clusters`, whose silhouette criterion does not grow
        with it.
        """
        Z = self._embed(X)
        return -float(torch.cdist(Z, self._centers).min(dim=1).values.pow(2).mean())

    @property
    def cluster_centers_(self) -> np.ndarray:
        """Cluster centres in latent space, ``(n_clusters, latent_dim)``."""
        check_is_fitted(self, "labels_")
        return self._centers.cpu().numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = False
        return tags

    # --- hooks ---------------------------------------------------------------------------
    def _init_clusters(self, Z: torch.Tensor, seed: int) -> None:
        """Default: k-means with ``n_init`` restarts on the embedding ``Z`` (n, latent_dim)
        (on a sample first when it is large: :func:`deepclust.cluster.kmeans`)."""
        km = kmeans(Z.cpu().numpy(), self.n_clusters, seed, self.n_init)
        self._centers = torch.as_tensor(km.cluster_centers_, dtype=Z.dtype, device=Z.device)
        self._kmeans_labels = torch.as_tensor(km.labels_, device=Z.device)

    def _fit_clusters(self, data, generator: torch.Generator) -> int:
        """Method-specific training after initialisation on the training ``data``
        (:mod:`deepclust.training.data`); returns epochs run (default none)."""
        return 0

    def _final_labels(self, data) -> torch.Tensor:
        """``labels_`` ``(n,)``: the method's assignment of the training ``data``'s codes after
        training (a method that has them already may return them instead)."""
        return self._assign(self.autoencoder_._encode(data))

    def _assign(self, Z: torch.Tensor) -> torch.Tensor:
        """Default: nearest cluster centre (n,) int64."""
        return torch.cdist(Z, self._centers).argmin(dim=1)

    # --- shared pieces -------------------------------------------------------------------
    def _check_params(self, X) -> None:
        check_n_clusters(self.n_clusters, X.shape[0])
        self._augmenter()  # refuse augment=True on non-image data before any training

    def _autoencoder_params(self, shape: tuple[int, ...]) -> dict:
        """The new autoencoder's parameters for data of ``shape`` ``(n, *sample_shape)``."""
        return dict(
            latent_dim=self.latent_dim,
            hidden_dims=self.hidden_dims,
            architecture=self.architecture,
            epochs=0 if self.architecture == "none" else self._pretrain_epochs(shape),  # no network, nothing to train
            batch_size=self.batch_size,
            lr=self.lr,
            input_scaling=input_scaling_for(self),
            max_grad_norm=self.max_grad_norm,
            precision=self.precision,
            compile=self.compile,
            deterministic=self.deterministic,
            checkpoint_dir=self.checkpoint_dir,
            checkpoint_every=self.checkpoint_every,
            augment=self.augment,
            device=self.device,
            verbose=self.verbose,
        )

    def _pretrain_epochs(self, shape: tuple[int, ...]) -> int:
        """Pretraining epochs on data of ``shape``: :func:`~deepclust.base.resolve_pretrain_epochs`, and
        under a preset's pretraining length :func:`~deepclust.base.preset_pretrain_epochs`."""
        epochs = resolve_pretrain_epochs(self.pretrain_epochs, self.default_pretrain_epochs, shape, self.batch_size)
        default_batch = getattr(self, "default_batch_size", None)  # set on a preset's stand-in (base.py)
        if default_batch is None:
            return epochs
        n_samples = int(shape[0])
        default_steps = type(self).default_pretrain_epochs * steps_per_epoch(n_samples, default_batch)
        return preset_pretrain_epochs(epochs, self.default_pretrain_epochs, n_samples, self.batch_size, default_steps)

    def _get_autoencoder(self, X, seed: int):
        """A fitted autoencoder for ``X``: a private copy of the one passed in, or a new one."""
        if self.autoencoder is None:
            autoencoder = Autoencoder(**self._autoencoder_params(tuple(X.shape)), random_state=seed)
            autoencoder.input_block_rows = self.input_block_rows  # reads the data as this one does
            return autoencoder.fit(X)
        given = self.autoencoder
        if isinstance(given, FrozenEstimator):  # survives sklearn's clone() in searches/pipelines
            given = given.estimator
        if not isinstance(given, Autoencoder):
            raise DeepclustError(
                f"autoencoder must be a fitted deepclust Autoencoder, got {type(given).__name__}"
            )
        if not hasattr(given, "network_"):
            raise DeepclustError(
                "autoencoder= is not fitted: fit it first (scikit-learn's clone() unfits it; wrap "
                "it in sklearn.frozen.FrozenEstimator to share it inside a search or pipeline)"
            )
        if tuple(given.input_shape_) != tuple(X.shape[1:]):
            raise DeepclustError(
                f"the autoencoder was fitted on inputs of shape {tuple(given.input_shape_)}, "
                f"but X has shape {tuple(X.shape[1:])}"
            )
        autoencoder = copy.deepcopy(given)  # fine-tuning must not alter the caller's
        autoencoder.device, autoencoder.input_block_rows = self.device, self.input_block_rows
        autoencoder._move_to(self._device())
        return autoencoder

    def _embed(self, X) -> torch.Tensor:
        check_is_fitted(self, "labels_")
        return self._in_blocks(X, lambda block: self.autoencoder_._encode(self.autoencoder_._to_tensor(block)))

    # --- persistence hooks (see io.py) ---------------------------------------------------
    def _state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"autoencoder.{k}": v for k, v in self.autoencoder_._state_tensors().items()}
        tensors["cluster_centers"] = self._centers
        tensors["labels"] = torch.as_tensor(self.labels_)
        return tensors

    def _state_fitted(self) -> dict:
        return {
            "n_iter_": int(self.n_iter_),
            "n_samples": int(self.labels_.shape[0]),
            "history_": self.history_,
            "autoencoder": self.autoencoder_._state_fitted(),
            "autoencoder_params": self.autoencoder_.get_params(),
            **self._feature_names_state(),
        }

    def _restore(self, tensors: dict[str, torch.Tensor], fitted: dict) -> None:
        prefix = "autoencoder."
        ae = Autoencoder(**{**fitted["autoencoder_params"], "device": self.device})
        ae._restore({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                    fitted["autoencoder"])
        self.autoencoder_ = ae
        self.input_shape_ = ae.input_shape_
        self.n_features_in_ = ae.n_features_in_
        self._restore_feature_names(fitted)
        self._centers = expect_tensor(
            tensors, "cluster_centers", (self.n_clusters, ae.latent_dim_)
        ).to(ae._device())
        self.labels_ = expect_tensor(tensors, "labels", (fitted["n_samples"],)).numpy()
        self.n_iter_ = fitted["n_iter_"]
        self.history_ = fitted["history_"]

