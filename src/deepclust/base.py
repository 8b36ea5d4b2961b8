"""Shared machinery of every deepclust estimator.

``TorchEstimator`` holds what every network-backed estimator needs: input validation, the
input scaling that ``predict`` must reapply, devices, seeding, batched inference and the state
that ``save``/``load`` write. The checks shared by several estimators sit beside it. The
clusterers' own base, :class:`~deepclust.methods.clusterer.DeepClusterer`, builds on it.
"""
from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from .data.scaling import choose_scaling
from .data.source import ArraySource, is_source, row_blocks
from .data.validate import check_input, input_scaling_for
from .exceptions import DeepclustError, ModelFileError
from .files import jsonable
from .model_file import save_model
from .nn.layers import is_image_shape
from .params import preset_changes
from .tensors import expect_tensor
from .training import InMemoryData, Phase, StreamedData, draw_seed, random_shift_rotate, resolve_device
from .training.checkpoint import PhaseCheckpoint, state_digest
from .training.distributed import join, same_everywhere, shard

#: on small data, ``pretrain_epochs="auto"`` lengthens the pretraining to this many optimiser steps
MIN_PRETRAIN_STEPS = 500
#: the same floor for images, whose autoencoder needs more steps before its codes separate classes
#: better than the pixels do (``benchmarks/NOTES.md``, "Small images")
MIN_IMAGE_PRETRAIN_STEPS = 2000
#: the samples of the data the presets' pretraining lengths were measured on (MNIST-70k)
PRESET_MEASURED_SAMPLES = 70_000


