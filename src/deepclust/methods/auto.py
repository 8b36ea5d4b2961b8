"""AutoClusterer: several pipelines, shallow and deep, and the one their consensus points to."""
from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.metrics import normalized_mutual_info_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ..base import TorchEstimator, check_n_clusters
from ..cluster import MANIFOLD_SAMPLES, choose_n_clusters
from ..data.scaling import unit_length_rows
from ..data.source import row_blocks, sample_rows
from ..data.validate import check_input, input_scaling_for, table_features
from ..exceptions import DeepclustError, ModelFileError
from ..model_file import estimator_from_config, save_model
from ..nn.layers import is_image_shape
from ..params import StrOptions, document_parameters, ints, positive_ints, store_params, validate_params
from ..report import ReportMixin
from ..tensors import expect_tensor
from ..training import draw_seed
from .ae_gmm import AEGMM
from .ae_kmeans import AEKMeans
from .n2d import N2D
from .registry import register

#: the candidate pipelines, in the order that breaks ties in their score
CANDIDATES = ("kmeans", "gmm", "umap-gmm", "n2d")
#: what ``candidates="auto"`` tries on images: N2D alone, whose self-labelling from shifted and
#: rotated copies is a prior no pipeline on raw pixels has
IMAGE_CANDIDATES = ("n2d",)
#: what ``candidates="auto"`` tries on embeddings (every row of unit length, as sentence
#: embeddings and TF-IDF rows are): UMAP + GMM alone, BERTopic's route, with no autoencoder
EMBEDDING_CANDIDATES = ("umap-gmm",)
#: the routes ``candidates="auto"`` takes without a vote, and why (``selection_``)
ROUTES = {
    "images": "the route for images (self-labelling from shifted and rotated copies)",
    "embeddings": "the route for embeddings (rows of unit length, such as sentence embeddings)",
}
#: a full-covariance mixture on the raw features is tried only up to this many features
GMM_MAX_FEATURES = 50
#: the classes a saved AutoClusterer may hold as its chosen pipeline
_CHOSEN_CLASSES = {cls.__name__: cls for cls in (AEKMeans, AEGMM, N2D)}


def _has_chosen(attribute: str):
    return lambda self: hasattr(self.best_estimator_, attribute)


