"""DEC and IDEC: soft assignments, the target-update schedule, the stopping rule, the decoder."""
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from deepclust import DEC, IDEC, Autoencoder, DeepclustError, cluster_accuracy
from deepclust.nn import student_t_assignment, target_distribution


@pytest.fixture(scope="module")
def blob_autoencoder(blobs):
    X, _ = blobs
    return Autoencoder(latent_dim=4, hidden_dims=(64,), epochs=10, random_state=0, device="cpu").fit(X)


def test_student_t_and_target_by_hand():
    z = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    centers = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    q = student_t_assignment(z, centers)
    # distance² 25 between the points: kernel 1/(1+25) against 1
    torch.testing.assert_close(q[0], torch.tensor([26 / 27, 1 / 27]))
    p = target_distribution(q)
    torch.testing.assert_close(p.sum(dim=1), torch.ones(2))
    assert p[0, 0] > q[0, 0]  # sharper than q


def test_soft_assignments(blobs, blob_autoencoder):
    X, y = blobs
    model = DEC(4, autoencoder=blob_autoencoder, epochs=3, random_state=0, device="cpu").fit(X)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=1), model.labels_)
    assert cluster_accuracy(y, model.labels_) == 1.0


def test_stops_when_labels_settle(blobs, blob_autoencoder):
    """400 samples, batch 64: 7 batches per epoch, so the target is refreshed every epoch."""
    X, _ = blobs
    settled = DEC(4, autoencoder=blob_autoencoder, epochs=6, tol=0.5, random_state=0,
                  device="cpu").fit(X)
    assert settled.n_iter_ == 1  # the second refresh saw < 50% of labels change
    assert settled.history_[-1]["labels_changed"] < 0.5
    full = DEC(4, autoencoder=blob_autoencoder, epochs=6, tol=0.0, random_state=0,
               device="cpu").fit(X)
    assert full.n_iter_ == 6
    assert [h["epoch"] for h in full.history_ if h["phase"] == "dec"] == [1, 2, 3, 4, 5, 6]


def test_dec_drops_the_decoder_idec_keeps_training_it(blobs, blob_autoencoder):
    X, _ = blobs
    before = {k: v.clone() for k, v in blob_autoencoder.network_.decoder.state_dict().items()}
    dec = DEC(4, autoencoder=blob_autoencoder, epochs=2, tol=0, random_state=0, device="cpu").fit(X)
    idec = IDEC(4, autoencoder=blob_autoencoder, epochs=2, tol=0, random_state=0, device="cpu").fit(X)
    for name, value in dec.autoencoder_.network_.decoder.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert any(not torch.equal(v, before[k])
               for k, v in idec.autoencoder_.network_.decoder.state_dict().items())
    records = [h for h in idec.history_ if h["phase"] == "idec"]
    assert all(h["loss"] == pytest.approx(h["reconstruction"] + 0.1 * h["kl"], rel=1e-4)
               for h in records)


@pytest.mark.parametrize("params, message", [
    (dict(update_interval=0), r"The 'update_interval' parameter of DEC must be an int in the range \[1, inf\)\. Got 0"),
    (dict(tol=2.0), r"The 'tol' parameter of DEC must be a float in the range \[0\.0, 1\.0\]\. Got 2\.0 instead"),
])
def test_bad_parameters(blobs, params, message):
    X, _ = blobs
    with pytest.raises(DeepclustError, match=message):
        DEC(4, pretrain_epochs=1, device="cpu", **params).fit(X)


def test_idec_gamma_must_be_positive(blobs):
    with pytest.raises(DeepclustError, match=r"The 'gamma' parameter of IDEC must be a float in the range \(0\.0, inf\)\. Got 0 instead"):
        IDEC(4, gamma=0, pretrain_epochs=1, device="cpu").fit(blobs[0])


@pytest.mark.parametrize("cls", [DEC, IDEC])
def test_digits_and_held_out_points(cls):
    """8×8 digits: fit on 1,500, predict the other 297 through the encoder."""
    X, y = load_digits(return_X_y=True)
    model = cls(10, latent_dim=5, hidden_dims=(256, 128), pretrain_epochs=50, epochs=10,
                batch_size=32, random_state=0, device="cpu").fit(X[:1500])
    assert cluster_accuracy(y[:1500], model.labels_) >= DIGITS_MIN[cls.__name__]
    np.testing.assert_array_equal(model.predict(X[:1500]), model.labels_)
    assert cluster_accuracy(y[1500:], model.predict(X[1500:])) >= DIGITS_MIN[cls.__name__] - 0.1


#: seeds 0-3 gave DEC 0.795-0.847 and IDEC 0.790-0.844 on the 1,500 (held out: 0.734-0.774)
#: when the test was written; the thresholds keep a safety margin below that
DIGITS_MIN = {"DEC": 0.72, "IDEC": 0.72}
