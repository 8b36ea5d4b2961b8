"""UMAP manifolds and the Gaussian mixture fitted in them (N2D's manifold step).

``verbose`` as for the estimators: 0 prints nothing; 1 prints deepclust's own status line for
the UMAP step (``umap: embedding 1,797 points in 10-D``, with the elapsed time) and keeps
umap-learn, pynndescent and numba quiet (their progress and warnings); 2 lets them speak too.
"""
from __future__ import annotations

import contextlib
import sys
import time
import warnings
from collections.abc import Iterator

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sklearn.neighbors import NearestNeighbors

from ..data.source import sample_index
from ..exceptions import DeepclustError
from .mixture import TensorMixture, fit_mixture

#: modules whose warnings are umap-learn's own chatter (shown at ``verbose >= 2`` only)
UMAP_MODULES = r"(umap|pynndescent|numba|llvmlite)(\.|$)"
#: UMAP and its mixture are fitted on at most this many points, drawn at random; every other
#: point is placed by its nearest neighbours among them (N2D's ``manifold_samples``)
MANIFOLD_SAMPLES = 100_000
#: ``n_epochs="scaled"`` holds UMAP's layout work, points × epochs, near this many updates
LAYOUT_BUDGET = 2_000_000
#: whether UMAP has run in this process: umap-learn caches little of its numba code on disk, so
#: the first call of every process spends from seconds to a minute or more compiling it
_compiled = False


