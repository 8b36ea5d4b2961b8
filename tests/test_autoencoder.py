"""The autoencoder on its own: dimensionality reduction, compression, feature learning."""
import numpy as np
import pytest

from deepclust import Autoencoder, DeepclustError


@pytest.fixture(scope="module")
def low_rank():
    """Data on a 3-dimensional linear subspace of R^30, in arbitrary units (offset 50, scale 10)."""
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(500, 3))
    X = 50 + 10 * codes @ rng.normal(size=(3, 30))
    return X.astype(np.float32)


def test_reduces_compresses_and_reconstructs(low_rank):
    ae = Autoencoder(latent_dim=3, hidden_dims=(64,), epochs=60, random_state=0, device="cpu").fit(low_rank)
    assert ae.input_scaling_ == "standard"
    assert ae.compression_ratio_ == 10.0
    Z = ae.transform(low_rank)
    assert Z.shape == (500, 3) and Z.dtype == np.float32
    back = ae.inverse_transform(Z)
    assert back.shape == low_rank.shape
    np.testing.assert_allclose(back, ae.reconstruct(low_rank), rtol=1e-5, atol=1e-4)
    error = ae.reconstruction_error(low_rank)
    # far better than predicting the mean of every feature (the variance per feature)
    assert error < 0.05 * low_rank.var(axis=0).mean()
    per_sample = ae.reconstruction_error(low_rank, per_sample=True)
    assert per_sample.shape == (500,) and per_sample.mean() == pytest.approx(error, rel=1e-4)
    assert ae.score(low_rank) == pytest.approx(-error)
    losses = [h["loss"] for h in ae.history_]
    assert len(losses) == ae.n_iter_ == 60 and losses[-1] < losses[0] / 5


def test_article_autoencoder_preset():
    """The article's 100 → 20 (ReLU) → 100 (sigmoid) network on data in [0, 1]."""
    X = np.random.default_rng(1).random((200, 100)).astype(np.float32)
    ae = Autoencoder(latent_dim=20, hidden_dims=(), latent_activation="relu",
                     output_activation="sigmoid", epochs=2, random_state=0, device="cpu").fit(X)
    assert ae.input_scaling_ == "none"
    assert (ae.transform(X) >= 0).all()
    out = ae.reconstruct(X)
    assert ((out > 0) & (out < 1)).all()


def test_scaling_choices():
    pixels = np.random.default_rng(0).integers(0, 256, (50, 4, 4)).astype(np.float32)
    ae = Autoencoder(latent_dim=2, hidden_dims=(8,), epochs=1, device="cpu").fit(pixels)
    assert ae.input_scaling_ == "max"
    # rows of unit length (sentence embeddings are so): standardising the columns would move their cosines
    embeddings = np.random.default_rng(1).normal(size=(50, 16)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    ae = Autoencoder(latent_dim=2, hidden_dims=(8,), epochs=1, device="cpu").fit(embeddings)
    assert ae.input_scaling_ == "none"
    ae = Autoencoder(latent_dim=2, hidden_dims=(8,), epochs=1, device="cpu").fit(embeddings * 1.01)
    assert ae.input_scaling_ == "standard"
    with pytest.raises(DeepclustError, match="The 'input_scaling' parameter of Autoencoder must be a str among"):
        Autoencoder(input_scaling="log", epochs=1).fit(pixels)
    with pytest.raises(DeepclustError, match=r"codes must have shape \(n, 2\)"):
        ae.inverse_transform(np.zeros((3, 5)))
