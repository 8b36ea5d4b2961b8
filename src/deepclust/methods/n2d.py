"""N2D: autoencoder embedding → UMAP manifold → Gaussian mixture (McConville et al., 2020)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..base import load_module_state
from ..cluster import MANIFOLD_SAMPLES, ManifoldPlacement, TensorMixture, umap_gmm
from ..exceptions import DeepclustError
from ..params import StrOptions, document_parameters, ints, reals, store_params
from ..tensors import expect_tensor
from ..training import Phase, run_phase
from ..training.augment import random_shift_rotate
from .clusterer import DeepClusterer
from .registry import register

#: Self-labelling's targets are the mixture's labels, a few percent of them wrong; smoothed
#: targets keep the head from fitting those with full confidence (the common 0.1, not tuned)
LABEL_SMOOTHING = 0.1


@register("n2d")
@document_parameters
class N2D(DeepClusterer):
    """Cluster the autoencoder's embedding in a UMAP manifold with a Gaussian mixture.

    UMAP (``n_neighbors``, ``min_dist``, ``n_components`` dimensions, default ``n_clusters``) learns
    a manifold of the training embedding; a Gaussian mixture (``covariance_type``, best likelihood
    of ``n_init`` starts) fitted there gives ``labels_`` and ``predict_proba``. A fitted UMAP cannot
    be stored without pickle, so its inference path is kept as data: new points are placed at the
    inverse-distance-weighted mean of the manifold positions of their ``n_neighbors`` nearest
    training embeddings (a training point lands on itself, so ``predict`` on the training data
    reproduces ``labels_``). On more than ``manifold_samples`` points, UMAP and the mixture are
    fitted on that many drawn at random and every other point is placed this way too (UMAP's
    time grows faster than linearly with the points; the neighbours found among 100,000 codes
    place a point as well as UMAP would). Defaults are the published N2D settings (``n_neighbors=20``,
    ``min_dist=0``). ``pretrain_epochs="auto"`` pretrains the autoencoder for 30 epochs (more on
    small data).

    **Self-labelling** (images only; ``epochs`` > 0): the encoder and a linear head
    ``latent_dim → n_clusters`` are then trained for ``epochs`` epochs to predict that partition
    with a cross-entropy loss against targets smoothed by 0.1, from randomly shifted (≤ 10%) and
    rotated (≤ 10°) copies of the images (Adam, ``cluster_lr``, cosine decay). The head's answer
    replaces the mixture's: ``labels_``, ``predict`` and ``predict_proba`` (its softmax) come from
    it, ``transform`` is the fine-tuned code, and the decoder is left as pretrained. A classifier
    that must give moved copies the same label cannot follow the mixture's errors at the
    boundaries one by one, so it polishes a good partition (it does not repair a poor one; the
    measurements are in ``benchmarks/NOTES.md``). The phase always moves the images —
    ``augment`` governs the pretraining only — and is skipped for other data. ``epochs=0`` gives
    the published method.

    Examples
    --------
    >>> from deepclust import N2D
    >>> from deepclust.datasets import load_mnist_sample
    >>> X, y = load_mnist_sample()
    >>> model = N2D(10, random_state=0).fit(X)  # images: UMAP + GMM, then self-labelling
    >>> model.predict_proba(X).shape
    (10000, 10)
    """

    default_pretrain_epochs = 30
    #: ``fast`` pretrains a narrower MLP in batches of 128, fits UMAP (its layout epochs scaled to
    #: the points: 50 on 40,000) and the mixture on 40,000 points with an exact neighbour graph and
    #: self-labels for 4 epochs (``benchmarks/NOTES.md``, "Presets")
    _presets = {"fast": {"hidden_dims": (500, 500, 1000), "batch_size": 128, "epochs": 4,
                         "manifold_samples": 40_000, "manifold_epochs": "scaled", "neighbor_search": "exact"}}

    #: files saved before self-labelling existed hold N2D's own partition
    _params_before_they_existed = {"epochs": 0}

    _parameter_constraints = {
        "n_neighbors": [ints(2)],
        "min_dist": [reals(0)],
        "n_components": [None, ints(1)],
        "manifold_samples": [None, ints(100)],
        "manifold_epochs": [None, ints(1), StrOptions({"scaled"})],
        "neighbor_search": [StrOptions({"approximate", "exact"})],
    }
    _parameter_docs = {
        "n_neighbors": "UMAP's neighbourhood size (the published N2D value).",
        "min_dist": "UMAP's minimum distance between embedded points (0 packs clusters tightly).",
        "n_components": "Dimensions of the UMAP manifold (``None``: ``n_clusters``).",
        "manifold_samples": ("Points UMAP and the mixture are fitted on, drawn at random when there are more "
                             "(``None``: all); the others are placed by their nearest neighbours among them."),
        "manifold_epochs": ("UMAP's optimisation epochs; the layout's time is about proportional to them. "
                            "``None``: umap-learn's default, 500 on up to 10,000 points and 200 on more. "
                            "``'scaled'``: that default, lowered on many points so that points × epochs stays "
                            "near 2,000,000, never below 50 (500 on up to 4,000 points, 200 on 10,000, 50 on "
                            "40,000); fewer epochs cost accuracy on small data, where they are cheap anyway."),
        "neighbor_search": ("How UMAP finds each point's ``n_neighbors`` nearest codes: ``'approximate'`` "
                            "(pynndescent, umap-learn's own) or ``'exact'`` (scikit-learn's ``NearestNeighbors``, "
                            "a KD-tree for codes of up to 15 dimensions). ``'exact'`` skips compiling pynndescent "
                            "(tens of seconds in a new process), which makes it the faster on some tens of "
                            "thousands of low-dimensional codes; its cost grows faster with the number and "
                            "width of the codes."),
        "n_init": "Mixture starts in the manifold; the best likelihood is kept.",
        "epochs": "Self-labelling epochs on images (0: the published method; skipped for other data).",
        "cluster_lr": "Learning rate of self-labelling (Adam, cosine decay).",
    }
    _attribute_docs = {"n_iter_": ("int", "Self-labelling epochs run (0 on data other than images).")}

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        preset: str = "default",
        n_neighbors: int = 20,
        min_dist: float = 0.0,
        n_components: int | None = None,
        manifold_samples: int | None = MANIFOLD_SAMPLES,
        manifold_epochs: int | str | None = None,
        neighbor_search: str = "approximate",
        covariance_type: str = "full",
        n_init: int = 10,
        epochs: int = 10,
        cluster_lr: float = 1e-3,
        latent_dim: int = 10,
        hidden_dims: tuple[int, ...] | None = None,
        architecture: str = "mlp",
        pretrain_epochs: int | str = "auto",
        batch_size: int = 64,
        lr: float = 1e-3,
        input_scaling: str = "auto",
        max_grad_norm: float | None = None,
        precision: str | None = None,
        compile: bool = False,
        deterministic: bool = False,
        checkpoint_dir: str | None = None,
        checkpoint_every: int = 1,
        augment: bool = False,
        autoencoder=None,
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
    ):
        store_params(self, locals())

    def _check_params(self, X) -> None:
        super()._check_params(X)
        if X.shape[0] <= 2:
            raise DeepclustError(
                f"N2D needs more than 2 samples; got n_samples={X.shape[0]}"
            )

    def _init_clusters(self, Z: torch.Tensor, seed: int) -> None:
        codes = Z.cpu().numpy()
        rows, E, self._mixture, _ = umap_gmm(
            codes, self.n_clusters, seed, n_neighbors=self.n_neighbors, min_dist=self.min_dist,
            n_components=self.n_components, covariance_type=self.covariance_type, n_init=self.n_init,
            max_samples=self.manifold_samples, n_epochs=self.manifold_epochs,
            exact_neighbours=self.neighbor_search == "exact", device=Z.device, verbose=self.verbose)
        self._head = None
        self._placement = ManifoldPlacement(codes[rows], E, self.n_neighbors)
        # the rows UMAP embedded keep their positions; only the others are placed by neighbours
        positions = np.empty((codes.shape[0], E.shape[1]), np.float32)
        positions[rows] = E
        others = np.ones(codes.shape[0], bool)
        others[rows] = False
        positions[others] = self._placement(codes[others])
        # the mixture's labels, until self-labelling replaces them
        self._train_labels = self._mixture.log_resp(torch.as_tensor(positions, device=Z.device)).argmax(dim=1)
        self._set_centers(Z, self._train_labels)

    def _set_centers(self, Z: torch.Tensor, labels: torch.Tensor) -> None:
        """Centres in latent space (used by ``score``): the mean code of each cluster."""
        sums = torch.zeros(self.n_clusters, Z.shape[1], device=Z.device).index_add_(0, labels, Z)
        counts = torch.bincount(labels, minlength=self.n_clusters).clamp(min=1)[:, None]
        self._centers = sums / counts

    def _fit_clusters(self, data, generator: torch.Generator) -> int:
        """Self-labelling: train encoder + linear head on the mixture's labels from moved images."""
        if int(self.epochs) == 0 or not self._fitted_on_images():
            return 0  # the mixture's labels stay the answer (see _final_labels)
        targets = self._train_labels
        network = self.autoencoder_.network_
        head = torch.nn.Linear(self.autoencoder_.latent_dim_, self.n_clusters).to(data.device)
        self._init_head(head)

        def step(xb: torch.Tensor, index: torch.Tensor) -> dict[str, torch.Tensor]:
            loss = F.cross_entropy(head(network.encode(xb)), targets[index], label_smoothing=LABEL_SMOOTHING)
            return {"loss": loss, "cross_entropy": loss}

        phase = Phase(
            max_grad_norm=self.max_grad_norm,
            precision=self.precision,
            compile=self.compile,
            name="n2d_self_label",
            step=step,
            parameters=[*network.encoder.parameters(), *head.parameters()],
            epochs=int(self.epochs),
            lr=self.cluster_lr,
            schedule="cosine",
            modules=[network.encoder, head],
            augment=random_shift_rotate,
        )
        epochs = run_phase(phase, data, self.batch_size, generator, self.history_, self.verbose,
                           self._phase_checkpoint(phase))
        self._adopt_head(head.eval())
        Z = self.autoencoder_._encode(data)
        self._train_labels = self._assign(Z)
        self._set_centers(Z, self._train_labels)
        return epochs

    def _final_labels(self, data) -> torch.Tensor:
        """The labels found already: the head's, or (no self-labelling, so the codes did not
        move) the mixture's from initialisation; no second pass over the data."""
        labels = self._train_labels
        del self._train_labels
        return labels

    @torch.no_grad()
    def _init_head(self, head: torch.nn.Linear) -> None:
        """Start ``head`` as nearest-centre assignment: ``z·μ − ½‖μ‖² = ½‖z‖² − ½‖z − μ‖²``.
        A randomly started head disagrees with the mixture until it has learned it, and tiny
        data sets do not give it the steps for that (60 shapes: ACC 0.90 → 0.75)."""
        head.weight.copy_(self._centers)
        head.bias.copy_(-0.5 * self._centers.pow(2).sum(1))

    def _adopt_head(self, head: torch.nn.Linear) -> None:
        """Assign by ``head`` from now on; the mixture's inference path is no longer needed."""
        self._head = head
        del self._placement, self._mixture

    def _manifold(self, Z: torch.Tensor) -> torch.Tensor:
        """Manifold positions ``(n, n_components)`` of codes ``Z`` via their training neighbours."""
        return torch.as_tensor(self._placement(Z.cpu().numpy()), device=Z.device)

    def clustering_space(self, X) -> tuple[np.ndarray, str]:
        """The UMAP manifold the mixture partitions ``(n, n_components)``; after self-labelling,
        which clusters with a head on the fine-tuned code, that code."""
        if self._head is not None:
            return self.transform(X), "self-labelled latent space"
        return self._manifold(self._embed(X)).cpu().numpy(), "UMAP manifold"

    @torch.no_grad()
    def _log_resp(self, Z: torch.Tensor) -> torch.Tensor:
        if self._head is not None:
            return torch.log_softmax(self._head(Z), dim=1)
        return self._mixture.log_resp(self._manifold(Z))

    def _assign(self, Z: torch.Tensor) -> torch.Tensor:
        return self._log_resp(Z).argmax(dim=1)

    def predict_proba(self, X) -> np.ndarray:
        """Probability of each cluster, ``(n, n_clusters)``: the self-labelled head's softmax, or
        (``epochs=0``, non-image data) the posterior of the mixture components."""
        return self._log_resp(self._embed(X)).exp().cpu().numpy()

    # --- persistence -------------------------------------------------------------------------
    def _state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = super()._state_tensors()
        if self._head is not None:
            tensors.update({f"head.{k}": v for k, v in self._head.state_dict().items()})
        else:
            tensors.update(latent_train=torch.as_tensor(self._placement.codes),
                           manifold_train=torch.as_tensor(self._placement.positions), **self._mixture.tensors("gmm_"))
        return tensors

    def _state_fitted(self) -> dict:
        if self._head is not None:
            return {**super()._state_fitted(), "self_labelled": True}
        return {**super()._state_fitted(), "n_components": int(self._placement.positions.shape[1]),
                "n_manifold_train": int(self._placement.positions.shape[0])}

    def _restore(self, tensors: dict[str, torch.Tensor], fitted: dict) -> None:
        super()._restore(tensors, fitted)
        n, k, d = fitted["n_samples"], self.n_clusters, self.autoencoder_.latent_dim_
        device = self._centers.device
        self._head = None
        if fitted.get("self_labelled", False):
            head = torch.nn.Linear(d, k)
            load_module_state(head, tensors, "head.")
            self._head = head.to(device).eval()
            return
        m, s = int(fitted["n_components"]), int(fitted.get("n_manifold_train", n))
        self._placement = ManifoldPlacement(expect_tensor(tensors, "latent_train", (s, d)).numpy(),
                                            expect_tensor(tensors, "manifold_train", (s, m)).numpy(), self.n_neighbors)
        self._mixture = TensorMixture.from_tensors(tensors, "gmm_", k, m, device)