def layout_epochs(n: int, n_epochs: int | str | None) -> int | None:
    """UMAP's optimisation epochs for ``n`` points: ``n_epochs`` itself when it is a number;
    ``None``: umap-learn's default (``None``, which is 500 on up to 10,000 points and 200 on more);
    ``"scaled"``: that default, lowered on many points so that points × epochs stays near
    ``LAYOUT_BUDGET``, and never below 50 (500 epochs on up to 4,000 points, 200 on 10,000, 50 on
    40,000 or more)."""
    if n_epochs != "scaled":
        return n_epochs
    default = 500 if n <= 10_000 else 200
    return int(min(default, max(50, LAYOUT_BUDGET // n)))


def umap_embedding(Z: np.ndarray, n_components: int, seed: int, *, n_neighbors: int = 20,
                   min_dist: float = 0.0, verbose: int = 0, n_epochs: int | str | None = None,
                   exact_neighbours: bool = False) -> np.ndarray:
    """UMAP of ``Z`` (n, m) to ``n_components`` dimensions (at most n − 2), float32 ``(n, c)``;
    ``n_neighbors`` is capped at n − 1. ``n_epochs``: umap-learn's optimisation epochs, as
    :func:`layout_epochs` reads it. ``exact_neighbours=True`` finds the neighbour
    graph with scikit-learn's exact search (a KD-tree, fast for a few dimensions) instead of
    pynndescent's approximate one. ``verbose``: see the module's docstring."""
    global _compiled
    try:
        import umap  # here, not at the top: umap-learn loads numba, a second or more of startup time
        from numba.core.errors import NumbaWarning
    except ImportError:  # pragma: no cover - umap-learn is a dependency
        raise DeepclustError("UMAP needs umap-learn: pip install umap-learn") from None
    n = Z.shape[0]
    components = min(n_components, n - 2)
    n_neighbors = min(n_neighbors, n - 1)
    threads = torch.get_num_threads()
    graph = None
    if exact_neighbours:
        distances, indices = NearestNeighbors(n_neighbors=n_neighbors, n_jobs=threads).fit(Z).kneighbors(Z)
        graph = (indices, distances)
    reducer = umap.UMAP(
        n_components=components,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        n_epochs=layout_epochs(n, n_epochs),
        random_state=seed,
        n_jobs=1,  # a seeded UMAP runs single-threaded anyway; saying so avoids its warning
        verbose=verbose >= 2,
        precomputed_knn=(None, None, None) if graph is None else graph,
    )
    if verbose and not _compiled:
        print("umap: first use in this process: numba compiles its code first (up to a minute or more)",
              file=sys.stderr, flush=True)
    with status(verbose, "umap", f"embedding {n:,} points in {components}-D"), warnings.catch_warnings():
        if verbose < 2:
            warnings.filterwarnings("ignore", module=UMAP_MODULES)
            warnings.filterwarnings("ignore", category=NumbaWarning)
        try:
            E = reducer.fit_transform(Z).astype(np.float32)
        finally:  # numba's OpenMP start-up resets torch's thread count to the number of cores
            torch.set_num_threads(threads)
    _compiled = True
    return E


@contextlib.contextmanager
def status(verbose: int, label: str, text: str) -> Iterator[None]:
    """deepclust's status line for a step without batches, on stderr: on a terminal ``label``, a
    pulsing bar, the elapsed time and ``text``; elsewhere (logs, pipes) one line ``label: text``
    at the start and ``label: done in N s`` at the end. Nothing at ``verbose=0``."""
    if not verbose:
        yield
        return
    console = Console(file=sys.stderr)
    if console.is_terminal:
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=20), TimeElapsedColumn(),
                            TextColumn("{task.fields[status]}"), console=console)
        with progress:
            task = progress.add_task(label, total=None, status=text)
            yield
            progress.update(task, total=1, completed=1)
        return
    start = time.perf_counter()
    print(f"{label}: {text}", file=sys.stderr, flush=True)
    yield
    print(f"{label}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def umap_gmm(Z: np.ndarray, n_clusters: int, seed: int, *, n_neighbors: int = 20, min_dist: float = 0.0,
             n_components: int | None = None, covariance_type: str = "full", n_init: int = 10,
             max_samples: int | None = MANIFOLD_SAMPLES, n_epochs: int | str | None = None,
             exact_neighbours: bool = False, device: torch.device | str = "cpu",
             verbose: int = 0) -> tuple[np.ndarray, np.ndarray, TensorMixture, np.ndarray]:
    """N2D's manifold step: UMAP of the codes ``Z`` (n, latent_dim) to ``n_components``
    (default ``n_clusters``) dimensions, then a Gaussian mixture there (best likelihood of
    ``n_init`` starts), both on all rows or ``max_samples`` drawn at random when there are more.
    ``n_epochs`` and ``exact_neighbours``: as for :func:`umap_embedding`.
    Returns those rows ``(s,)``, their manifold positions ``(s, n_components)`` float32, the
    fitted mixture (tensors on ``device``) and their labels ``(s,)``."""
    rows = sample_index(Z.shape[0], max_samples, seed)
    rows = np.arange(Z.shape[0]) if rows is None else rows
    E = umap_embedding(Z[rows], n_components or n_clusters, seed, n_neighbors=n_neighbors, min_dist=min_dist,
                       n_epochs=n_epochs, exact_neighbours=exact_neighbours, verbose=verbose)
    # several starts, best likelihood: one start sometimes merges two clusters
    mixture, labels = fit_mixture(E, n_clusters, seed, covariance_type=covariance_type, n_init=n_init,
                                  device=device)
    return rows, E, mixture, labels


class ManifoldPlacement:
    """Where new codes land in a fitted manifold, kept as data (a fitted UMAP cannot be stored
    without pickle): the inverse-distance-weighted mean of the manifold positions of their ``k``
    nearest training codes.

    The neighbours are exact: scikit-learn's ``NearestNeighbors`` with its own choice of search
    (a KD-tree for codes of up to 15 dimensions, brute force for wider inputs), on all of torch's
    threads (its speed: ``benchmarks/NOTES.md``). So the
    answer is the same at ``fit`` and at ``predict``, and a training code lands on its own
    position.

    Parameters
    ----------
    codes : ndarray of shape (s, d)
        The training codes, float32.
    positions : ndarray of shape (s, m)
        Their manifold positions, float32.
    n_neighbors : int
        Neighbours averaged (capped at ``s``).
    """

    #: query rows per block, so that a block's neighbour codes stay near 64 MB
    block_floats = 1 << 24

    def __init__(self, codes: np.ndarray, positions: np.ndarray, n_neighbors: int):
        self.codes = np.ascontiguousarray(codes, dtype=np.float32)
        self.positions = np.ascontiguousarray(positions, dtype=np.float32)
        self.k = min(int(n_neighbors), self.codes.shape[0])
        self.index = NearestNeighbors(n_neighbors=self.k, n_jobs=torch.get_num_threads()).fit(self.codes)

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        """Manifold positions ``(n, m)`` float32 of the codes ``Z`` ``(n, d)``."""
        Z = np.ascontiguousarray(Z, dtype=np.float32)
        out = np.empty((Z.shape[0], self.positions.shape[1]), np.float32)
        rows = max(1, self.block_floats // (self.k * Z.shape[1]))
        for start in range(0, Z.shape[0], rows):
            batch = Z[start:start + rows]
            index = self.index.kneighbors(batch, return_distance=False)
            # distances recomputed on the k found: a training code then lands exactly on itself
            distances = np.linalg.norm(batch[:, None, :] - self.codes[index], axis=2)
            weights = 1.0 / (distances + 1e-8)
            weights /= weights.sum(axis=1, keepdims=True)
            out[start:start + rows] = np.einsum("nk,nkm->nm", weights, self.positions[index])
        return out
