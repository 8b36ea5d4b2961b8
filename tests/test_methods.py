"""Clustering quality, determinism, autoencoder reuse and input handling of the methods."""
import copy
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from conftest import FAST
from deepclust import DCN, N2D, AEKMeans, Autoencoder, ClusterGAN, DeepclustError, TrainingDiverged, cluster_accuracy
from deepclust.methods import REGISTRY
from deepclust.methods.clusterer import DeepClusterer
from deepclust.training import Adversary, Phase, callbacks, loop, run_phase
from deepclust.training.loop import make_optimizer
from test_checkpoint import recording_restores

#: per-method settings on top of FAST: ClusterGAN's game needs more (cheap) epochs to settle
SETTINGS = {ClusterGAN: dict(epochs=100, lr=1e-3)}


def make(cls, **extra):
    settings = {**FAST, "epochs": 5, **SETTINGS.get(cls, {}), **extra}
    return cls(**{k: v for k, v in settings.items() if k in cls().get_params()})


@pytest.mark.parametrize("cls", list(REGISTRY.values()))
def test_blobs_are_clustered_perfectly(cls, blobs):
    X, y = blobs
    model = make(cls, n_clusters=4, random_state=0).fit(X)
    assert cluster_accuracy(y, model.labels_) == 1.0
    assert model.labels_.dtype == np.int64
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    if isinstance(model, DeepClusterer):  # autoencoder family: clusters in the 4-d code
        assert model.transform(X).shape == (400, 4)
        assert model.cluster_centers_.shape == (4, 4)


def test_digits_ae_kmeans_accuracy():
    """8×8 digits, 1,797 images (k-means on the pixels: 0.71-0.79 depending on the start);
    this small autoencoder gave 0.78-0.83 over seeds 0-3 when the test was written."""
    X, y = load_digits(return_X_y=True)
    model = AEKMeans(10, latent_dim=5, hidden_dims=(256, 128), pretrain_epochs=50, batch_size=32,
                     random_state=0, device="cpu").fit(X)
    assert cluster_accuracy(y, model.labels_) >= 0.75


@pytest.mark.parametrize("cls", list(REGISTRY.values()))
def test_same_seed_same_labels_and_global_rng_untouched(cls, blobs, tmp_path, monkeypatch):
    """Same seed, same result: with deterministic=True, with checkpoints written, and resumed
    from those (finished) checkpoints, which restores every phase's saved state."""
    X, _ = blobs
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = make(cls, n_clusters=4, random_state=7).fit(X)
    assert torch.rand(1) == expected_next  # fit does not reseed the caller's global RNG
    again = [
        make(cls, n_clusters=4, random_state=7, deterministic=True).fit(X),  # same on the CPU
        make(cls, n_clusters=4, random_state=7, checkpoint_dir=str(tmp_path)).fit(X),
    ]
    assert not torch.are_deterministic_algorithms_enabled()  # restored after fit
    restored = recording_restores(monkeypatch)
    again.append(make(cls, n_clusters=4, random_state=7, checkpoint_dir=str(tmp_path)).fit(X))
    saved = sorted(path.name for path in tmp_path.glob("*.safetensors"))
    assert saved and sorted(restored) == saved  # every phase was restored, none retrained
    assert all(finished for _, finished in restored.values())
    weights = first._state_tensors()  # every saved tensor
    for other in again:
        np.testing.assert_array_equal(first.labels_, other.labels_)
        np.testing.assert_array_equal(first.transform(X), other.transform(X))
        assert weights.keys() == other._state_tensors().keys()
        for name in weights:
            assert torch.equal(weights[name], other._state_tensors()[name]), name


