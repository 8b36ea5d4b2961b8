"""Declared parameters: one table of constraints per estimator, checked once at the start of
``fit``, and the numpydoc ``Parameters`` section written from the same table.

Shared parameters are constrained and described once here (:data:`SHARED_CONSTRAINTS`,
:data:`SHARED_DOCS`). Each estimator class declares ``_parameter_constraints`` (name → list of
accepted kinds, in scikit-learn's format) and ``_parameter_docs`` (name → description) for the
parameters it adds or constrains differently; both are merged down its bases.
:func:`document_parameters` writes the class docstring's ``Parameters`` section from them and
from the defaults of ``__init__``, so the documented default is always the real one.
"""
from __future__ import annotations

import inspect
import os
import re
import textwrap
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)

from .cluster.mixture import COVARIANCE_TYPES
from .data.scaling import INPUT_SCALINGS
from .exceptions import DeepclustError
from .nn.mlp import ACTIVATIONS
from .training.engine import PRECISIONS

__all__ = ["PRESETS", "SHARED_CONSTRAINTS", "SHARED_DOCS", "StrOptions", "document_parameters", "ints",
           "positive_ints", "preset_changes", "preset_recipe", "reals", "store_params", "validate_params"]

#: the intents ``preset`` accepts
PRESETS = ("fast", "default", "accurate")


class InvalidParameter(DeepclustError, InvalidParameterError):
    """A parameter outside its declared constraints (a ``DeepclustError`` and scikit-learn's
    ``InvalidParameterError``, so either ``except`` catches it)."""


class _NumberInterval(Interval):
    """scikit-learn's ``Interval`` without ``True``/``False`` (which are ints to Python)."""

    def is_satisfied_by(self, val) -> bool:
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)


def ints(low: int | None = None, high: int | None = None) -> Interval:
    """Integers in ``[low, high]`` (``None``: unbounded)."""
    return _NumberInterval(Integral, low, high, closed="both" if high is not None else "left"
                           if low is not None else "neither")


def reals(low: float | None = None, high: float | None = None, closed: str = "both") -> Interval:
    """Real numbers between ``low`` and ``high``, ``closed`` as in scikit-learn's ``Interval``."""
    return _NumberInterval(Real, low, high, closed=closed)


class _Sequence(Options):
    """Base of the sequence constraints (an ``Options`` only so that scikit-learn's validator
    accepts it; ``is_satisfied_by`` and ``__str__`` say what is allowed)."""

    def __init__(self):
        super().__init__(object, set())


class positive_ints(_Sequence):
    """A tuple or list of ``length`` (any, none included, when ``None``) positive integers."""

    def __init__(self, length: int | None = None):
        super().__init__()
        self.length = length

    def is_satisfied_by(self, val) -> bool:
        return (isinstance(val, (tuple, list))
                and (self.length is None or len(val) == self.length)
                and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in val))

    def __str__(self) -> str:
        return f"a tuple of {self.length} positive ints" if self.length else "a tuple of positive ints"


class pair_of_reals(_Sequence):
    """A tuple or list of two real numbers in ``[0, 1)`` (Adam's ``betas``)."""

    def is_satisfied_by(self, val) -> bool:
        return (isinstance(val, (tuple, list)) and len(val) == 2
                and all(isinstance(v, Real) and not isinstance(v, bool) and 0 <= v < 1 for v in val))

    def __str__(self) -> str:
        return "a pair of floats in [0, 1)"


def validate_params(estimator) -> None:
    """Check every parameter of ``estimator`` against its class's ``_parameter_constraints``.

    Raises :class:`InvalidParameter` with scikit-learn's message, e.g. ``The 'tol' parameter
    of DCN must be a float in the range [0.0, 1.0]. Got -1 instead.``
    """
    constraints = {**SHARED_CONSTRAINTS, **_merged(type(estimator), "_parameter_constraints")}
    try:
        validate_parameter_constraints(constraints, estimator.get_params(deep=False),
                                       caller_name=type(estimator).__name__)
    except InvalidParameterError as exc:
        raise InvalidParameter(str(exc)) from None


