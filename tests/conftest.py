import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

torch.set_num_threads(1)  # the suite runs two workers on two cores


@pytest.fixture(scope="session")
def blobs():
    """Four well-separated Gaussian blobs in 20 dimensions: (X (400, 20) float32, y)."""
    X, y = make_blobs(400, n_features=20, centers=4, cluster_std=1.0, random_state=0)
    return X.astype(np.float32), y


#: small, fast settings shared by the method tests
FAST = dict(latent_dim=4, hidden_dims=(64,), pretrain_epochs=10, batch_size=64, device="cpu")