def test_fitted_autoencoder_is_reused_not_modified(blobs):
    X, y = blobs
    ae = Autoencoder(latent_dim=4, hidden_dims=(64,), epochs=10, random_state=0, device="cpu").fit(X)
    before = copy.deepcopy(ae.network_.state_dict())
    dcn = DCN(4, autoencoder=ae, epochs=3, random_state=0, device="cpu").fit(X)
    km = AEKMeans(4, autoencoder=ae, random_state=0, device="cpu").fit(X)
    assert cluster_accuracy(y, dcn.labels_) == 1.0
    assert [h["phase"] for h in km.history_] == ["pretrain"] * 10  # no second pretraining
    np.testing.assert_allclose(km.transform(X), ae.transform(X))
    for name, tensor in ae.network_.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_autoencoder_shared_through_clone(blobs):
    """clone() (grid search, pipelines) unfits a plain autoencoder=, but not a frozen one."""
    from sklearn.base import clone
    from sklearn.frozen import FrozenEstimator

    X, y = blobs
    ae = Autoencoder(latent_dim=4, hidden_dims=(64,), epochs=10, random_state=0, device="cpu").fit(X)
    model = clone(AEKMeans(4, autoencoder=FrozenEstimator(ae), random_state=0, device="cpu")).fit(X)
    assert cluster_accuracy(y, model.labels_) == 1.0
    with pytest.raises(DeepclustError, match="autoencoder= is not fitted.*FrozenEstimator"):
        clone(AEKMeans(4, autoencoder=ae, device="cpu")).fit(X)


def test_autoencoder_of_other_shape_is_refused(blobs):
    X, _ = blobs
    ae = Autoencoder(latent_dim=2, hidden_dims=(8,), epochs=1, device="cpu").fit(X[:, :5])
    with pytest.raises(DeepclustError, match=r"fitted on inputs of shape \(5,\), but X has shape \(20,\)"):
        AEKMeans(4, autoencoder=ae).fit(X)


def test_images_flat_and_shaped():
    X, y = load_digits(return_X_y=True)
    images = X.reshape(-1, 8, 8)[:300]
    model = AEKMeans(10, latent_dim=4, hidden_dims=(32,), pretrain_epochs=2, random_state=0,
                     device="cpu").fit(images)
    assert model.input_shape_ == (8, 8) and model.n_features_in_ == 64
    np.testing.assert_array_equal(model.predict(images.reshape(300, 64)), model.labels_)
    with pytest.raises(DeepclustError, match=r"images of shape \(4, 16\).*fitted on shape \(8, 8\)"):
        model.predict(images.reshape(300, 4, 16))


def test_conv_architecture_on_images():
    X, _ = load_digits(return_X_y=True)
    images = X.reshape(-1, 1, 8, 8)[:200]
    model = AEKMeans(5, latent_dim=4, hidden_dims=(8, 16), architecture="conv", pretrain_epochs=3,
                     random_state=0, device="cpu").fit(images)
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < losses[0]
    assert model.transform(images).shape == (200, 4)
    with pytest.raises(DeepclustError, match="architecture='conv' needs images"):
        AEKMeans(3, architecture="conv", device="cpu").fit(X[:50])


# --- input checks the scikit-learn suite cannot run for us (it uses n_clusters=1) -------------
def test_predict_subsets_and_one_dimensional_input(blobs):
    X, _ = blobs
    model = make(AEKMeans, n_clusters=4, random_state=0).fit(X)
    full = model.predict(X)
    np.testing.assert_array_equal(model.predict(X[:7]), full[:7])
    np.testing.assert_array_equal(model.predict(X[::-1]), full[::-1])
    with pytest.raises(DeepclustError, match="Reshape your data"):
        model.predict(X[0])


def test_single_feature_data():
    X = np.r_[np.zeros(30), np.full(30, 10.0)][:, None] + np.random.default_rng(0).normal(0, .1, (60, 1))
    y = np.repeat([0, 1], 30)
    model = AEKMeans(2, latent_dim=1, hidden_dims=(8,), pretrain_epochs=20, random_state=0,
                     device="cpu").fit(X)
    assert cluster_accuracy(y, model.labels_) == 1.0