def store_params(estimator, arguments: dict) -> None:
    """The body of every ``__init__``: each argument stored unchanged as the attribute of its
    name (scikit-learn's rule: no validation or conversion in ``__init__``). Pass ``locals()``."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


_ACTIVATIONS = set(ACTIVATIONS) | {"linear"}

#: constraints of the parameters several estimators share; a class takes the ones it has
SHARED_CONSTRAINTS = {
    "n_clusters": [ints(2)],
    "latent_dim": [ints(1)],
    "hidden_dims": [None, positive_ints()],
    "architecture": [StrOptions({"mlp", "conv", "none"})],
    "pretrain_epochs": [StrOptions({"auto"}), ints(0)],
    "epochs": [ints(0)],
    "batch_size": [ints(1)],
    "lr": [reals(0, None, closed="neither")],
    "cluster_lr": [reals(0, None, closed="neither")],
    "n_init": [ints(1)],
    "tol": [reals(0, 1)],
    "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
    "input_scaling": [StrOptions(set(INPUT_SCALINGS))],
    "max_grad_norm": [None, reals(0, None, closed="neither")],
    "deterministic": ["boolean"],
    "preset": [StrOptions(set(PRESETS))],
    "precision": [None, StrOptions(set(PRECISIONS))],
    "compile": ["boolean"],
    "checkpoint_dir": [None, str, os.PathLike],
    "checkpoint_every": [ints(1)],
    "augment": ["boolean", StrOptions({"auto"})],
    "autoencoder": [None, HasMethods(["transform"])],
    "activation": [StrOptions(_ACTIVATIONS)],
    "output_activation": [None, StrOptions(_ACTIVATIONS | {"auto"})],
    "device": [str],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}

#: descriptions of the parameters several estimators share
SHARED_DOCS = {
    "n_clusters": "Number of clusters, at least 2 and at most the number of samples.",
    "latent_dim": "Size of the autoencoder's code, the space where clusters are found.",
    "hidden_dims": (
        "Widths of the MLP's hidden layers, mirrored in the decoder (``None``: (500, 500, 2000), DEC's); for "
        "``architecture='conv'`` the channel counts of the stride-2 convolutions (``None``: (32, 64, 128))."),
    "architecture": (
        "``'mlp'`` (any input; images are flattened), ``'conv'`` (images only) or ``'none'``: no network, the "
        "code is the scaled input itself, flattened (nothing is trained; a clusterer built on it clusters the "
        "features as they are)."),
    "pretrain_epochs": (
        "Autoencoder pretraining epochs. ``'auto'`` uses the method's default (20; N2D 30; DEC and IDEC 60), "
        "raised on small data so that the autoencoder takes at least 500 optimiser steps (2,000 on images): "
        "shorter pretraining rarely clusters well (see benchmarks/NOTES.md). An explicit value under 500 steps "
        "warns."),
    "epochs": "Epochs of the method's clustering phase (0: none, the pretrained embedding is clustered as is).",
    "batch_size": "Samples per optimiser step.",
    "lr": "Learning rate of the pretraining (Adam).",
    "cluster_lr": "Learning rate of the clustering phase (Adam).",
    "n_init": "k-means (or mixture) restarts of the cluster initialisation; the best is kept.",
    "tol": "Stop the clustering phase when fewer than this fraction of the labels change between updates.",
    "covariance_type": "Covariance of each Gaussian component: ``'full'`` or ``'diag'``.",
    "input_scaling": (
        "``'auto'`` (data in [0, 1] and rows all of unit length, such as sentence embeddings, unchanged; "
        "non-negative integers such as pixels divided by their maximum; anything else standardised), "
        "``'standard'``, ``'minmax'``, ``'max'`` or ``'none'``; stored in the model and reapplied to new data."),
    "max_grad_norm": (
        "Clip the gradient to this total L2 norm before every optimiser step, in every phase (a guard against "
        "rare huge steps that turn the loss NaN); ``None`` does not clip."),
    "deterministic": (
        "Use PyTorch's deterministic algorithms while fitting (matters on GPUs; CPU results are identical "
        "either way)."),
    "checkpoint_dir": (
        "Folder where the training state is saved, one file per phase, every ``checkpoint_every`` epochs, "
        "atomically; a fit that finds a checkpoint there for the same data and settings resumes from it and "
        "ends as an uninterrupted run would (CPU). A checkpoint for other data or settings is refused."),
    "checkpoint_every": "Epochs between checkpoints (with ``checkpoint_dir``).",
    "preset": (
        "An intent instead of several settings: ``'fast'``, ``'default'`` or ``'accurate'``. A preset sets the "
        "parameters named at the end of this entry, each only where it is left at its default: a value you pass "
        "wins, except the default value itself, which counts as left (``precision='32'`` keeps float32 under any "
        "preset); a clusterer's pretraining epochs replace what ``pretrain_epochs='auto'`` starts from, still "
        "lengthened on small data, and on fewer samples than the 70,000 they were measured on the pretraining "
        "keeps the square root's share of its steps there, up to the default's (see "
        ":func:`deepclust.base.preset_pretrain_epochs`); a recipe's ``hidden_dims`` are an MLP's widths, not "
        "set under another ``architecture``. ``preset_params_`` records what it set. The measurements behind "
        "each are in benchmarks/NOTES.md."),
    "precision": (
        "Number format of the training steps' forward pass: ``None`` float32 unless ``preset`` sets it; "
        "``'32'`` float32 always; ``'bf16'`` bfloat16 autocast "
        "(matrix products in bfloat16; weights, gradients, losses and optimiser state in float32); "
        "``'auto'`` bfloat16 where the device computes it natively (CUDA GPUs that support it, CPUs with "
        "AVX-512 BF16 or AMX), float32 elsewhere. Inference (``transform``, ``predict``) is always float32. "
        "bfloat16 steps are faster where native but lose a little accuracy (benchmarks/NOTES.md)."),
    "compile": (
        "Compile each training step with ``torch.compile`` (its forward and backward pass; the optimiser step "
        "stays eager). The first batches of every phase then wait for the compiler (seconds to a minute, "
        "and a C++ compiler on CPUs); later steps are faster by what fusing the layers' element-wise work "
        "saves, most on GPUs. The results match eager training up to floating-point rounding."),
    "augment": (
        "Shift (up to 10%) and rotate (up to 10°) every training batch of images at random, as DEC-DA does: "
        "``True`` needs images, ``'auto'`` augments images and leaves other data alone, ``False`` never."),
    "autoencoder": (
        "A fitted :class:`~deepclust.Autoencoder` to reuse instead of pretraining (a private copy is "
        "fine-tuned); wrap it in ``sklearn.frozen.FrozenEstimator`` inside searches and pipelines."),
    "activation": "Hidden-layer activation (``'relu'``, ``'leaky_relu'``, ``'elu'``, ``'gelu'``, ``'tanh'``...).",
    "output_activation": (
        "Activation of the reconstruction or generated sample (``None``: linear; ``'auto'``: sigmoid for data "
        "scaled into [0, 1], linear otherwise)."),
    "device": "``'auto'`` (CUDA when available), ``'cpu'``, ``'cuda'`` or ``'cuda:i'``.",
    "random_state": "Seed (an int), a ``numpy.random.RandomState``, or ``None`` for a fresh seed every fit.",
    "verbose": ("0: silent; 1: deepclust's progress for every phase (UMAP's included); 2: also the libraries' "
                "own output."),
}

_SECTION = re.compile(r"^ *(Attributes|Notes|References|Examples|See Also)\n *-{3,}$", re.MULTILINE)


def _merged(cls, attribute: str) -> dict:
    """``attribute`` (a dict) of ``cls`` and of its bases: the most derived class's entries first
    and winning."""
    merged: dict = {}
    for klass in cls.__mro__:
        for key, value in vars(klass).get(attribute, {}).items():
            merged.setdefault(key, value)
    return merged


def preset_recipe(cls, preset: str) -> dict:
    """The parameters ``preset`` sets on estimators of ``cls``: the ``_presets[preset]`` entries of
    ``cls`` and of its bases, the most derived class's winning (``"default"`` sets none)."""
    recipe: dict = {}
    for klass in reversed(cls.__mro__):
        recipe.update(vars(klass).get("_presets", {}).get(preset, {}))
    return recipe


