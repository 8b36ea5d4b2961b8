import json
import os

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from threadpoolctl import threadpool_limits

import deepclust

# the suite runs two workers on two cores: one thread each for torch, BLAS and OpenMP (two threads
# per worker made a small Gaussian mixture 20 times slower); subprocesses inherit the variables
torch.set_num_threads(1)
threadpool_limits(1)
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")


@pytest.fixture(scope="session")
def blobs():
    """Four well-separated Gaussian blobs in 20 dimensions: (X (400, 20) float32, y)."""
    X, y = make_blobs(400, n_features=20, centers=4, cluster_std=1.0, random_state=0)
    return X.astype(np.float32), y


#: small, fast settings shared by the method tests
FAST = dict(latent_dim=4, hidden_dims=(64,), pretrain_epochs=10, batch_size=64, device="cpu")


def reload_as_saved_before(model, folder, param: str):
    """Save ``model`` to ``folder``, drop ``param`` from its config as a deepclust from before
    that parameter would have written it, and load it back."""
    model.save(folder)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    del config["params"][param]
    config_path.write_text(json.dumps(config))
    return deepclust.load(folder)