@pytest.mark.parametrize(
    "X, n_clusters, message",
    [
        (np.full((10, 3), np.nan), 2, "NaN"),
        (np.full((10, 3), np.inf), 2, "infinity"),
        (np.zeros((10, 3)), 1, r"The 'n_clusters' parameter of AEKMeans must be an int in the range \[2, inf\)\. Got 1"),
        (np.zeros((10, 3)), 2.5, r"The 'n_clusters' parameter of AEKMeans must be an int .*Got 2\.5 instead"),
        (np.zeros((3, 3)), 4, "n_samples=3 is fewer than n_clusters=4"),
        (np.zeros((2, 3, 4, 5, 6)), 2, "got 5 dimensions"),
        (np.zeros(10), 2, "Reshape your data"),
    ],
)
def test_bad_input_messages(X, n_clusters, message):
    with pytest.raises(DeepclustError, match=message):
        AEKMeans(n_clusters, pretrain_epochs=1, device="cpu").fit(X)


def test_predict_with_other_feature_count(blobs):
    X, _ = blobs
    model = make(AEKMeans, n_clusters=4, pretrain_epochs=1).fit(X)
    with pytest.raises(DeepclustError, match="X has 3 features, but AEKMeans is expecting 20 features"):
        model.predict(X[:, :3])


def test_dcn_alpha_one_is_a_plain_autoencoder(blobs):
    """alpha = 1 drops the coding term: the encoder gets no pull towards the centres."""
    X, _ = blobs
    ae = Autoencoder(latent_dim=4, hidden_dims=(64,), epochs=5, random_state=0, device="cpu").fit(X)
    dcn = DCN(4, alpha=1.0, autoencoder=ae, epochs=2, tol=0, random_state=0, device="cpu").fit(X)
    records = [h for h in dcn.history_ if h["phase"] == "dcn"]
    assert len(records) == 2
    assert all(h["loss"] == pytest.approx(h["reconstruction"]) for h in records)
    with pytest.raises(DeepclustError, match=r"The 'alpha' parameter of DCN must be a float in the range \[0\.0, 1\.0\]\. Got 1\.5 instead"):
        DCN(4, alpha=1.5, autoencoder=ae, device="cpu").fit(X)
    with pytest.raises(DeepclustError, match=r"The 'tol' parameter of DCN must be a float in the range \[0\.0, 1\.0\]\. Got -1"):
        DCN(4, tol=-1, autoencoder=ae, device="cpu").fit(X)
    with pytest.raises(DeepclustError, match=r"The 'cluster_lr' parameter of DCN must be a float in the range \(0\.0, inf\)"):
        DCN(4, cluster_lr=0, autoencoder=ae, device="cpu").fit(X)


def test_n2d_soft_assignments_and_new_points(blobs):
    X, y = blobs
    model = make(N2D, n_clusters=4, random_state=0).fit(X[:300])
    proba = model.predict_proba(X)
    assert proba.shape == (400, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba[:300].argmax(axis=1), model.labels_)
    # unseen points are placed through their nearest training neighbours
    assert cluster_accuracy(y[300:], model.predict(X[300:])) == 1.0
    space, name = model.clustering_space(X[:300])  # the mixture's manifold, as map data
    assert name == "UMAP manifold" and space.shape == (300, 4)
    np.testing.assert_allclose(space, model._placement.positions, atol=1e-5)
    with pytest.raises(DeepclustError, match=r"The 'covariance_type' parameter of N2D must be a str among \{.*\}\. Got 'tied' instead"):
        N2D(4, covariance_type="tied").fit(X)


N2D_THREADS = """
import numpy as np, torch
torch.set_num_threads(1)
from deepclust import N2D
X = np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)
N2D(3, hidden_dims=(16,), latent_dim=3, pretrain_epochs=2, random_state=0, device="cpu").fit(X)
print(torch.get_num_threads())
"""