def preset_changes(estimator) -> dict:
    """Of ``estimator``'s preset recipe, the parameters still at their ``__init__`` defaults."""
    defaults = {name: p.default for name, p in inspect.signature(type(estimator).__init__).parameters.items()}
    recipe = preset_recipe(type(estimator), estimator.preset)
    if getattr(estimator, "architecture", "mlp") != "mlp":
        recipe.pop("hidden_dims", None)  # a recipe's widths are an MLP's
    return {name: value for name, value in recipe.items()
            if type(getattr(estimator, name)) is type(defaults[name]) and getattr(estimator, name) == defaults[name]}


def _kind(constraint) -> str:
    """One accepted kind as a numpydoc type: ``int in the range [1, inf)``, ``{'a', 'b'}``..."""
    named = {"boolean": "bool", "random_state": "int, RandomState instance or None", "verbose": "int"}
    if constraint is None:
        return "None"
    if isinstance(constraint, str):
        return named[constraint]
    if isinstance(constraint, type):
        return constraint.__name__
    if isinstance(constraint, StrOptions):
        return "{" + ", ".join(repr(o) for o in sorted(constraint.options)) + "}"
    if isinstance(constraint, HasMethods):
        return "estimator"
    return str(constraint).removeprefix("an ").removeprefix("a ")


