"""Presets (``preset=``), training precision (``precision=``) and compiled steps (``compile=``)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import make_blobs

import deepclust
from deepclust import N2D, AEKMeans, Autoencoder
from deepclust.base import preset_pretrain_epochs
from deepclust.metrics import cluster_accuracy
from deepclust.params import InvalidParameter, preset_changes
from deepclust.training import Phase, engine, run_phase
from deepclust.training.engine import autocast_dtype

SMALL = dict(latent_dim=4, hidden_dims=(64,), device="cpu", random_state=0)


def test_a_preset_sets_only_what_is_left_at_its_default(blobs):
    X, y = blobs
    model = AEKMeans(4, preset="fast", batch_size=100, **SMALL).fit(X)
    assert model.preset_params_ == {"pretrain_epochs": 20, "precision": "auto"}
    params = model.get_params()
    assert (params["preset"], params["batch_size"], params["pretrain_epochs"], params["precision"]) == \
        ("fast", 100, "auto", None)  # the parameters themselves are untouched
    assert model.autoencoder_.batch_size == 100 and model.autoencoder_.precision == "auto"
    # 400 samples at batch 100 are 4 steps an epoch: 20 epochs are lengthened to 500 steps, as "auto" does
    assert model.autoencoder_.epochs == 125
    assert cluster_accuracy(y, model.labels_) == 1.0


def test_a_presets_pretraining_keeps_the_square_root_of_its_steps_on_fewer_samples():
    # N2D's fast: 20 epochs at batch 128 are 10,940 steps on 70,000 samples; "auto" gave 26 on 10,000 images
    assert preset_pretrain_epochs(20, 20, 70_000, 128, default_steps=32_820) == 20
    assert preset_pretrain_epochs(26, 20, 10_000, 128, default_steps=4_710) == 52  # 4,135 steps in whole epochs
    assert preset_pretrain_epochs(20, 20, 1_000_000, 128, default_steps=468_750) == 20  # more data: as measured
    assert preset_pretrain_epochs(100, 20, 569, 128, default_steps=504) == 100  # never more than the default's


def test_a_preset_on_mid_sized_data_pretrains_as_long_as_the_default_at_most():
    X, _ = make_blobs(4000, n_features=20, centers=4, random_state=0)
    model = AEKMeans(4, preset="fast", **SMALL).fit(X.astype(np.float32))
    # 20 epochs at batch 256 on 4,000 samples are 320 steps (500 on small data); √(4,000 / 70,000) of the
    # 5,480 they are on 70,000 is 1,310, capped by the default's 20 epochs at batch 64: 1,260 steps, 78 epochs
    assert model.autoencoder_.epochs == 78


def test_a_given_pretraining_length_wins_over_the_preset(blobs):
    X, _ = blobs
    model = AEKMeans(4, preset="accurate", pretrain_epochs=3, **SMALL)
    with pytest.warns(UserWarning, match="only 6 optimiser steps"):
        model.fit(X)
    assert model.preset_params_ == {"batch_size": 256}
    assert [r["phase"] for r in model.history_].count("pretrain") == 3


def test_float32_can_be_kept_under_a_preset(blobs):
    X, _ = blobs
    model = Autoencoder(4, preset="fast", precision="32", hidden_dims=(32,), device="cpu", random_state=0).fit(X)
    assert model.preset_params_ == {"epochs": 20, "batch_size": 256}


@pytest.mark.filterwarnings("ignore:pretrain_epochs=5 gives")
def test_the_default_preset_changes_nothing(blobs):
    X, _ = blobs
    plain = AEKMeans(4, pretrain_epochs=5, **SMALL).fit(X)
    default = AEKMeans(4, preset="default", pretrain_epochs=5, **SMALL).fit(X)
    assert default.preset_params_ == {}
    np.testing.assert_array_equal(plain.labels_, default.labels_)
    np.testing.assert_array_equal(plain.transform(X), default.transform(X))


def test_the_autoencoder_has_presets_too(blobs):
    X, _ = blobs
    model = Autoencoder(4, preset="fast", hidden_dims=(32,), device="cpu", random_state=0).fit(X)
    assert model.preset_params_ == {"epochs": 20, "batch_size": 256, "precision": "auto"}
    assert model.n_iter_ == 20 and model.transform(X).dtype == np.float32


def test_each_preset_is_documented_with_what_it_sets():
    doc = " ".join(N2D.__doc__.split())
    assert ("``'fast'``: pretrain_epochs=20, batch_size=128, precision='auto', hidden_dims=(500, 500, 1000), "
            "epochs=4, manifold_samples=40000, manifold_epochs='scaled', neighbor_search='exact'.") in doc
    assert "``'accurate'``: pretrain_epochs=100, batch_size=256." in doc


def test_a_recipes_widths_are_set_on_an_mlp_only():
    assert preset_changes(N2D(preset="fast"))["hidden_dims"] == (500, 500, 1000)
    conv = preset_changes(N2D(preset="fast", architecture="conv"))
    assert "hidden_dims" not in conv and conv["batch_size"] == 128  # the channels stay the conv's own


@pytest.mark.filterwarnings("ignore:pretrain_epochs=20 gives")
def test_a_saved_preset_model_loads_and_predicts_alike(blobs, tmp_path):
    X, _ = blobs
    model = AEKMeans(4, preset="fast", pretrain_epochs=20, **SMALL).fit(X)
    model.save(tmp_path / "m")
    loaded = deepclust.load(tmp_path / "m")
    assert loaded.get_params()["preset"] == "fast"
    assert loaded.preset_params_ == model.preset_params_ == {"batch_size": 256, "precision": "auto"}
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("param, value, accepted", [("preset", "slow", "a str among"),
                                                    ("precision", "16", "None or a str among"),
                                                    ("compile", "maybe", "an instance of 'bool'")])
def test_unknown_preset_or_precision_is_refused(blobs, param, value, accepted):
    with pytest.raises(InvalidParameter, match=f"^The '{param}' parameter of AEKMeans must be {accepted} .* Got '{value}'"):
        AEKMeans(4, **{param: value}).fit(blobs[0])


def test_precision_auto_follows_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    assert autocast_dtype("32", cpu) is None and autocast_dtype(None, cpu) is None
    assert autocast_dtype("bf16", cpu) is torch.bfloat16
    monkeypatch.setattr(engine, "native_bf16", lambda device: True)
    assert autocast_dtype("auto", cpu) is torch.bfloat16
    monkeypatch.setattr(engine, "native_bf16", lambda device: False)
    assert autocast_dtype("auto", cpu) is None


@pytest.mark.parametrize("precision, dtype", [("32", torch.float32), ("bf16", torch.bfloat16)])
def test_training_steps_compute_in_the_chosen_precision(precision, dtype):
    torch.manual_seed(0)
    net = torch.nn.Linear(8, 1)
    X = torch.randn(256, 8)
    target = X @ torch.arange(8.0).unsqueeze(1)
    seen = []

    def step(batch, index):
        out = net(batch)
        seen.append(out.dtype)
        return {"loss": F.mse_loss(out.float(), target[index])}

    history = []
    phase = Phase("fit", step, net.parameters(), epochs=100, lr=0.1, modules=[net], precision=precision)
    run_phase(phase, X, 64, torch.Generator().manual_seed(0), history)
    assert set(seen) == {dtype}
    assert net.weight.dtype == torch.float32  # weights and their updates stay float32
    assert history[-1]["loss"] < 0.01 * history[0]["loss"]


def test_a_bf16_autoencoder_clusters_and_answers_in_float32(blobs):
    X, y = blobs
    model = AEKMeans(4, precision="bf16", pretrain_epochs=20, **SMALL).fit(X)
    assert model.transform(X).dtype == np.float32
    assert cluster_accuracy(y, model.labels_) == 1.0


def test_cli_preset_reaches_the_model(blobs, tmp_path):
    X, _ = blobs
    np.save(tmp_path / "blobs.npy", X)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "deepclust", "fit", str(tmp_path / "blobs.npy"), "-k", "4", "--method", "ae-kmeans",
         "--preset", "fast", "--precision", "32", "--latent-dim", "4", "--hidden-dims", "32", "--no-report",
         "--quiet", "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    params = json.loads((out / "model" / "config.json").read_text())["params"]
    assert (params["preset"], params["precision"]) == ("fast", "32")
    refused = subprocess.run([sys.executable, "-m", "deepclust", "fit", str(tmp_path / "blobs.npy"), "-k", "4",
                              "--preset", "slow", "--out", str(tmp_path / "bad")], capture_output=True, text=True)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: The 'preset' parameter of AutoClusterer must be a str among")
    assert not (tmp_path / "bad").exists()


def test_the_device_check_runs_dry_on_the_cpu(tmp_path):
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--dry-run", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    table = (tmp_path / "gpu_check.md").read_text()
    for row in ("| demo wall time |", "| MNIST-70k `fast` end to end |", "| MNIST-70k `default` end to end |",
                "| autoencoder training, batch 256, precision auto |", "| autoencoder training, batch 4096, ",
                "| peak GPU memory (the training runs) | n/a (no GPU) |",
                "| `deterministic=True`: same labels twice | yes |"):
        assert row in table, row
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result["dry_run"] is True and all(v > 0 for v in result["results"]["throughput"]["samples_per_s"].values())


def test_a_compiled_step_trains_as_the_eager_one(blobs):
    X, _ = blobs
    fit = lambda compiled: Autoencoder(4, hidden_dims=(32,), epochs=3, compile=compiled, device="cpu",
                                       random_state=0).fit(X)
    eager, compiled = fit(False), fit(True)
    np.testing.assert_allclose([r["loss"] for r in compiled.history_], [r["loss"] for r in eager.history_],
                               rtol=1e-4)
    np.testing.assert_allclose(compiled.transform(X), eager.transform(X), rtol=1e-3, atol=1e-4)