def test_n2d_leaves_torch_thread_count_alone():
    """UMAP's first run in a process starts numba's OpenMP, which resets torch's thread count
    to the number of cores; checked in a fresh process, since it happens once per process."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}  # numba/OpenMP at their defaults
    done = subprocess.run([sys.executable, "-c", N2D_THREADS], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1"]


def test_a_diverging_loss_stops_training_with_where_and_what_to_try():
    X = np.full((64, 4), 1e20, dtype=np.float32)  # squared error overflows float32
    model = Autoencoder(latent_dim=2, hidden_dims=(8,), epochs=3, input_scaling="none",
                        random_state=0, device="cpu")
    with pytest.raises(TrainingDiverged, match=r"training diverged: the training loss is inf in "
                       r"phase 'pretrain', epoch 1, batch 1; try a lower learning rate \(lr\)"):
        model.fit(X)


@pytest.mark.parametrize("every, steps_run", [(1, 3), (4, 4), (50, 6)])
def test_a_non_finite_loss_is_found_on_the_device_and_named_later(monkeypatch, every, steps_run):
    """The host looks at the on-device record every ``every`` steps (an accelerator's 64) and at
    the epoch's end (6 batches here): training stops there, naming the first bad batch, 3."""
    monkeypatch.setitem(loop.FINITE_CHECK_EVERY, "cpu", every)
    w = torch.nn.Parameter(torch.zeros(2))
    calls = []

    def step(xb, index):
        calls.append(len(calls) + 1)
        return {"loss": w.sum() + (float("nan") if len(calls) == 3 else 0.0)}

    phase = Phase(name="watch", step=step, parameters=[w], epochs=2, lr=0.1)
    history = []
    with pytest.raises(TrainingDiverged, match=r"the training loss is nan in phase 'watch', epoch 1, batch 3;"):
        run_phase(phase, torch.zeros(12, 1), 2, torch.Generator().manual_seed(0), history)
    assert len(calls) == steps_run and history == []  # no record of the bad epoch


@pytest.mark.parametrize("max_grad_norm", [None, 0.5])
def test_gradient_clipping_bounds_every_step(max_grad_norm):
    """SGD on a loss with a gradient of norm 2e6. With clipping to c, Nesterov's step is at most
    g + 0.9·buffer ≤ c + 0.9·c/(1 − 0.9) = 10·c times lr, for the adversary too; without, ~1e5."""
    w, v = torch.nn.Parameter(torch.zeros(4)), torch.nn.Parameter(torch.zeros(4))
    moves = []

    def step(xb, index):
        moves.append(w.detach().clone())
        return {"loss": 1e6 * w.sum()}

    phase = Phase(name="clip", step=step, parameters=[w], epochs=1, lr=0.1, optimizer="sgd",
                  max_grad_norm=max_grad_norm,
                  adversary=Adversary(name="critic", parameters=[v], step=lambda xb, i: {"loss": 1e6 * v.sum()}))
    run_phase(phase, torch.zeros(12, 1), 4, torch.Generator().manual_seed(0), [])
    largest = max(float((b - a).norm()) for a, b in zip(moves, moves[1:]))
    if max_grad_norm is None:
        assert largest > 1e5
    else:
        assert largest <= 10 * 0.1 * max_grad_norm + 1e-6
        assert float(v.detach().norm()) <= 3 * 10 * 0.1 * max_grad_norm + 1e-6  # three steps
    assert Autoencoder(max_grad_norm=1.0).get_params()["max_grad_norm"] == 1.0
    with pytest.raises(DeepclustError, match="max_grad_norm must be a positive number or None, got 0"):
        run_phase(Phase(name="x", step=step, parameters=[w], epochs=1, max_grad_norm=0),
                  torch.zeros(4, 1), 4, torch.Generator(), [])


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_optimizers_use_the_fused_kernels_and_match_the_reference_update(name):
    torch.manual_seed(0)
    start, grads = torch.randn(50), [torch.randn(50) for _ in range(5)]
    reference = {  # torch's default (for-each) implementations of the same updates
        "adam": lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.5, 0.9), weight_decay=1e-3),
        "adamw": lambda p: torch.optim.AdamW(p, lr=1e-2, betas=(0.5, 0.9), weight_decay=1e-3),
        "sgd": lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9, nesterov=True, weight_decay=1e-3),
    }[name]
    results = []
    for fused in (True, False):
        w = torch.nn.Parameter(start.clone())
        optimizer = make_optimizer(name, [w], 1e-2, 1e-3, (0.5, 0.9)) if fused else reference([w])
        assert bool(optimizer.defaults["fused"]) is fused
        for g in grads:
            w.grad = g.clone()
            optimizer.step()
        results.append(w.detach())
    torch.testing.assert_close(results[0], results[1])


