"""Checkpoint and resume: a run killed with SIGKILL resumes and ends exactly as an uninterrupted
run (labels, every tensor of the model and the history), on the CPU with a fixed seed: at
random moments through the CLI, and at chosen checkpoint writes of every kind of phase."""
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
from threadpoolctl import threadpool_limits

from deepclust import DCN, DEC, GAN, AEKMeans, ClusterGAN, DeepclustError, VaDE
from deepclust.training.checkpoint import PhaseCheckpoint
from test_cli import ENV, assert_user_error, invoke

SETTINGS = ["--method", "dec", "-k", "3", "--label-column", "label", "--pretrain-epochs", "150",
            "--epochs", "3", "--hidden-dims", "64,64", "--latent-dim", "3", "--batch-size", "32",
            "--seed", "0", "--device", "cpu", "--quiet", "--no-report"]


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
    for kill in range(2):  # two random moments; test_a_kill_in_any_phase_... covers every kind of write
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


def blobs() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(300, 8)) + 4 * np.eye(3, 8)[np.repeat([0, 1, 2], 100)]).astype(np.float32)


def estimator(method: str, folder: Path | None):
    """A small model of ``method`` whose every phase spans several checkpoints (10 batches an
    epoch)."""
    common = dict(batch_size=32, random_state=0, verbose=0, device="cpu",
                  checkpoint_dir=None if folder is None else str(folder))
    clusterer = dict(common, hidden_dims=(32,), latent_dim=3, pretrain_epochs=6, epochs=4, augment=False)
    if method == "dec":  # the target every 3 batches, so a resume lands mid-interval; no early stop
        return DEC(3, update_interval=3, tol=0.0, **clusterer)
    if method == "dcn":  # stops early on tol: the checkpoint must say the phase had finished
        return DCN(3, tol=1.0, **clusterer)
    if method == "vade":
        return VaDE(3, **clusterer)
    if method == "gan":  # 3 critic steps a generator step, 10 batches an epoch: not a multiple
        return GAN(4, hidden_dims=(16,), loss="wgan-gp", n_critic=3, epochs=4, **common)
    return ClusterGAN(3, noise_dim=4, hidden_dims=(32,), latent_dim=3, init="ae-kmeans", init_epochs=2,
                      pretrain_epochs=3, epochs=4, **common)