@register("auto")
@document_parameters
class AutoClusterer(ReportMixin, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Fit a few clustering pipelines and keep the one that agrees most with the others.

    ``candidates="auto"`` takes two kinds of data straight to one pipeline (``route_``):

    - images (samples shaped ``(h, w)`` or ``(c, h, w)``): N2D alone. Its self-labelling teaches
      the encoder that shifted and rotated copies of an image belong together, knowledge that no
      clustering of raw pixels has, and on images it beats them
      (``benchmarks/results/realdata.md``);
    - embeddings (every row of unit length, as the text featurizer's sentence embeddings and
      TF-IDF rows are): UMAP + GMM alone, the route of BERTopic and of N2D's second half. An
      embedding is already a learned representation, so an autoencoder has little to add, and
      on text UMAP + GMM scored above k-means and N2D on average (``benchmarks/NOTES.md``).

    On any other data there is no such prior to rely on, and all four candidates run on the same
    data with the same seed:

    - ``"kmeans"``: k-means (10 restarts) on the scaled features, no network;
    - ``"gmm"``: a full-covariance Gaussian mixture (10 starts) on the scaled features, no
      network; only for data with at most 50 features (beyond that its covariances outgrow
      the data);
    - ``"umap-gmm"``: UMAP of the scaled features, then a Gaussian mixture (N2D without an
      autoencoder);
    - ``"n2d"``: :class:`~deepclust.N2D` with its data-adapted defaults (autoencoder, UMAP,
      mixture, self-labelling on images).

    Each candidate's partition is scored by its mean normalised mutual information with the
    other candidates' partitions (the average-NMI criterion of Strehl & Ghosh's cluster
    ensembles), and the highest score wins (ties go to the earlier candidate). No labels are
    used: a pipeline is kept when independent ways of looking at the data find the same groups,
    so a pipeline that failed alone, or that followed a quirk of its own space, is outvoted.
    ``chosen_`` names the winner, ``candidates_`` records every candidate's score, cluster
    count and seconds, ``candidate_labels_`` every candidate's partition of the training data,
    and ``best_estimator_`` is the winner itself (a fitted AEKMeans, AEGMM
    or N2D): ``predict``, ``predict_proba``, ``transform`` and ``save`` use it. Fitting costs
    the sum of the candidates; on data of more than a few thousand rows that is N2D's time
    plus one UMAP of the raw features.

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from deepclust import AutoClusterer
    >>> X = load_wine().data
    >>> model = AutoClusterer(n_clusters="auto", random_state=0).fit(X)
    >>> model.chosen_ in model.candidates_
    True
    """

    _parameter_constraints = {
        "n_clusters": [ints(2), StrOptions({"auto"})],
        "candidates": [str, list, tuple],
        "k_range": [positive_ints(2)],
        "pretrain_epochs": [None, StrOptions({"auto"}), ints(0)],
        "epochs": [None, ints(0)],
        "batch_size": [None, ints(1)],
        "latent_dim": [None, ints(1)],
        "architecture": [None, StrOptions({"mlp", "conv", "none"})],
        "augment": [None, "boolean", StrOptions({"auto"})],
    }
    _parameter_docs = {
        "n_clusters": ("Number of clusters, or ``'auto'`` to choose it without labels from ``k_range`` (see "
                       ":func:`deepclust.cluster.choose_n_clusters`)."),
        "candidates": ("``'auto'`` (see above) or names from ``('kmeans', 'gmm', 'umap-gmm', 'n2d')``; one name fits "
                       "that pipeline alone."),
        "k_range": ("``(low, high)``: the cluster counts ``n_clusters='auto'`` considers (capped at a tenth of the "
                    "samples)."),
        "pretrain_epochs": "Passed to the ``'n2d'`` candidate (``None``: its own default).",
        "epochs": "Self-labelling epochs of the ``'n2d'`` candidate on images (``None``: its own default).",
        "batch_size": "Passed to the ``'n2d'`` candidate (``None``: its own default).",
        "latent_dim": "Passed to the ``'n2d'`` candidate (``None``: its own default).",
        "hidden_dims": "Passed to the ``'n2d'`` candidate (``None``: its own default).",
        "architecture": "Passed to the ``'n2d'`` candidate (``None``: its own default).",
        "augment": "Passed to the ``'n2d'`` candidate (``None``: its own default).",
        "input_scaling": "How every candidate scales the features (see :class:`~deepclust.Autoencoder`).",
        "max_grad_norm": "Passed to the ``'n2d'`` candidate, the only one that trains.",
        "checkpoint_dir": "Passed to the ``'n2d'`` candidate, the only one that trains.",
        "deterministic": "Passed to every candidate.",
        "preset": ("Passed to every candidate: ``'fast'``, ``'default'`` or ``'accurate'`` (what each sets: "
                   ":class:`~deepclust.N2D`'s ``preset``)."),
        "precision": ("Passed to every candidate (only ``'n2d'`` trains; see :class:`~deepclust.N2D`); ``None``: "
                      "float32 unless ``preset`` sets it."),
        "compile": "Passed to every candidate (only ``'n2d'`` trains; see :class:`~deepclust.N2D`).",
    }
    _attribute_docs = {
        "labels_": ("ndarray of shape (n_samples,)", "The chosen candidate's cluster of every training sample."),
        "chosen_": ("str", "Name of the chosen candidate."),
        "best_estimator_": ("estimator", "The chosen candidate, fitted (``predict``, ``transform``... use it)."),
        "candidates_": ("dict", "Per candidate: its agreement score, cluster count and seconds."),
        "candidate_labels_": ("dict of ndarray", "Per candidate: its partition of the training data."),
        "selection_": ("str", "The record of the choice, as written to ``selection.json``."),
        "n_clusters_": ("int", "The number of clusters used (chosen when ``n_clusters='auto'``)."),
        "k_scores_": ("dict", "With ``n_clusters='auto'``: the criterion for every K tried."),
        "route_": ("str or None", ("``'images'`` or ``'embeddings'`` when ``candidates='auto'`` took that data "
                                   "straight to its one pipeline, else None (the candidates voted).")),
    }

    def __init__(
        self,
        n_clusters: int | str = 10,
        *,
        preset: str = "default",
        candidates: str | tuple[str, ...] = "auto",
        k_range: tuple[int, int] = (2, 30),
        pretrain_epochs: int | str | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        latent_dim: int | None = None,
        hidden_dims: tuple[int, ...] | None = None,
        architecture: str | None = None,
        augment: bool | str | None = None,
        input_scaling: str = "auto",
        max_grad_norm: float | None = None,
        precision: str | None = None,
        compile: bool = False,
        deterministic: bool = False,
        checkpoint_dir: str | None = None,
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
    ):
        store_params(self, locals())

    # --- fitting -------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit every candidate, score their agreement, keep the best; sets ``labels_``."""
        validate_params(self)
        X = check_input(self, X, reset=True)
        names = self._check_candidates(X)
        seed = draw_seed(self.random_state)
        # an int seed reaches every candidate as it is: on images auto is N2D(random_state=seed)
        state = int(self.random_state) if isinstance(self.random_state, (int, np.integer)) else seed
        if isinstance(self.n_clusters, str) and self.n_clusters == "auto":
            self.n_clusters_, self.k_scores_ = choose_n_clusters(
                sample_rows(X, MANIFOLD_SAMPLES, seed), self.k_range, seed, input_scaling_for(self),
                verbose=self.verbose)
        else:
            check_n_clusters(self.n_clusters, X.shape[0])
            self.n_clusters_ = int(self.n_clusters)
        if self.n_features_in_ > GMM_MAX_FEATURES and len(names) > 1:
            names = [name for name in names if name != "gmm"]
        fitted, seconds = {}, {}
        for name in names:
            start = time.perf_counter()
            fitted[name] = self._candidate(name, state).fit(X)
            seconds[name] = time.perf_counter() - start
        labels = {name: model.labels_ for name, model in fitted.items()}
        scores = {
            name: float(np.mean([normalized_mutual_info_score(labels[name], labels[other])
                                 for other in names if other != name])) if len(names) > 1 else 1.0
            for name in names
        }
        self.chosen_ = max(names, key=lambda name: scores[name])  # first of equals wins
        self.candidates_ = {
            name: {"score": round(scores[name], 4), "clusters": int(np.unique(labels[name]).size),
                   "seconds": round(seconds[name], 2)}
            for name in names
        }
        self.candidate_labels_ = labels
        self.best_estimator_ = fitted[self.chosen_]
        self.labels_ = self.best_estimator_.labels_
        return self

    def _check_candidates(self, X) -> list[str]:
        """The candidates to fit; sets ``route_``."""
        self.route_ = None
        if isinstance(self.candidates, str) and self.candidates == "auto":
            if is_image_shape(self.input_shape_):
                self.route_ = "images"
                return list(IMAGE_CANDIDATES)
            if all(unit_length_rows(block) for block in row_blocks(X, TorchEstimator.input_block_rows)):
                self.route_ = "embeddings"
                return list(EMBEDDING_CANDIDATES)
            return list(CANDIDATES)
        names = [self.candidates] if isinstance(self.candidates, str) else list(self.candidates)
        unknown = [name for name in names if name not in CANDIDATES]
        if not names or unknown:
            raise DeepclustError(
                f"candidates must be 'auto' or names from {', '.join(CANDIDATES)}; got {self.candidates!r}")
        return list(dict.fromkeys(names))

    def _candidate(self, name: str, seed: int):
        k = self.n_clusters_
        common = dict(input_scaling=input_scaling_for(self), deterministic=self.deterministic, device=self.device,
                      preset=self.preset, precision=self.precision, compile=self.compile, random_state=seed,
                      verbose=self.verbose)
        if name == "kmeans":
            return AEKMeans(k, architecture="none", **common)
        if name == "gmm":
            return AEGMM(k, architecture="none", **common)
        if name == "umap-gmm":
            return N2D(k, architecture="none", epochs=0, **common)
        deep = {key: value for key in ("pretrain_epochs", "epochs", "batch_size", "latent_dim", "hidden_dims",
                                       "architecture", "augment", "max_grad_norm", "checkpoint_dir")
                if (value := getattr(self, key)) is not None}
        return N2D(k, **deep, **common)

    @property
    def selection_(self) -> str:
        """One line: which candidate was kept and why."""
        check_is_fitted(self, "best_estimator_")
        scores = ", ".join(f"{name} {entry['score']:.3f}" for name, entry in self.candidates_.items())
        if self.route_ is not None:
            return f"{self.chosen_}: {ROUTES[self.route_]}"
        if len(self.candidates_) == 1:
            return f"{self.chosen_}: the only candidate given"
        return f"{self.chosen_}: highest mean NMI with the other candidates ({scores})"

    # --- the chosen pipeline's answers ----------------------------------------------------
    def _chosen_input(self, X):
        """``X`` as the chosen pipeline takes it (a DataFrame through ``preprocessing_``); raises
        ``NotFittedError`` before a fit, so call it before touching ``best_estimator_``."""
        check_is_fitted(self, "best_estimator_")
        return table_features(self, X, reset=False)

    def predict(self, X) -> np.ndarray:
        """Cluster of each sample by the chosen pipeline, ``(n,)``."""
        X = self._chosen_input(X)
        return self.best_estimator_.predict(X)

    @available_if(_has_chosen("predict_proba"))
    def predict_proba(self, X) -> np.ndarray:
        """The chosen pipeline's soft assignments, ``(n, n_clusters_)``."""
        X = self._chosen_input(X)
        return self.best_estimator_.predict_proba(X)

    @property
    def _n_features_out(self) -> int:  # names of get_feature_names_out: autoclusterer0...
        return self.best_estimator_._n_features_out

    def transform(self, X) -> np.ndarray:
        """The chosen pipeline's embedding (the scaled features for a pipeline without network)."""
        X = self._chosen_input(X)
        return self.best_estimator_.transform(X)

    def clustering_space(self, X) -> tuple[np.ndarray, str]:
        """The chosen pipeline's clustering space (see ``DeepClusterer.clustering_space``)."""
        X = self._chosen_input(X)
        return self.best_estimator_.clustering_space(X)

    def score(self, X, y=None) -> float:
        """The chosen pipeline's ``score``."""
        X = self._chosen_input(X)
        return self.best_estimator_.score(X)

    @property
    def cluster_centers_(self) -> np.ndarray:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.cluster_centers_

    @property
    def history_(self) -> list[dict]:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.history_

    def _fitted_on_images(self) -> bool:
        return self.best_estimator_._fitted_on_images()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = False
        return tags

    # --- persistence (see io.py) ----------------------------------------------------------
    def save(self, path) -> None:
        """Write the fitted model (the chosen pipeline and the record of the choice)."""
        save_model(self, path)

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"chosen.{k}": v for k, v in self.best_estimator_._state_tensors().items()}
        tensors.update({f"candidate_labels.{name}": torch.tensor(labels)
                        for name, labels in self.candidate_labels_.items()})
        return tensors

    def _state_fitted(self) -> dict:
        chosen = self.best_estimator_
        params = chosen.get_params(deep=False)
        params.pop("autoencoder", None)
        return {
            "chosen_": self.chosen_,
            "candidates_": self.candidates_,
            "n_clusters_": self.n_clusters_,
            "route_": self.route_,
            **({"k_scores_": {str(k): v for k, v in self.k_scores_.items()}} if hasattr(self, "k_scores_") else {}),
            "chosen_class": type(chosen).__name__,
            "chosen_params": params,
            "chosen_fitted": chosen._state_fitted(),
        }

    def _restore(self, tensors: dict[str, torch.Tensor], fitted: dict) -> None:
        cls = _CHOSEN_CLASSES.get(fitted["chosen_class"])
        if cls is None:
            raise ModelFileError(f"unknown chosen pipeline {fitted['chosen_class']!r}")
        chosen = estimator_from_config(cls, fitted["chosen_params"], self.device)
        prefix = "chosen."
        chosen._restore({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                        fitted["chosen_fitted"])
        self.best_estimator_ = chosen
        self.labels_ = chosen.labels_
        self.chosen_ = fitted["chosen_"]
        self.candidates_ = fitted["candidates_"]
        self.candidate_labels_ = {
            name: expect_tensor(tensors, f"candidate_labels.{name}", self.labels_.shape, torch.int64).numpy()
            for name in self.candidates_}
        self.n_clusters_ = int(fitted["n_clusters_"])
        # in files saved before routes were recorded, a lone candidate of "auto" was the images'
        auto_alone = self.candidates == "auto" and len(self.candidates_) == 1
        self.route_ = fitted.get("route_", "images" if auto_alone else None)
        if "k_scores_" in fitted:
            self.k_scores_ = {int(k): float(v) for k, v in fitted["k_scores_"].items()}
        self.input_shape_, self.n_features_in_ = chosen.input_shape_, chosen.n_features_in_
