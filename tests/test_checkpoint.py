"""Checkpoint and resume: a run killed with SIGKILL resumes and ends exactly as an uninterrupted
run (labels and every tensor of the model), on the CPU with a fixed seed."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file
from test_cli import ENV, assert_user_error, invoke

from deepclust import AEKMeans, DeepclustError

SETTINGS = ["--method", "dec", "-k", "3", "--label-column", "label", "--pretrain-epochs", "150",
            "--epochs", "3", "--hidden-dims", "64,64", "--latent-dim", "3", "--batch-size", "32",
            "--seed", "0", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 200)
    frame = pd.DataFrame(rng.normal(size=(600, 8)) + 4 * np.eye(3, 8)[y], columns=list("abcdefgh"))
    frame["label"] = y
    path = tmp_path_factory.mktemp("checkpoint") / "data.csv"
    frame.to_csv(path, index=False)
    return path


def fit_command(table: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "deepclust.cli", "fit", str(table), "--out", str(out), *SETTINGS, *extra]


def outcome(out: Path) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    return pd.read_csv(out / "labels.csv"), load_file(out / "model" / "model.safetensors")


def test_killed_runs_resume_to_the_uninterrupted_result(table, tmp_path):
    subprocess.run(fit_command(table, tmp_path / "whole"), env=ENV, check=True, timeout=300)
    labels, tensors = outcome(tmp_path / "whole")
    rng = np.random.default_rng(0)
    for kill in range(3):
        checkpoints, out = tmp_path / f"ck{kill}", tmp_path / f"out{kill}"
        process = subprocess.Popen(fit_command(table, out, "--checkpoint-dir", str(checkpoints)), env=ENV)
        deadline = time.monotonic() + 120
        while not (checkpoints / "pretrain.safetensors").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(float(rng.uniform(0.0, 1.5)))
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not (out / "labels.csv").exists()
        subprocess.run(fit_command(table, out, "--checkpoint-dir", str(checkpoints), "--resume"),
                       env=ENV, check=True, timeout=300)
        resumed_labels, resumed = outcome(out)
        pd.testing.assert_frame_equal(resumed_labels, labels)
        assert resumed.keys() == tensors.keys()
        for name in tensors:
            np.testing.assert_array_equal(resumed[name], tensors[name], err_msg=f"kill {kill}: {name}")


def test_a_checkpoint_of_other_data_or_settings_is_refused(tmp_path):
    X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    settings = dict(hidden_dims=(8,), latent_dim=2, pretrain_epochs=2, random_state=0, verbose=0,
                    checkpoint_dir=str(tmp_path))
    AEKMeans(2, **settings).fit(X)
    assert (tmp_path / "pretrain.safetensors").exists()
    AEKMeans(2, **settings).fit(X)  # the finished checkpoint is reused: no error
    for other in (dict(settings, pretrain_epochs=3), dict(settings, random_state=1)):
        with pytest.raises(DeepclustError, match="belongs to other data or settings"):
            AEKMeans(2, **other).fit(X)
    with pytest.raises(DeepclustError, match="belongs to other data or settings"):
        AEKMeans(2, **settings).fit(X + 1)
    (tmp_path / "pretrain.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(DeepclustError, match="cannot read the checkpoint"):
        AEKMeans(2, **settings).fit(X)


def test_cli_resume_is_explicit(table, tmp_path):
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "pretrain.safetensors").write_bytes(b"x")
    out = tmp_path / "out"
    assert_user_error(invoke("fit", table, "--checkpoint-dir", tmp_path / "ck", "--out", out, *SETTINGS),
                      "holds a checkpoint; pass --resume")
    assert_user_error(invoke("fit", table, "--resume", "--out", out, *SETTINGS), "--resume needs --checkpoint-dir")
    assert not out.exists()


def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    """A NaN loss in epoch 3: the error names the checkpoint, which still holds epoch 2's state."""
    import torch

    from deepclust import TrainingDiverged
    from deepclust.training import Phase, run_phase
    from deepclust.training.checkpoint import PhaseCheckpoint

    layer = torch.nn.Linear(2, 1)
    epochs_seen = []

    def step(xb, index):
        loss = layer(xb).pow(2).mean()
        return {"loss": loss * float("nan") if len(epochs_seen) >= 2 else loss}

    phase = Phase(name="pretrain", step=step, parameters=layer.parameters(), epochs=5, modules=[layer])
    checkpoint = PhaseCheckpoint(tmp_path / "pretrain.safetensors", 1, {"test": 1})
    original_save = checkpoint.save

    def save(*args):
        epochs_seen.append(args[-1])
        original_save(*args)

    checkpoint.save = save
    with pytest.raises(TrainingDiverged, match=r"epoch 3, batch 1.*; the last good checkpoint, .*pretrain\.safetensors, is kept"):
        run_phase(phase, torch.ones(8, 2), 4, torch.Generator().manual_seed(0), [], checkpoint=checkpoint)
    history = []
    fresh = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(fresh.parameters())
    assert checkpoint.restore([fresh], optimizer, None, torch.Generator(), history) == 2
    assert [h["epoch"] for h in history] == [1, 2]
