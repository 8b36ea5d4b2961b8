"""AE + k-means: pretrain an autoencoder, then k-means in its latent space."""
from __future__ import annotations

from ..base import DeepClusterer


class AEKMeans(DeepClusterer):
    """Autoencoder embedding followed by k-means with ``n_init`` restarts.

    The simplest deep clusterer and the baseline for the others; ``predict`` assigns new data to
    the nearest k-means centre in latent space. Common parameters: see ``DeepClusterer``
    (``pretrain_epochs`` trains the autoencoder; there is no joint clustering phase).
    """

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        latent_dim: int = 10,
        hidden_dims: tuple[int, ...] | None = None,
        architecture: str = "mlp",
        pretrain_epochs: int | str = "auto",
        batch_size: int = 64,
        lr: float = 1e-3,
        n_init: int = 10,
        input_scaling: str = "auto",
        max_grad_norm: float | None = None,
        deterministic: bool = False,
        checkpoint_dir: str | None = None,
        checkpoint_every: int = 1,
        augment: bool = False,
        autoencoder=None,
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
    ):
        self.n_clusters = n_clusters
        self.latent_dim = latent_dim
        self.hidden_dims = hidden_dims
        self.architecture = architecture
        self.pretrain_epochs = pretrain_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.n_init = n_init
        self.input_scaling = input_scaling
        self.max_grad_norm = max_grad_norm
        self.deterministic = deterministic
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.augment = augment
        self.autoencoder = autoencoder
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
