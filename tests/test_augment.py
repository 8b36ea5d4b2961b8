"""Random shifts and rotations of image batches (``augment=True`` / ``"auto"``)."""
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from deepclust import AEKMeans, Autoencoder, DeepclustError
from deepclust.training import random_shift_rotate


def test_no_shift_no_rotation_is_the_identity():
    images = torch.rand(5, 1, 12, 9)
    out = random_shift_rotate(images, max_shift=0.0, max_degrees=0.0)
    torch.testing.assert_close(out, images, atol=1e-5, rtol=0)


def test_moves_stay_within_the_limits():
    """A single bright pixel at the centre may move at most 10% + the rotation's sweep."""
    images = torch.zeros(200, 29, 29)
    images[:, 14, 14] = 1.0
    torch.manual_seed(0)
    out = random_shift_rotate(images)
    assert out.shape == images.shape
    rows, cols = torch.meshgrid(torch.arange(29.0), torch.arange(29.0), indexing="ij")
    mass = out.sum(dim=(1, 2))
    centre_r = (out * rows).sum(dim=(1, 2)) / mass
    centre_c = (out * cols).sum(dim=(1, 2)) / mass
    limit = 0.1 * 29  # the centre pixel does not move under rotation; bilinear blur adds < 0.05
    assert (centre_r - 14).abs().max() <= limit + 0.05
    assert (centre_c - 14).abs().max() <= limit + 0.05
    assert (centre_r - 14).abs().max() > 0.5 * limit  # it does move
    # a pixel off-centre also turns by up to 10 degrees
    edge = torch.zeros(500, 1, 29, 29)
    edge[:, 0, 14, 24] = 1.0
    moved = random_shift_rotate(edge, max_shift=0.0)
    rows_off = ((moved[:, 0] * rows).sum(dim=(1, 2)) / moved[:, 0].sum(dim=(1, 2)) - 14).abs()
    assert rows_off.max() <= 10 * math.sin(math.radians(10)) + 0.2
    assert rows_off.max() > 1.0


def test_seeded_and_random():
    images = torch.rand(4, 3, 10, 10)
    torch.manual_seed(1)
    a = random_shift_rotate(images)
    torch.manual_seed(1)
    b = random_shift_rotate(images)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, random_shift_rotate(images))


def test_augment_needs_images():
    X = np.random.default_rng(0).random((50, 6)).astype(np.float32)
    message = r"augment=True shifts and rotates images.*got samples of shape \(6,\)"
    with pytest.raises(DeepclustError, match=message):
        Autoencoder(epochs=1, augment=True, device="cpu").fit(X)
    with pytest.raises(DeepclustError, match=message):
        AEKMeans(2, pretrain_epochs=1, augment=True, device="cpu").fit(X)


def test_augmented_training_on_digits():
    """The augmented autoencoder trains on moved images: a different network, still learning."""
    X, _ = load_digits(return_X_y=True)
    images = X.reshape(-1, 8, 8)[:400]
    params = dict(latent_dim=4, hidden_dims=(64,), epochs=4, random_state=0, device="cpu")
    plain = Autoencoder(**params).fit(images)
    moved = Autoencoder(**params, augment=True).fit(images)
    assert not np.allclose(plain.transform(images), moved.transform(images))
    losses = [h["loss"] for h in moved.history_]
    assert losses[-1] < losses[0]


def test_auto_augments_images_and_leaves_other_data_alone():
    X, _ = load_digits(return_X_y=True)
    params = dict(latent_dim=4, hidden_dims=(64,), epochs=3, random_state=0, device="cpu")
    codes = lambda data, **kw: Autoencoder(**params, **kw).fit(data).transform(data)
    flat, images = X[:300], X[:300].reshape(-1, 8, 8)
    np.testing.assert_array_equal(codes(flat, augment="auto"), codes(flat))
    auto = codes(images, augment="auto")
    np.testing.assert_array_equal(auto, codes(images, augment=True))
    assert not np.allclose(auto, codes(images))


def test_augment_value_is_checked():
    X = np.random.default_rng(0).random((20, 8, 8)).astype(np.float32)
    with pytest.raises(DeepclustError, match=r"The 'augment' parameter of Autoencoder must be .*Got 'yes' instead"):
        Autoencoder(epochs=1, augment="yes", device="cpu").fit(X)
    with pytest.raises(DeepclustError, match=r"The 'augment' parameter of AEKMeans must be .*Got 'yes' instead"):
        AEKMeans(2, pretrain_epochs=1, augment="yes", device="cpu").fit(X)
