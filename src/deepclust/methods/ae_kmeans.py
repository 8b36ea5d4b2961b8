"""AE + k-means: pretrain an autoencoder, then k-means in its latent space."""
from __future__ import annotations

from ..params import document_parameters, store_params
from .clusterer import DeepClusterer
from .registry import register


@register("ae-kmeans")
@document_parameters
class AEKMeans(DeepClusterer):
    """Autoencoder embedding followed by k-means with ``n_init`` restarts.

    The simplest deep clusterer and the baseline for the others; ``predict`` assigns new data to
    the nearest k-means centre in latent space. Common parameters: see ``DeepClusterer``
    (``pretrain_epochs`` trains the autoencoder; there is no joint clustering phase).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import AEKMeans
    >>> X = load_digits().data
    >>> model = AEKMeans(10, random_state=0).fit(X)
    >>> model.labels_.shape, model.transform(X).shape
    ((1797,), (1797, 10))
    """

    _parameter_docs = {"n_init": "k-means restarts; the best is kept."}

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        preset: str = "default",
        latent_dim: int = 10,
        hidden_dims: tuple[int, ...] | None = None,
        architecture: str = "mlp",
        pretrain_epochs: int | str = "auto",
        batch_size: int = 64,
        lr: float = 1e-3,
        n_init: int = 10,
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