def document_parameters(cls):
    """Class decorator: insert numpydoc ``Parameters`` and ``Attributes`` sections into
    ``cls.__doc__`` before its first other section (``Notes``, ``References``, ``Examples``...).

    One ``Parameters`` entry per ``__init__`` parameter: the accepted kinds from the constraints,
    the default from the signature, the description from ``_parameter_docs`` or
    :data:`SHARED_DOCS`; a parameter without constraints or a description is an error. The
    ``Attributes`` come from ``_attribute_docs`` (name → (type, description)), merged down the
    bases like the parameters.
    """
    constraints = {**SHARED_CONSTRAINTS, **_merged(cls, "_parameter_constraints")}
    docs = {**SHARED_DOCS, **_merged(cls, "_parameter_docs")}
    entries = []
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self":
            continue
        if name not in constraints or name not in docs:
            raise TypeError(f"{cls.__name__}.{name} needs an entry in _parameter_constraints and _parameter_docs")
        text = docs[name]
        recipes = {preset: preset_recipe(cls, preset) for preset in PRESETS} if name == "preset" else {}
        if any(recipes.values()):
            text += " " + " ".join(
                f"``'{preset}'``: " + (", ".join(f"{k}={v!r}" for k, v in recipe.items()) if recipe else
                                       "the defaults") + "." for preset, recipe in recipes.items())
        entries.append(f"{name} : {', '.join(map(_kind, constraints[name]))}, default={parameter.default!r}\n"
                       + _indented(text))
    sections = ["Parameters\n----------\n" + "\n".join(entries)]
    attributes = _merged(cls, "_attribute_docs")
    if attributes:
        sections.append("Attributes\n----------\n" + "\n".join(
            f"{name} : {kind}\n" + _indented(text) for name, (kind, text) in attributes.items()))
    doc = inspect.cleandoc(cls.__doc__ or "")
    match = _SECTION.search(doc)
    at = match.start() if match else len(doc)
    cls.__doc__ = "\n\n".join([doc[:at].rstrip(), *sections, doc[at:].strip()]).strip() + "\n"
    return cls


def _indented(text: str) -> str:
    return textwrap.fill(text, 92, initial_indent="    ", subsequent_indent="    ")
