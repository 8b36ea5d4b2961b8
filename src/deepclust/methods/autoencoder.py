"""The autoencoder as an estimator of its own: dimensionality reduction, compression, features.

Every clusterer pretrains one of these (or reuses a fitted one passed as ``autoencoder=``).
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..base import TorchEstimator, load_module_state
from ..exceptions import DeepclustError
from ..nn import AutoencoderNet, Reshape, conv_autoencoder, mlp_autoencoder, reconstruction_loss
from ..params import _ACTIVATIONS, StrOptions, document_parameters, reals, store_params, validate_params
from ..training import Phase, run_phase, seeded
from .registry import register


@register()
@document_parameters
class Autoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, TorchEstimator, BaseEstimator):
    """Encoder/decoder network trained to reconstruct its input.

    ``transform`` gives the code ``(n, latent_dim)``; ``inverse_transform`` maps codes back to
    ``(n, *input_shape)`` in the input's own units; ``reconstruction_error`` and
    ``compression_ratio_`` (input features per code dimension) report how much was kept.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import Autoencoder
    >>> X = load_digits().data
    >>> ae = Autoencoder(latent_dim=8, epochs=2, random_state=0).fit(X)
    >>> ae.transform(X).shape
    (1797, 8)
    """

    _parameter_constraints = {
        "latent_activation": [None, StrOptions(_ACTIVATIONS)],
        "output_activation": [None, StrOptions(_ACTIVATIONS)],
        "optimizer": [StrOptions({"adam", "adamw", "sgd"})],
        "weight_decay": [reals(0)],
        "schedule": [None, StrOptions({"cosine"})],
        "noise": [reals(0)],
    }
    _attribute_docs = {
        "network_": ("torch.nn.Module", "The fitted encoder/decoder."),
        "latent_dim_": ("int", "Size of the code (the flattened input's size for ``architecture='none'``)."),
        "compression_ratio_": ("float", "Input features per code dimension."),
        "input_scaling_": ("str", "The scaling ``input_scaling`` resolved to."),
    }
    _parameter_docs = {
        "epochs": "Training epochs.",
        "lr": "Learning rate.",
        "latent_activation": "Activation of the code (``None``: linear).",
        "output_activation": "Activation of the reconstruction (``None``: linear).",
        "optimizer": "``'adam'``, ``'adamw'`` or ``'sgd'``.",
        "weight_decay": "L2 penalty of the optimiser.",
        "schedule": "``'cosine'`` anneals the learning rate to zero over the run; ``None`` keeps it constant.",
        "noise": ("Standard deviation of Gaussian noise added to the scaled input while training (a denoising "
                  "autoencoder); 0 disables it."),
        "verbose": "0: silent; 1: a progress bar.",
    }

    #: as the clusterers' pretraining (``DeepClusterer``'s presets)
    _presets = {
        "fast": {"epochs": 20, "batch_size": 256, "precision": "auto"},
        "accurate": {"epochs": 100, "batch_size": 256},
    }

    def __init__(
        self,
        latent_dim: int = 10,
        *,
        preset: str = "default",
        hidden_dims: tuple[int, ...] | None = None,
        architecture: str = "mlp",
        activation: str = "relu",
        latent_activation: str | None = None,
        output_activation: str | None = None,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        schedule: str | None = "cosine",
        noise: float = 0.0,
        augment: bool | str = False,
        input_scaling: str = "auto",
        max_grad_norm: float | None = None,
        precision: str | None = None,
        compile: bool = False,
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
        """Train on ``X`` (n, d) or images, in memory or a path/memmap read in blocks (see
        :mod:`deepclust.data.source`); sets ``network_``, ``history_``, ``n_iter_``."""
        validate_params(self)
        if self.preset != "default":
            return self._fit_with_preset(X)
        self.preset_params_ = {}
        X = self._check_input(X, reset=True)
        self._fit_scaling(X)
        device = self._device()
        with seeded(self._seed(), device, self.deterministic) as generator:
            self.network_ = self._build_network(self.input_shape_).to(device)
            self.history_ = []
            if self.architecture == "none":  # nothing to train
                self.n_iter_ = 0
                return self
            data = self._training_data(X)
            phase = Phase(
                max_grad_norm=self.max_grad_norm,
                precision=self.precision,
                compile=self.compile,
                name="pretrain",
                step=self._step,
                parameters=self.network_.parameters(),
                epochs=int(self.epochs),
                lr=self.lr,
                optimizer=self.optimizer,
                weight_decay=self.weight_decay,
                schedule=self.schedule,
                modules=[self.network_],
                augment=self._augmenter(),
            )
            self.n_iter_ = run_phase(phase, data, self.batch_size, generator, self.history_, self.verbose,
                                     self._phase_checkpoint(phase))
        return self

    def _step(self, xb: torch.Tensor, index: torch.Tensor) -> dict[str, torch.Tensor]:
        noisy = xb + self.noise * torch.randn_like(xb) if self.noise > 0 else xb
        _, x_hat = self.network_(noisy)
        return {"loss": reconstruction_loss(xb, x_hat)}

    def _build_network(self, input_shape: tuple[int, ...]) -> AutoencoderNet:
        if self.architecture == "none":
            return AutoencoderNet(torch.nn.Flatten(), Reshape(*input_shape))
        hidden = None if self.hidden_dims is None else tuple(int(h) for h in self.hidden_dims)
        if self.architecture == "mlp":
            return mlp_autoencoder(
                input_shape, int(self.latent_dim), (500, 500, 2000) if hidden is None else hidden, self.activation,
                self.latent_activation, self.output_activation,
            )
        return conv_autoencoder(  # refuses samples that are not images
            input_shape, int(self.latent_dim), (32, 64, 128) if hidden is None else hidden, self.activation,
            self.output_activation,
        )

    # --- using the fitted model ----------------------------------------------------------
    def _encode(self, Xt) -> torch.Tensor:
        self.network_.eval()
        return self._apply(self.network_.encode, Xt)

    def _decode(self, Z: torch.Tensor) -> torch.Tensor:
        self.network_.eval()
        return self._apply(self.network_.decode, Z)

    @property
    def _n_features_out(self) -> int:  # names of get_feature_names_out: autoencoder0, autoencoder1...
        return self.latent_dim_

    def transform(self, X) -> np.ndarray:
        """Codes ``(n, latent_dim)`` float32."""
        check_is_fitted(self, "network_")
        return self._in_blocks(X, lambda block: self._encode(self._to_tensor(block))).cpu().numpy()

    def inverse_transform(self, Z) -> np.ndarray:
        """Decode codes ``(n, latent_dim)`` to ``(n, *input_shape)`` in the input's units."""
        check_is_fitted(self, "network_")
        Z = np.asarray(Z, dtype=np.float32)
        if Z.ndim != 2 or Z.shape[1] != self.latent_dim_:
            raise DeepclustError(
                f"codes must have shape (n, {self.latent_dim_}), got {tuple(Z.shape)}"
            )
        return self._from_tensor(self._decode(torch.as_tensor(Z, device=self._input_offset.device)))

    def reconstruct(self, X) -> np.ndarray:
        """Encode then decode: ``(n, *input_shape)`` in the input's units."""
        return self.inverse_transform(self.transform(X))

    def reconstruction_error(self, X, per_sample: bool = False):
        """Mean squared error per feature in the input's units; ``(n,)`` with ``per_sample``."""
        check_is_fitted(self, "network_")

        def errors(block: np.ndarray) -> torch.Tensor:
            rebuilt = self._from_tensor(self._decode(self._encode(self._to_tensor(block))))
            return torch.as_tensor(np.mean((rebuilt - block).reshape(len(block), -1).astype(np.float64) ** 2, axis=1))

        per = self._in_blocks(X, errors).numpy()
        return per if per_sample else float(per.mean())

    def score(self, X, y=None) -> float:
        """Negative reconstruction error (higher is better), for model selection."""
        return -self.reconstruction_error(X)

    @property
    def latent_dim_(self) -> int:
        """Size of the code: ``latent_dim``, or the number of input features for
        ``architecture="none"``."""
        check_is_fitted(self, "network_")
        return self.n_features_in_ if self.architecture == "none" else int(self.latent_dim)

    @property
    def compression_ratio_(self) -> float:
        """Input features per code dimension (e.g. 784 / 10 = 78.4 for MNIST)."""
        return self.n_features_in_ / self.latent_dim_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # --- persistence hooks (see io.py) -------------------------------------------------------
    def _move_to(self, device: torch.device) -> None:
        self.network_.to(device)
        self._input_offset = self._input_offset.to(device)
        self._input_scale = self._input_scale.to(device)

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"network.{k}": v for k, v in self.network_.state_dict().items()}
        return {**tensors, **self._scaling_tensors()}

    def _state_fitted(self) -> dict:
        return self._input_fitted_state()

    def _restore(self, tensors: dict[str, torch.Tensor], fitted: dict) -> None:
        self._restore_input_fitted_state(fitted)
        device = self._device()
        network = self._build_network(self.input_shape_)
        load_module_state(network, tensors, "network.")
        self.network_ = network.to(device).eval()
        self._restore_scaling(tensors)