def kill_at(phase: str, nth: int, where: str) -> None:
    """SIGKILL this process at the ``nth`` checkpoint write of ``phase``: half-way through writing
    it (``mid-write``), once written but before the rename (``before-rename``), or just after."""
    import os

    from deepclust import files as io

    real_write, real_replace, writes = io.atomic_write_bytes, os.replace, []

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def write(path: Path, data: bytes) -> None:
        name = Path(path).name
        writes.append(name)
        if name != f"{phase}.safetensors" or writes.count(name) != nth:
            return real_write(path, data)
        if where == "mid-write":
            with io.atomic_writer(path) as handle:
                handle.write(data[: len(data) // 2])
                handle.flush()
                die()
        if where == "before-rename":
            os.replace = lambda src, dst: die() if Path(dst) == Path(path) else real_replace(src, dst)
        real_write(path, data)
        die()

    io.atomic_write_bytes = write


KILLED_FIT = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_checkpoint import blobs, estimator, kill_at
method, folder, phase, nth, where = sys.argv[1:]
kill_at(phase, int(nth), where)
estimator(method, folder).fit(blobs())
"""


def comparable(model) -> tuple[np.ndarray | None, dict, list]:
    tensors = {k: v.detach().cpu().numpy() for k, v in model._state_tensors().items()}
    history = [{k: v for k, v in record.items() if k != "seconds"} for record in model.history_]
    return getattr(model, "labels_", None), tensors, history


def recording_restores(monkeypatch) -> dict[str, tuple[int, bool]]:
    """``{checkpoint file name: (epochs restored, finished)}`` of every restore from now on."""
    restored, real_restore = {}, PhaseCheckpoint.restore

    def restore(self, *args):
        restored[self.path.name] = result = real_restore(self, *args)
        return result

    monkeypatch.setattr(PhaseCheckpoint, "restore", restore)
    return restored


@pytest.mark.parametrize("method, phase, nth, where, restored_epochs", [
    ("dec", "pretrain", 3, "after", (3, False)),
    ("dec", "dec", 2, "mid-write", (1, False)),
    ("dec", "dec", 3, "before-rename", (2, False)),
    ("dcn", "dcn", 1, "after", (1, True)),
    ("vade", "vade", 3, "mid-write", (2, False)),
    ("gan", "gan", 2, "before-rename", (1, False)),
    ("clustergan", "encoder", 1, "after", (1, False)),
    ("clustergan", "clustergan", 2, "mid-write", (1, False)),
])
def test_a_kill_in_any_phase_or_mid_write_resumes_to_the_uninterrupted_result(
        method, phase, nth, where, restored_epochs, tmp_path, monkeypatch):
    """Killed at a chosen checkpoint write (in pretraining, a clustering phase, the encoder's
    warm start or a GAN game; mid-write, before the rename or after), the run resumes from the
    last complete checkpoint (epochs done, and whether the phase had stopped early) and ends
    with the labels, every tensor and the history of a run that had no checkpoints at all."""
    X = blobs()
    # one thread in every pool, as in the subprocess (ENV): k-means' bits depend on the thread
    # pools' state, which an earlier test in this process may have changed (numba, via UMAP)
    with threadpool_limits(1):
        labels, tensors, history = comparable(estimator(method, None).fit(X))
    folder = tmp_path / "ck"
    killed = subprocess.run([sys.executable, "-c", KILLED_FIT, method, str(folder), phase, str(nth), where],
                            env=ENV, timeout=300, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    restored = recording_restores(monkeypatch)
    with threadpool_limits(1):
        resumed_labels, resumed_tensors, resumed_history = comparable(estimator(method, folder).fit(X))
    assert restored[f"{phase}.safetensors"] == restored_epochs
    np.testing.assert_array_equal(resumed_labels, labels)
    assert resumed_tensors.keys() == tensors.keys()
    for name in tensors:
        np.testing.assert_array_equal(resumed_tensors[name], tensors[name], err_msg=name)
    assert resumed_history == history
    assert not list(folder.glob(".*.tmp")), "a killed write's temporary file was left behind"


def test_a_phase_with_parameters_outside_its_checkpoint_is_refused(tmp_path):
    import torch

    from deepclust.training import Phase, run_phase
    from deepclust.training.checkpoint import PhaseCheckpoint

    layer, loose = torch.nn.Linear(2, 1), torch.nn.Parameter(torch.zeros(1))
    phase = Phase(name="p", step=lambda xb, index: {"loss": (layer(xb) + loose).pow(2).mean()},
                  parameters=[*layer.parameters(), loose], epochs=1, modules=[layer])
    with pytest.raises(DeepclustError, match="phase 'p' trains parameters outside its modules and state"):
        run_phase(phase, torch.ones(4, 2), 2, torch.Generator(), [],
                  checkpoint=PhaseCheckpoint(tmp_path / "p.safetensors", 1, {}))


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
        epochs_seen.append(args[5])  # epochs done
        original_save(*args)

    checkpoint.save = save
    with pytest.raises(TrainingDiverged, match=r"epoch 3, batch 1.*; the last good checkpoint, .*pretrain\.safetensors, is kept"):
        run_phase(phase, torch.ones(8, 2), 4, torch.Generator().manual_seed(0), [], checkpoint=checkpoint)
    history = []
    fresh = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(fresh.parameters())
    assert checkpoint.restore([fresh], [optimizer], None, torch.Generator(), history) == (2, False)
    assert [h["epoch"] for h in history] == [1, 2]