def is_integer(value) -> bool:
    """Whether ``value`` is an int or a NumPy integer (``True``/``False`` are not)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Optimiser steps of one epoch over ``n_samples`` in batches of ``batch_size`` (the last
    one partial)."""
    return -(-int(n_samples) // int(batch_size))


def resolve_pretrain_epochs(epochs, default: int, shape: tuple[int, ...], batch_size: int) -> int:
    """Pretraining epochs for data of ``shape`` ``(n_samples, *sample_shape)`` at ``batch_size``:
    ``"auto"`` gives ``default``, or more on small data so that the autoencoder takes at least
    :data:`MIN_PRETRAIN_STEPS` steps (:data:`MIN_IMAGE_PRETRAIN_STEPS` on images, samples shaped
    ``(h, w)`` or ``(c, h, w)``). An integer is used as given, with a warning when it makes fewer
    than :data:`MIN_PRETRAIN_STEPS` steps (an autoencoder that short is rarely trained: clusters
    come out close to chance)."""
    n_samples = int(shape[0])
    steps = steps_per_epoch(n_samples, batch_size)
    floor = MIN_IMAGE_PRETRAIN_STEPS if is_image_shape(shape[1:]) else MIN_PRETRAIN_STEPS
    auto = max(default, -(-floor // steps))
    if isinstance(epochs, str) and epochs == "auto":
        return auto
    if 0 < epochs * steps < MIN_PRETRAIN_STEPS:
        warnings.warn(
            f"pretrain_epochs={epochs} gives the autoencoder only {epochs * steps} optimiser "
            f"steps on {n_samples} samples (batch {batch_size}); under {MIN_PRETRAIN_STEPS} it is "
            f"rarely trained enough to cluster well: pretrain_epochs='auto' would use {auto}",
            UserWarning, stacklevel=4)
    return int(epochs)


def preset_pretrain_epochs(epochs: int, preset_epochs: int, n_samples: int, batch_size: int,
                           default_steps: int) -> int:
    """Pretraining epochs under a preset whose recipe sets ``preset_epochs`` (``epochs``: what
    ``pretrain_epochs="auto"`` made of them on this data). A recipe was measured on
    :data:`PRESET_MEASURED_SAMPLES` samples; on fewer, the autoencoder gets the whole epochs that fit
    in ``sqrt(n_samples / 70,000)`` times the optimiser steps it takes there, no more than
    ``default_steps`` (those of ``preset="default"``'s epochs at its batch size on the same data,
    before the small-data floors of :func:`resolve_pretrain_epochs`) and never fewer than
    ``epochs``. For N2D's ``fast`` (20 epochs at batch 128: 10,940 steps on 70,000 samples) that is
    52 epochs on 10,000 samples. The same epochs at every size would leave a mid-sized set's codes
    half-trained."""
    measured = preset_epochs * steps_per_epoch(PRESET_MEASURED_SAMPLES, batch_size)
    scaled = measured * math.sqrt(min(n_samples, PRESET_MEASURED_SAMPLES) / PRESET_MEASURED_SAMPLES)
    return max(int(epochs), int(min(scaled, default_steps)) // steps_per_epoch(n_samples, batch_size))


def check_n_clusters(k, n_samples: int) -> None:
    """Refuse a cluster count (a declared int >= 2) that exceeds the number of samples."""
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


def _data_fingerprint(X: np.ndarray | ArraySource, rows: int) -> dict:
    """Shape, type and a digest of the first and last ``rows`` rows: what tells two processes'
    data apart without reading it all."""
    digest = hashlib.sha256()
    n = X.shape[0]
    for block in (X[:min(rows, n)], X[max(0, n - rows):]):
        digest.update(np.ascontiguousarray(block, dtype=np.float32).data)
    return {"shape": list(X.shape), "dtype": str(X.dtype), "sha256": digest.hexdigest()[:16]}


class TorchEstimator:
    """Mixin: validation, scaling, device, seeding and batched inference for torch models."""

    #: attributes every network fitted on the input has (see ``deepclust.params``)
    _attribute_docs = {
        "input_shape_": ("tuple of int", "Shape of one sample."),
        "n_features_in_": ("int", "Features per sample (the product of ``input_shape_``)."),
        "feature_names_in_": ("ndarray of str", "Column names, when fitted on a DataFrame."),
        "history_": ("list of dict", "One record per epoch of every phase: phase, epoch, mean losses."),
        "n_iter_": ("int", "Epochs run."),
        "preset_params_": ("dict", "The parameters ``preset`` set, with their values (empty for ``'default'``)."),
    }

    #: batch size for inference (no gradients, so larger than for training)
    inference_batch_size = 4096
    #: rows read, checked and scaled at a time wherever the whole input is passed over (input
    #: statistics, encoding, ``predict``/``transform``) and the chunk a streamed epoch shuffles
    #: (:mod:`deepclust.training.data`): a large input is never copied whole
    input_block_rows = 16_384

    #: per preset name, the parameters it sets (see ``preset``); a subclass's entries add to its
    #: bases' (:func:`deepclust.params.preset_recipe`)
    _presets: dict[str, dict] = {}

    def _device(self) -> torch.device:
        return resolve_device(self.device)

    def _fit_with_preset(self, X):
        """``fit`` under a preset other than ``"default"``: an estimator of this class with the
        preset's values (:func:`deepclust.params.preset_changes`; its pretraining epochs as what
        ``pretrain_epochs="auto"`` starts from, see :func:`preset_pretrain_epochs`) is fitted on
        ``X``, and its fitted state becomes this estimator's; ``preset_params_`` records the values
        it set."""
        changes = preset_changes(self)
        params = self.get_params(deep=False)
        stand_in = type(self)(**{**params, **changes, "preset": "default"})
        if "pretrain_epochs" in changes:  # left at "auto": the preset's count is where "auto" starts
            stand_in.pretrain_epochs = "auto"
            stand_in.default_pretrain_epochs = changes["pretrain_epochs"]
            stand_in.default_batch_size = params["batch_size"]  # the default's steps cap the preset's
        stand_in.fit(X)
        vars(self).update({k: v for k, v in vars(stand_in).items()
                           if k not in params and k not in ("default_pretrain_epochs", "default_batch_size")})
        self.preset_params_ = changes
        return self

    #: whether ``fit`` trains from files (paths, memmaps) read in blocks; if not, a memmap is
    #: read whole and a path refused
    _reads_files = True

    def _check_input(self, X, *, reset: bool) -> np.ndarray | ArraySource:
        if isinstance(X, np.memmap) and not self._reads_files:
            X = X.view(np.ndarray)  # read whole, as any array
        elif is_source(X) and not self._reads_files:
            raise DeepclustError(f"{type(self).__name__} trains on data in memory; load the file first "
                                 "(e.g. np.load(path)), or train an autoencoder clusterer from it")
        return check_input(self, X, reset=reset)

    def _fingerprinted(self, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """``blocks`` passed through; with ``checkpoint_dir``, their SHA-256 (the fingerprint of
        the fit's data in every phase checkpoint) is kept as they go by."""
        if getattr(self, "checkpoint_dir", None) is None:
            yield from blocks
            return
        digest = hashlib.sha256()
        for block in blocks:
            digest.update(np.ascontiguousarray(block).data)
            yield block
        self._fit_data_sha256 = digest.hexdigest()

    def _row_blocks(self, X: np.ndarray | ArraySource) -> Iterator[np.ndarray]:
        """The checked input ``X`` as float32 blocks ``(m, *input_shape_)`` of
        ``input_block_rows`` rows, in order (a file's rows checked for NaN/inf as they are read)."""
        for block in row_blocks(X, self.input_block_rows):
            yield block.reshape(block.shape[0], *self.input_shape_)

    def _phase_checkpoint(self, phase: Phase) -> PhaseCheckpoint | None:
        """``checkpoint_dir/<phase>.safetensors`` (None without ``checkpoint_dir``), fingerprinted
        by the data's SHA-256, the settings and the state the phase starts from (so a resumed
        run continues only what it would itself have started)."""
        if getattr(self, "checkpoint_dir", None) is None:
            return None
        ignored = ("verbose", "device", "checkpoint_dir", "checkpoint_every", "autoencoder")
        settings = {k: v for k, v in self.get_params(deep=False).items() if k not in ignored}
        if not isinstance(self.random_state, (int, np.integer, type(None))):
            # a RandomState draws another seed every fit: the starting-state digest then differs
            settings["random_state"] = type(self.random_state).__name__
        fingerprint = {
            "estimator": type(self).__name__,
            "phase": phase.name,
            "device": self._device().type,  # another device draws other random numbers
            "settings": jsonable(settings),
            "input_shape": list(self.input_shape_),
            "data_sha256": self._fit_data_sha256,
            "start_sha256": state_digest(phase.all_modules, phase.state),
        }
        return PhaseCheckpoint(Path(self.checkpoint_dir) / f"{phase.name}.safetensors",
                               self.checkpoint_every, fingerprint)

    def _in_blocks(self, X, fn: Callable[[np.ndarray], torch.Tensor]) -> torch.Tensor:
        """``fn`` over the input ``X`` (checked here), ``input_block_rows`` rows at a time for
        NumPy arrays and files; the results concatenated along the first dimension."""
        if is_source(X) and self._reads_files:
            return torch.cat([fn(block) for block in self._row_blocks(self._check_input(X, reset=False))])
        if isinstance(X, np.ndarray) and X.ndim >= 2 and X.shape[0] > self.input_block_rows:
            rows = self.input_block_rows
            return torch.cat([fn(self._check_input(X[i:i + rows], reset=False)) for i in range(0, X.shape[0], rows)])
        return fn(self._check_input(X, reset=False))

    def _training_data(self, X: np.ndarray | ArraySource) -> InMemoryData | StreamedData:
        """The checked input as the training loop reads it: an array scaled onto the device
        whole, a file read a window at a time; under torchrun this rank's share of either, once
        every rank is known to hold the same data."""
        here = join(self._input_offset.device)
        if here.active:
            same_everywhere(_data_fingerprint(X, self.input_block_rows), "data")
        if isinstance(X, ArraySource):
            return StreamedData(X, self._input_offset, self._input_scale, self._input_offset.device,
                                self.input_block_rows, sample_shape=self.input_shape_)
        start, stop = shard(X.shape[0], here)
        return InMemoryData(self._to_tensor(X[start:stop]), self.input_block_rows, n=X.shape[0])

    def _fit_scaling(self, X: np.ndarray | ArraySource) -> None:
        """Input scaling from one pass over ``X`` (which also fingerprints it, see ``_fingerprinted``)."""
        name, offset, scale = choose_scaling(self._fingerprinted(self._row_blocks(X)), input_scaling_for(self))
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
        return is_image_shape(self.input_shape_)

    def _augmenter(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The batch augmentation ``augment`` asks for, or None.

        ``True`` needs images; ``"auto"`` augments images and leaves any other data alone.
        """
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
        save_model(self, path)

    @torch.no_grad()
    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor],
               Xt: torch.Tensor | InMemoryData | StreamedData) -> torch.Tensor:
        """``fn`` over ``Xt`` (a tensor, or the training data, passed over in order) in inference
        batches, concatenated; modules must be in eval mode."""
        if isinstance(Xt, torch.Tensor):
            return torch.cat([fn(batch) for batch in Xt.split(self.inference_batch_size)])
        size = self.inference_batch_size
        return Xt.gather(torch.cat([fn(batch) for block in Xt.blocks() for batch in block.split(size)]))
