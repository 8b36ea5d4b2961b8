"""Outputs are all-or-nothing: a full disk or a kill while writing leaves the previous outputs
complete and unchanged."""
from __future__ import annotations

import errno
import hashlib
import importlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_cli import TINY, assert_user_error, invoke


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def earlier_run(tmp_path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    table = pd.DataFrame(rng.normal(size=(90, 3)) + 6 * np.eye(3)[y], columns=["a", "b", "c"])
    table["label"] = y
    data = tmp_path / "blobs.csv"
    table.to_csv(data, index=False)
    out = tmp_path / "out"
    result = invoke("fit", data, "-k", "3", "--label-column", "label", "--out", out, *TINY)
    assert result.exit_code == 0, result.stderr
    return data, out


@pytest.mark.parametrize("failing_write", [1, 3, 6])
def test_a_full_disk_leaves_the_previous_outputs_intact(earlier_run, monkeypatch, failing_write):
    """The n-th file of the new run (of 6: model weights and config, labels, metrics, two plots)
    hits ENOSPC: no output of the earlier run changes, and no temporary file is left behind."""
    data, out = earlier_run
    before = snapshot(out)
    real_fsync = os.fsync
    calls = []

    def full_disk(fd):  # every output file is flushed with fsync before it is renamed into place
        calls.append(fd)
        if len(calls) == failing_write:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_disk)
    result = invoke("fit", data, "-k", "3", "--label-column", "label", "--out", out, *TINY,
                    "--seed", "1")
    assert_user_error(result, f"cannot write the outputs in {out}", "No space left on device")
    assert len(calls) == failing_write  # the first failure stops the run
    assert snapshot(out) == before


WRITER = textwrap.dedent("""
    import hashlib, sys
    from pathlib import Path
    from deepclust.files import OutputSet

    folder = Path(sys.argv[1])
    version = 0
    while True:
        version += 1
        with OutputSet() as outputs:
            for name in ("labels.csv", "metrics.json"):
                body = (f"{name} version {version}\\n".encode() * 400_000)
                outputs.write(folder / name, hashlib.sha256(body).hexdigest().encode() + b"\\n" + body)
            outputs.commit()
        print(version, flush=True)
""")


def complete(path: Path) -> bool:
    """The file's first line is the SHA-256 of the rest: it was written whole."""
    digest, _, body = path.read_bytes().partition(b"\n")
    return hashlib.sha256(body).hexdigest().encode() == digest


def test_sigkill_while_writing_never_leaves_a_partial_file(tmp_path):
    """A process rewriting two ~10 MB outputs in a loop is killed (SIGKILL) at five points; each
    time both files are still complete versions."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = np.random.default_rng(0)
    for kill in range(5):
        process = subprocess.Popen([sys.executable, str(script), str(tmp_path)],
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "1"  # one full version exists
        time.sleep(float(rng.uniform(0.0, 0.4)))
        process.send_signal(signal.SIGKILL)
        process.wait()
        for name in ("labels.csv", "metrics.json"):
            assert complete(tmp_path / name), (kill, name)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # one-epoch ClusterGAN
def test_the_python_api_reads_a_memory_mapped_array_in_blocks(tmp_path, monkeypatch):
    """predict/transform on a memory-mapped .npy, 7 rows at a time: the results of one pass, a
    NaN in a later block is refused with its row, and the blocks are never larger than 7 rows
    (read by the source for the estimators that train from files, checked one by one for the
    GAN's, which read a memmap as an array)."""
    from deepclust import AEKMeans, Autoencoder, ClusterGAN, DeepclustError
    from deepclust.base import TorchEstimator
    from deepclust.data.source import ArraySource

    X = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32) * 4
    settings = dict(hidden_dims=(8,), latent_dim=2, random_state=0, device="cpu")
    models = [AEKMeans(3, pretrain_epochs=2, **settings).fit(X), Autoencoder(epochs=2, **settings).fit(X),
              ClusterGAN(3, init="none", epochs=1, noise_dim=2, hidden_dims=(8,), random_state=0,
                         device="cpu").fit(X)]
    whole = [(m.transform(X), m.predict(X) if hasattr(m, "predict") else None) for m in models]
    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    monkeypatch.setattr(TorchEstimator, "input_block_rows", 7)
    read, checked = [], []
    original_read, check = ArraySource.read, TorchEstimator._check_input
    monkeypatch.setattr(ArraySource, "read", lambda self, chunk: read.append(chunk.rows) or original_read(self, chunk))
    monkeypatch.setattr(TorchEstimator, "_check_input",
                        lambda self, X, reset: checked.append(len(X)) or check(self, X, reset=reset))
    for model, (codes, labels) in zip(models, whole):
        np.testing.assert_allclose(model.transform(mapped), codes, rtol=1e-5, atol=1e-6)
        if labels is not None:
            np.testing.assert_array_equal(model.predict(mapped), labels)
    assert max(read) == 7 and sum(read) == 50 * 3  # AEKMeans twice, the autoencoder once
    assert max(checked[-16:]) == 7 and sum(checked[-16:]) == 50 * 2  # ClusterGAN's blocks
    X[45, 2] = np.nan
    np.save(tmp_path / "bad.npy", X)
    with pytest.raises(DeepclustError, match=r"^the memmap: the array has a missing \(NaN\) value at index \[45, 2\]"):
        models[0].predict(np.load(tmp_path / "bad.npy", mmap_mode="r"))
    with pytest.raises(DeepclustError, match="^X contains NaN: deepclust cannot cluster missing values"):
        models[2].predict(np.load(tmp_path / "bad.npy", mmap_mode="r"))


def test_predict_streams_an_npy_file_in_blocks(tmp_path, monkeypatch):
    """Blocks of 7 rows give the labels of one pass; a NaN in a later block is reported with its
    row in the whole file, and no labels file appears."""
    from deepclust import AEKMeans, load

    predict_command = importlib.import_module("deepclust.cli.commands.predict")  # the module, not the command

    X = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32) * 4
    out = tmp_path / "run"
    AEKMeans(3, hidden_dims=(8,), latent_dim=2, pretrain_epochs=2, random_state=0, verbose=0).fit(X).save(out / "model")
    np.save(tmp_path / "new.npy", X)
    monkeypatch.setattr(predict_command, "STREAM_ROWS", 7)
    target = tmp_path / "labels.csv"
    result = invoke("predict", out / "model", tmp_path / "new.npy", "--out", target, "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"wrote 50 cluster labels to {target}"
    labels = pd.read_csv(target)
    assert labels["index"].tolist() == list(range(50))
    np.testing.assert_array_equal(labels["cluster"], load(out / "model").predict(X))

    X[45, 2] = np.nan
    np.save(tmp_path / "bad.npy", X)
    target.unlink()
    result = invoke("predict", out / "model", tmp_path / "bad.npy", "--out", target, "--device", "cpu")
    assert_user_error(result, "bad.npy", "a missing (NaN) value at index [45, 2]")
    assert not target.exists() and not list(tmp_path.glob(".labels.csv*"))
