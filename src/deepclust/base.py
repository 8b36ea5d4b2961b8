"""Shared machinery of every deepclust estimator, and the base class of the clusterers.

``TorchEstimator`` holds what every network-backed estimator needs: input validation, the
input scaling that ``predict`` must reapply, devices, seeding, batched inference and the state
that ``save``/``load`` write. ``DeepClusterer`` adds the clustering contract: an autoencoder
(pretrained here or passed in as ``autoencoder=``), cluster initialisation in its latent space,
method-specific training phases, and the method's own assignment rule.
"""
from __future__ import annotations

import copy
import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted

from .data.scaling import choose_scaling
from .data.validate import check_input
from .exceptions import DeepclustError, ModelFileError
from .tensors import expect_tensor
from .training import Phase, draw_seed, random_shift_rotate, resolve_device, seeded
from .training.checkpoint import PhaseCheckpoint, state_digest

#: on small data, ``pretrain_epochs="auto"`` lengthens the pretraining to this many optimiser steps
MIN_PRETRAIN_STEPS = 500


def is_integer(value) -> bool:
    """Whether ``value`` is an int or a NumPy integer (``True``/``False`` are not)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def resolve_pretrain_epochs(epochs, default: int, n_samples: int, batch_size: int) -> int:
    """Pretraining epochs for ``n_samples`` at ``batch_size``: ``"auto"`` gives ``default``, or
    more on small data so that the autoencoder takes at least :data:`MIN_PRETRAIN_STEPS` steps.
    An integer is used as given, with a warning when it makes fewer steps than that (an
    autoencoder that short is rarely trained: clusters come out close to chance)."""
    if not is_integer(batch_size) or batch_size < 1:
        raise DeepclustError(f"batch_size must be a positive integer, got {batch_size!r}")
    steps_per_epoch = -(-n_samples // int(batch_size))
    auto = max(default, -(-MIN_PRETRAIN_STEPS // steps_per_epoch))
    if isinstance(epochs, str) and epochs == "auto":
        return auto
    if not is_integer(epochs) or epochs < 0:
        raise DeepclustError(f"pretrain_epochs must be 'auto' or an integer >= 0, got {epochs!r}")
    if 0 < epochs * steps_per_epoch < MIN_PRETRAIN_STEPS:
        warnings.warn(
            f"pretrain_epochs={epochs} gives the autoencoder only {epochs * steps_per_epoch} optimiser "
            f"steps on {n_samples} samples (batch {batch_size}); under {MIN_PRETRAIN_STEPS} it is "
            f"rarely trained enough to cluster well: pretrain_epochs='auto' would use {auto}",
            UserWarning, stacklevel=4)
    return int(epochs)


def check_n_clusters(k, n_samples: int) -> None:
    """Refuse a cluster count that is not an integer >= 2 or exceeds the number of samples."""
    if not is_integer(k) or k < 2:
        raise DeepclustError(f"n_clusters must be an integer >= 2, got {k!r}")
    if n_samples < k:
        raise DeepclustError(
            f"n_samples={n_samples} is fewer than n_clusters={k}: "
            "a clustering needs at least one sample per cluster"
        )


def check_draw(n, cluster=None, n_clusters: int | None = None, name: str = "n") -> None:
    """Refuse a sample count ``n`` that is not a positive integer, or a ``cluster`` that is not
    an integer in ``[0, n_clusters)``, with the generative models' shared messages."""
    if not is_integer(n) or n < 1:
        raise DeepclustError(f"{name} must be a positive integer, got {n!r}")
    if cluster is not None and (
        not is_integer(cluster) or not 0 <= cluster < n_clusters
    ):
        raise DeepclustError(f"cluster must be an integer in [0, {n_clusters - 1}], got {cluster!r}")


def warn_if_clusters_empty(labels: np.ndarray, n_clusters: int, history: list[dict]) -> None:
    """A ``ConvergenceWarning``, also recorded in ``history``, when clusters ended with no sample."""
    sizes = np.bincount(labels, minlength=n_clusters)
    empty = int((sizes == 0).sum())
    if empty:
        history.append({"phase": "result", "empty_clusters": empty, "cluster_sizes": sizes.tolist()})
        warnings.warn(
            f"{empty} of {n_clusters} clusters ended empty (cluster sizes {sizes.tolist()}): the "
            "clustering degenerated; try another random_state, fewer clusters or longer pretraining",
            ConvergenceWarning,
            stacklevel=3,
        )


