"""The GAN as an estimator of its own: learn a data distribution, draw new samples from it."""
from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from ..base import TorchEstimator, check_draw, load_module_state
from ..nn.gan import (
    GAN_LOSSES,
    conv_discriminator,
    conv_generator,
    discriminator_loss,
    generator_loss,
    mlp_discriminator,
    mlp_generator,
)
from ..params import (
    _ACTIVATIONS,
    StrOptions,
    document_parameters,
    ints,
    pair_of_reals,
    positive_ints,
    reals,
    store_params,
    validate_params,
)
from ..training import Adversary, Phase, draw_seed, run_phase, seeded
from .registry import register

#: generated samples whose spread is under this share of the data's come from a generator that
#: did not learn (see GAN._warn_if_generator_did_not_learn)
MIN_SAMPLE_SPREAD = 0.25

@register()
@document_parameters
class GAN(TorchEstimator, BaseEstimator):
    """Generator ``G(z)`` and discriminator ``D(x)`` trained against each other; ``sample(n)``.

    ``G`` maps standard normal noise ``(n, noise_dim)`` to data ``(n, *input_shape)``; ``D``
    scores data as real or generated. With ``loss="bce"`` (the article's) ``D`` minimises
    ``−[log D(x) + log(1 − D(G(z)))]`` and ``G`` the non-saturating ``−log D(G(z))``; with
    ``"wgan-gp"`` ``D`` is a Wasserstein critic with gradient penalty ``gp_weight`` and takes
    ``n_critic`` updates per generator update.

    The article's networks for 100-dimensional data in [0, 1] are
    ``GAN(noise_dim=100, hidden_dims=(200, 400, 800), discriminator_dims=(400, 800),
    discriminator_activation="relu", output_activation="sigmoid")`` with the default Adam
    (2e-4, β1 = 0.5); its discriminator's final sigmoid is computed inside the loss.

    Parameters
    ----------
    noise_dim : size of the noise ``z``.
    hidden_dims : the generator's hidden widths (MLP; default (256, 512)) or its transposed
        convolution channels (``architecture="conv"``; default (64, 128), ClusterGAN's).
    discriminator_dims : the discriminator's hidden widths or channels; default: the generator's
        reversed (MLP) or the same (conv).
    architecture : ``"mlp"`` (any data) or ``"conv"`` (images, DCGAN-style).
    activation, discriminator_activation : hidden activations of ``G`` and of the MLP ``D``.
    output_activation : ``G``'s last activation; ``"auto"`` picks ``"sigmoid"`` when the scaled
        training data lies in [0, 1] (pixels) and a linear output otherwise.
    loss, n_critic, gp_weight : the adversarial game (see above).
    epochs, batch_size, lr, betas : Adam training; an epoch is one pass over the real data by
        ``D``.
    input_scaling, max_grad_norm, deterministic, device, random_state, verbose : as for
        :class:`~deepclust.Autoencoder` (``max_grad_norm`` clips generator and critic alike).
    checkpoint_dir, checkpoint_every : as for :class:`~deepclust.Autoencoder`; the game is saved
        as ``gan.safetensors`` (generator, discriminator, both optimisers, RNG).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import GAN
    >>> X = load_digits().data
    >>> gan = GAN(epochs=5, random_state=0).fit(X)
    >>> gan.sample(8).shape
    (8, 64)
    """

    _parameter_constraints = {
        "noise_dim": [ints(1)],
        "discriminator_dims": [None, positive_ints()],
        "architecture": [StrOptions({"mlp", "conv"})],
        "discriminator_activation": [StrOptions(_ACTIVATIONS)],
        "loss": [StrOptions(set(GAN_LOSSES))],
        "n_critic": [ints(1)],
        "gp_weight": [reals(0)],
        "betas": [pair_of_reals()],
    }
    _parameter_docs = {
        "noise_dim": "Size of the noise ``z``.",
        "hidden_dims": ("The generator's hidden widths (MLP; ``None``: (256, 512)) or its transposed-convolution "
                        "channels (``architecture='conv'``; ``None``: (64, 128))."),
        "discriminator_dims": ("The discriminator's hidden widths or channels (``None``: the generator's, reversed "
                               "for the MLP)."),
        "architecture": "``'mlp'`` (any data) or ``'conv'`` (images, DCGAN-style).",
        "activation": "Hidden activation of the generator.",
        "discriminator_activation": "Hidden activation of the MLP discriminator.",
        "loss": ("``'bce'`` (the original game, non-saturating generator loss) or ``'wgan-gp'`` (a Wasserstein "
                 "critic with gradient penalty)."),
        "n_critic": "Discriminator updates per generator update.",
        "gp_weight": "Weight of the gradient penalty (``loss='wgan-gp'``).",
        "epochs": "Passes over the real data by the discriminator.",
        "lr": "Adam's learning rate, both networks.",
        "betas": "Adam's ``(beta1, beta2)``, both networks.",
    }
    _attribute_docs = {
        "generator_": ("torch.nn.Module", "The fitted generator."),
        "discriminator_": ("torch.nn.Module", "The fitted discriminator (critic)."),
        "output_activation_": ("str or None", "The generator's last activation ``output_activation`` resolved to."),
    }

    def __init__(
        self,
        noise_dim: int = 64,
        *,
        hidden_dims: tuple[int, ...] | None = None,
        discriminator_dims: tuple[int, ...] | None = None,
        architecture: str = "mlp",
        activation: str = "relu",
        discriminator_activation: str = "leaky_relu",
        output_activation: str | None = "auto",
        loss: str = "bce",
        n_critic: int = 1,
        gp_weight: float = 10.0,
        epochs: int = 50,
        batch_size: int = 64,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
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

    _reads_files = False

    # --- fitting ---------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Train on ``X`` (n, d) or images; sets ``generator_``, ``discriminator_``, ``history_``."""
        validate_params(self)
        X = self._check_input(X, reset=True)
        self._check_params(X)
        self._fit_scaling(X)
        with seeded(self._seed(), self._device(), self.deterministic) as generator:
            Xt = self._to_tensor(X)
            self._set_output_activation(Xt)
            self._build_networks()
            self.history_ = []
            self._train(X, Xt, generator)
            self._warn_if_generator_did_not_learn(Xt)
        return self

    @torch.no_grad()
    def _warn_if_generator_did_not_learn(self, Xt: torch.Tensor, n: int = 512) -> None:
        """A ``ConvergenceWarning`` when generated samples vary far less
        than the data (their per-feature standard deviation, averaged, under
        :data:`MIN_SAMPLE_SPREAD` of the data's): the generator then draws near-constant output
        (an untrained generator's grey noise) whatever its input."""
        self.generator_.eval()
        fake = self._apply(self.generator_, self._draw_latent(n, torch.Generator(self._device()).manual_seed(0)))
        real = Xt[torch.randperm(Xt.shape[0], generator=torch.Generator().manual_seed(0))[:n].to(Xt.device)]
        spread = float(fake.flatten(1).std(0).mean() / real.flatten(1).std(0).mean().clamp_min(1e-12))
        if spread < MIN_SAMPLE_SPREAD:
            warnings.warn(
                f"the generator did not learn the data: its samples vary {spread:.2f} times as much as "
                f"the data (under {MIN_SAMPLE_SPREAD}); train for more epochs, or try a lower lr or "
                "standardised input", ConvergenceWarning, stacklevel=3)

    def _train(self, X: np.ndarray, Xt: torch.Tensor, generator: torch.Generator) -> None:
        """Everything after the networks are built; subclasses add phases around the game."""
        self.n_iter_ = self._play("gan", [self.generator_], Xt, generator)

    def _check_params(self, X: np.ndarray) -> None:
        """Checks of the parameters against the data (none here; ClusterGAN's cluster count)."""

    def _set_output_activation(self, Xt: torch.Tensor) -> None:
        if self.output_activation != "auto":
            self.output_activation_ = self.output_activation
        else:
            in_unit_range = float(Xt.min()) >= 0.0 and float(Xt.max()) <= 1.0
            self.output_activation_ = "sigmoid" if in_unit_range else None

    @property
    def _latent_dim(self) -> int:
        """Size of the generator's input."""
        return int(self.noise_dim)

    @property
    def _critic_outputs(self) -> int:
        """Number of raw scores the discriminator returns per sample."""
        return 1

    def _build_networks(self) -> None:
        """``generator_`` and ``discriminator_`` for ``input_shape_``, on the device."""
        device = self._device()
        self.generator_ = self._make_generator().to(device)
        self.discriminator_ = self._make_discriminator(self._critic_outputs).to(device)

    def _make_generator(self) -> torch.nn.Module:
        shape = self.input_shape_
        if self.architecture == "conv":
            return conv_generator(self._latent_dim, shape, tuple(self.hidden_dims or (64, 128)),
                                  self.output_activation_)
        return mlp_generator(self._latent_dim, shape, tuple(self.hidden_dims or (256, 512)),
                             self.activation, self.output_activation_)

    def _make_discriminator(self, out_features: int) -> torch.nn.Module:
        shape = self.input_shape_
        if self.architecture == "conv":
            channels = self.discriminator_dims or self.hidden_dims or (64, 128)
            return conv_discriminator(shape, out_features, tuple(channels))
        widths = self.discriminator_dims or tuple(reversed(self.hidden_dims or (256, 512)))
        return mlp_discriminator(shape, tuple(widths), out_features, self.discriminator_activation)

    def _draw_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Generator input ``(n, noise_dim)``: standard normal noise."""
        return torch.randn(n, self.noise_dim, generator=generator, device=self._device())

    def _play(
        self, name: str, modules: list[torch.nn.Module], Xt: torch.Tensor, generator: torch.Generator,
        state: dict[str, torch.Tensor] | None = None,
    ) -> int:
        """Train ``modules`` on ``_generator_step`` against ``discriminator_``; epochs run.
        ``state``: tensors the step reads besides the modules (part of a checkpoint's fingerprint)."""

        phase = Phase(
            max_grad_norm=self.max_grad_norm,
            name=name,
            step=self._generator_step,
            parameters=[p for m in modules for p in m.parameters()],
            epochs=int(self.epochs),
            lr=self.lr,
            betas=tuple(self.betas),
            modules=modules,
            adversary=Adversary(
                name="discriminator",
                step=self._discriminator_step,
                parameters=self.discriminator_.parameters(),
                modules=[self.discriminator_],
                steps=int(self.n_critic),
            ),
            state=state or {},
        )
        return run_phase(phase, Xt, self.batch_size, generator, self.history_, self.verbose,
                         self._phase_checkpoint(phase))

    def _discriminator_step(self, xb: torch.Tensor, index: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fake = self.generator_(self._draw_latent(xb.shape[0]))
        return {"loss": discriminator_loss(self.loss, self.discriminator_, xb, fake, self.gp_weight)}

    def _generator_step(self, xb: torch.Tensor, index: torch.Tensor) -> dict[str, torch.Tensor]:
        fake = self.generator_(self._draw_latent(xb.shape[0]))
        return {"loss": generator_loss(self.loss, self.discriminator_(fake))}

    # --- using the fitted model ----------------------------------------------------------
    def sample(self, n: int, random_state=None) -> np.ndarray:
        """``n`` new samples ``(n, *input_shape)`` in the input's units."""
        check_is_fitted(self, "generator_")
        check_draw(n)
        generator = torch.Generator(device=self._device()).manual_seed(draw_seed(random_state))
        return self._generate(self._draw_latent(int(n), generator))

    def _generate(self, latent: torch.Tensor) -> np.ndarray:
        self.generator_.eval()
        return self._from_tensor(self._apply(self.generator_, latent))

    # --- persistence hooks (see io.py) ---------------------------------------------------
    def _state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"generator.{k}": v for k, v in self.generator_.state_dict().items()}
        tensors.update({f"discriminator.{k}": v for k, v in self.discriminator_.state_dict().items()})
        return {**tensors, **self._scaling_tensors()}

    def _state_fitted(self) -> dict:
        return {**self._input_fitted_state(), "output_activation_": self.output_activation_}

    def _restore(self, tensors: dict[str, torch.Tensor], fitted: dict) -> None:
        self._restore_input_fitted_state(fitted)
        self.output_activation_ = fitted["output_activation_"]
        self._build_networks()
        for name in ("generator", "discriminator"):
            module = getattr(self, f"{name}_")
            load_module_state(module, tensors, f"{name}.")
            module.eval()
        self._restore_scaling(tensors)