def test_training_flushes_subnormal_floats_and_restores_the_setting():
    """1e-38 / 100 is subnormal in float32: inside training it is flushed to zero (the CPU is many
    times slower on such numbers), before and after it is not; a caller's own flushing is kept."""
    def subnormal_quotient() -> float:
        return (torch.full((1,), 1e-38) / 100).item()

    supported = torch.set_flush_denormal(True)
    torch.set_flush_denormal(False)
    if not supported:
        pytest.skip("this CPU cannot flush subnormal floats (torch.set_flush_denormal returns False)")
    seen = []
    w = torch.nn.Parameter(torch.zeros(1))

    def step(xb, index):
        seen.append(subnormal_quotient())
        return {"loss": w.sum()}

    phase = Phase(name="flush", step=step, parameters=[w], epochs=2)
    assert subnormal_quotient() > 0
    run_phase(phase, torch.zeros(8, 1), 4, torch.Generator().manual_seed(0), [])
    assert seen == [0.0] * 4
    assert subnormal_quotient() > 0
    torch.set_flush_denormal(True)
    try:
        run_phase(phase, torch.zeros(8, 1), 4, torch.Generator().manual_seed(0), [])
        assert subnormal_quotient() == 0.0
    finally:
        torch.set_flush_denormal(False)


def test_a_diverging_adversary_is_named():
    X = torch.zeros(8, 2)
    weight = torch.nn.Parameter(torch.ones(1))
    phase = Phase(
        name="gan", step=lambda xb, index: {"loss": weight.sum()}, parameters=[weight], epochs=1,
        adversary=Adversary(name="discriminator", parameters=[weight],
                            step=lambda xb, index: {"loss": weight.sum() * float("nan")}),
    )
    with pytest.raises(TrainingDiverged, match="the discriminator loss is nan in phase 'gan', "
                                               "epoch 1, batch 1"):
        run_phase(phase, X, 4, torch.Generator().manual_seed(0), [])


def test_empty_clusters_raise_a_convergence_warning_and_are_recorded():
    """Eight clusters asked of two tight groups, from an untrained encoder: most stay empty."""
    rng = np.random.default_rng(0)
    X = np.repeat(np.eye(2, 6, dtype=np.float32), 20, axis=0) + 0.01 * rng.standard_normal((40, 6))
    model = ClusterGAN(8, hidden_dims=(8,), epochs=1, init="none", random_state=0, device="cpu")
    with pytest.warns(ConvergenceWarning, match=r"of 8 clusters ended empty \(cluster sizes \["):
        model.fit(X.astype(np.float32))
    record = model.history_[-1]
    assert record["phase"] == "result" and record["empty_clusters"] == 8 - len(set(model.labels_))
    assert sum(record["cluster_sizes"]) == 40


def test_progress_lines_off_a_terminal_are_few_for_many_short_epochs(capsys, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: now[0])

    def phase(epochs: int, seconds_each: float) -> list[str]:
        bar = callbacks.ProgressBar(verbose=1)  # pytest's stderr is not a terminal
        bar.start("pretrain", total_batches=epochs, batch_size=10, n_samples=10)
        for epoch in range(1, epochs + 1):
            now[0] += seconds_each
            bar.advance()
            bar.epoch_done(epoch, epochs, 0.5, seconds_each)
        bar.stop()
        return capsys.readouterr().err.splitlines()

    short = phase(500, 1 / 64)  # 7.8 s in all: the first, the last and the one 5 s after the first
    assert [line.split(" (")[0] for line in short] == [
        "pretrain epoch 1/500 loss 0.5", "pretrain epoch 321/500 loss 0.5", "pretrain epoch 500/500 loss 0.5"]
    assert len(phase(20, 6.0)) == 20  # epochs of 5 s or more: a line each