def load_module_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    """Fill ``module`` from the tensors named ``prefix + name``; a clear error on any mismatch."""
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelFileError(
            f"{prefix.rstrip('.') or 'network'} tensors do not match the configuration: "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    for name, value in expected.items():
        expect_tensor(state, name, tuple(value.shape), value.dtype)
    module.load_state_dict(state)


class TorchEstimator:
    """Mixin: validation, scaling, device, seeding and batched inference for torch models."""

    #: batch size for inference (no gradients, so larger than for training)
    inference_batch_size = 4096
    #: rows of a NumPy input (a memory-mapped ``.npy`` too) checked and scaled at a time by
    #: ``predict``/``transform``, so that a large input is never copied whole
    input_block_rows = 16_384

    def _device(self) -> torch.device:
        return resolve_device(self.device)

    def _check_input(self, X, *, reset: bool) -> np.ndarray:
        X = check_input(self, X, reset=reset)
        if reset and getattr(self, "checkpoint_dir", None) is not None:  # fingerprint of the fit's data
            self._fit_data_sha256 = hashlib.sha256(np.ascontiguousarray(X).data).hexdigest()
        return X

    def _phase_checkpoint(self, phase: Phase) -> PhaseCheckpoint | None:
        """``checkpoint_dir/<phase>.safetensors`` (None without ``checkpoint_dir``), fingerprinted
        by the data's SHA-256, the settings and the state the phase starts from (so a resumed
        run continues only what it would itself have started)."""
        if getattr(self, "checkpoint_dir", None) is None:
            return None
        from .io import _jsonable

        ignored = ("verbose", "device", "checkpoint_dir", "checkpoint_every", "autoencoder")
        settings = {k: v for k, v in self.get_params(deep=False).items() if k not in ignored}
        if not isinstance(self.random_state, (int, np.integer, type(None))):
            # a RandomState draws another seed every fit: the starting-state digest then differs
            settings["random_state"] = type(self.random_state).__name__
        fingerprint = {
            "estimator": type(self).__name__,
            "phase": phase.name,
            "device": self._device().type,  # another device draws other random numbers
            "settings": _jsonable(settings),
            "input_shape": list(self.input_shape_),
            "data_sha256": self._fit_data_sha256,
            "start_sha256": state_digest(phase.all_modules, phase.state),
        }
        return PhaseCheckpoint(Path(self.checkpoint_dir) / f"{phase.name}.safetensors",
                               self.checkpoint_every, fingerprint)

    def _in_blocks(self, X, fn: Callable[[np.ndarray], torch.Tensor]) -> torch.Tensor:
        """``fn`` over the checked input ``X``, ``input_block_rows`` rows at a time for NumPy
        arrays; the results concatenated along the first dimension."""
        if isinstance(X, np.ndarray) and X.ndim >= 2 and X.shape[0] > self.input_block_rows:
            rows = self.input_block_rows
            return torch.cat([fn(self._check_input(X[i:i + rows], reset=False)) for i in range(0, X.shape[0], rows)])
        return fn(self._check_input(X, reset=False))

    def _fit_scaling(self, X: np.ndarray) -> None:
        name, offset, scale = choose_scaling(X, self.input_scaling)
        self.input_scaling_ = name
        device = self._device()
        self._input_offset = torch.as_tensor(offset, device=device)
        self._input_scale = torch.as_tensor(scale, device=device)

    def _scaling_tensors(self) -> dict[str, torch.Tensor]:
        return {"input_offset": self._input_offset, "input_scale": self._input_scale}

    def _restore_scaling(self, tensors: dict[str, torch.Tensor]) -> None:
        device = self._device()
        self._input_offset = expect_tensor(tensors, "input_offset", self.input_shape_).to(device)
        self._input_scale = expect_tensor(tensors, "input_scale", self.input_shape_).to(device)

    def _to_tensor(self, X: np.ndarray) -> torch.Tensor:
        """Checked array → scaled float32 tensor on the model's device."""
        with warnings.catch_warnings():
            # read-only (memory-mapped) arrays are fine: the scaled result is a new tensor
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            Xt = torch.as_tensor(np.ascontiguousarray(X), device=self._input_offset.device)
        return (Xt - self._input_offset) / self._input_scale

    def _from_tensor(self, Xt: torch.Tensor) -> np.ndarray:
        """Undo the input scaling: model space → the user's units, as a NumPy array."""
        return (Xt * self._input_scale + self._input_offset).cpu().numpy()

    def _seed(self) -> int:
        return draw_seed(self.random_state)

    def _fitted_on_images(self) -> bool:
        """Whether the samples are images, shaped ``(h, w)`` or ``(c, h, w)``."""
        return len(self.input_shape_) in (2, 3)

    def _augmenter(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The batch augmentation ``augment`` asks for, or None.

        ``True`` needs images; ``"auto"`` augments images and leaves any other data alone.
        """
        if self.augment not in (True, False, "auto"):
            raise DeepclustError(f"augment must be True, False or 'auto', got {self.augment!r}")
        is_image = self._fitted_on_images()
        if self.augment == "auto":
            return random_shift_rotate if is_image else None
        if not self.augment:
            return None
        if not is_image:
            raise DeepclustError(
                "augment=True shifts and rotates images, so it needs samples shaped (h, w) or "
                f"(c, h, w); got samples of shape {tuple(self.input_shape_)}"
            )
        return random_shift_rotate

    def _feature_names_state(self) -> dict:
        """``feature_names_in_`` as JSON-ready config (empty when fitted without column names)."""
        if hasattr(self, "feature_names_in_"):
            return {"feature_names_in_": [str(f) for f in self.feature_names_in_]}
        return {}

    def _restore_feature_names(self, fitted: dict) -> None:
        if "feature_names_in_" in fitted:
            self.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)

    def _input_fitted_state(self) -> dict:
        """What a network fitted directly on the input records: shapes, scaling, history."""
        return {
            "input_shape_": list(self.input_shape_),
            "n_features_in_": int(self.n_features_in_),
            "input_scaling_": self.input_scaling_,
            "n_iter_": int(self.n_iter_),
            "history_": self.history_,
            **self._feature_names_state(),
        }

    def _restore_input_fitted_state(self, fitted: dict) -> None:
        self.input_shape_ = tuple(int(s) for s in fitted["input_shape_"])
        self.n_features_in_ = int(fitted["n_features_in_"])
        self._restore_feature_names(fitted)
        self.input_scaling_ = fitted["input_scaling_"]
        self.n_iter_ = fitted["n_iter_"]
        self.history_ = fitted["history_"]

    def save(self, path) -> None:
        """Write the fitted model as ``config.json`` + ``model.safetensors`` (folder or ``.zip``)."""
        from .io import save_model

        save_model(self, path)

    @torch.no_grad()
    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], Xt: torch.Tensor) -> torch.Tensor:
        """``fn`` over ``Xt`` in inference batches, concatenated; modules must be in eval mode."""
        return torch.cat([fn(batch) for batch in Xt.split(self.inference_batch_size)])


class DeepClusterer(ClusterMixin, TransformerMixin, TorchEstimator, BaseEstimator):
    """Base of every clusterer: autoencoder + latent clusters + the method's own training.

    Common parameters, same names in every method: ``n_clusters``; the autoencoder's
    ``latent_dim``, ``hidden_dims``, ``architecture``, ``pretrain_epochs``, ``batch_size``, ``lr``
    ``input_scaling`` and ``max_grad_norm`` (see :class:`~deepclust.Autoencoder`; the clipping
    applies to the clustering phase too); ``checkpoint_dir`` and ``checkpoint_every`` (the
    pretraining and the clustering phase are checkpointed, each in its own file); ``augment``
    (``True``: random shifts and rotations of image batches in pretraining *and* clustering;
    ``"auto"``: the same for images, nothing for other data); ``autoencoder`` (a fitted
    ``Autoencoder`` to reuse instead of pretraining; a private copy is fine-tuned); ``epochs`` and
    ``cluster_lr`` for methods with a clustering phase; ``device``, ``random_state``, ``verbose``.

    ``pretrain_epochs="auto"`` (the default) pretrains for the method's
    ``default_pretrain_epochs``, raised on small data to give at least 500 optimiser steps.

    Subclasses define ``__init__`` (hyperparameters only) and may override the hooks
    ``_init_clusters(Z)``, ``_fit_clusters(Xt, generator)`` and ``_assign(Z)``.
    Fitted attributes: ``labels_`` (the method's own assignment of the training data),
    ``cluster_centers_`` (latent space), ``autoencoder_``, ``n_features_in_``, ``history_``,
    ``n_iter_``.
    """

    #: the pretraining epochs ``pretrain_epochs="auto"`` starts from
    default_pretrain_epochs = 20

    # --- the public contract -------------------------------------------------------------
    def fit(self, X, y=None):
        """Pretrain (or reuse ``autoencoder``), initialise clusters, train; sets ``labels_``."""
        X = self._check_input(X, reset=True)
        self._check_params(X)
        seed = self._seed()
        device = self._device()
        with seeded(seed, device, self.deterministic) as generator:
            self.autoencoder_ = self._get_autoencoder(X, seed)
            self.history_ = list(self.autoencoder_.history_)
            Xt = self.autoencoder_._to_tensor(X)
            self._init_clusters(self.autoencoder_._encode(Xt), seed)
            self.n_iter_ = self._fit_clusters(Xt, generator)
            self.labels_ = self._assign(self.autoencoder_._encode(Xt)).cpu().numpy()
        warn_if_clusters_empty(self.labels_, self.n_clusters, self.history_)
        return self

    def predict(self, X) -> np.ndarray:
        """Cluster index of each sample, ``(n,)`` int64, by the method's own assignment rule."""
        return self._assign(self._embed(X)).cpu().numpy()

    def transform(self, X) -> np.ndarray:
        """The learned embedding, ``(n, latent_dim)`` float32."""
        return self._embed(X).cpu().numpy()

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
        """Default: k-means with ``n_init`` restarts on the embedding ``Z`` (n, latent_dim)."""
        km = KMeans(self.n_clusters, n_init=self.n_init, random_state=seed).fit(Z.cpu().numpy())
        self._centers = torch.as_tensor(km.cluster_centers_, dtype=Z.dtype, device=Z.device)
        self._kmeans_labels = torch.as_tensor(km.labels_, device=Z.device)

    def _fit_clusters(self, Xt: torch.Tensor, generator: torch.Generator) -> int:
        """Method-specific training after initialisation; returns epochs run (default none)."""
        return 0

    def _assign(self, Z: torch.Tensor) -> torch.Tensor:
        """Default: nearest cluster centre (n,) int64."""
        return torch.cdist(Z, self._centers).argmin(dim=1)

    # --- shared pieces -------------------------------------------------------------------
    def _check_params(self, X: np.ndarray) -> None:
        check_n_clusters(self.n_clusters, X.shape[0])
        self._augmenter()  # refuse augment=True on non-image data before any training

    def _autoencoder_params(self, n_samples: int) -> dict:
        return dict(
            latent_dim=self.latent_dim,
            hidden_dims=self.hidden_dims,
            architecture=self.architecture,
            epochs=resolve_pretrain_epochs(self.pretrain_epochs, self.default_pretrain_epochs, n_samples,
                                           self.batch_size),
            batch_size=self.batch_size,
            lr=self.lr,
            input_scaling=self.input_scaling,
            max_grad_norm=self.max_grad_norm,
            deterministic=self.deterministic,
            checkpoint_dir=self.checkpoint_dir,
            checkpoint_every=self.checkpoint_every,
            augment=self.augment,
            device=self.device,
            verbose=self.verbose,
        )

    def _get_autoencoder(self, X: np.ndarray, seed: int):
        """A fitted autoencoder for ``X``: a private copy of the one passed in, or a new one."""
        from .methods.autoencoder import Autoencoder

        if self.autoencoder is None:
            return Autoencoder(**self._autoencoder_params(X.shape[0]), random_state=seed).fit(X)
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
        autoencoder.device = self.device
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
        from .methods.autoencoder import Autoencoder

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

