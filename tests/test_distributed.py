"""Training in many processes: torchrun jobs of 2 CPU processes (gloo) on small blobs."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

import ddp_worker
from deepclust import cluster_accuracy
from deepclust.cli import launch

WORKER = Path(__file__).with_name("ddp_worker.py")
#: the estimators of each 2-process job (two jobs, so that each stays well under a minute)
JOBS = {
    "autoencoder-family": ["ae-kmeans", "ae-gmm", "dcn", "dec", "idec", "vade", "autoencoder", "ae-kmeans-file"],
    "manifold-and-gans": ["n2d", "auto", "clustergan", "gan"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", *args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def blobs_file(tmp_path_factory, blobs):
    path = tmp_path_factory.mktemp("ddp") / "blobs.npy"
    np.save(path, blobs[0])
    labels = path.with_name("labels.npy")
    np.save(labels, blobs[1])
    return path, labels


@pytest.mark.parametrize("job", list(JOBS))
def test_two_processes_train_one_model_that_clusters_as_one_process_does(job, blobs, blobs_file, tmp_path):
    X, y = blobs
    names = JOBS[job]
    out = tmp_path / "result.json"
    run = torchrun("--standalone", "--nproc-per-node=2", str(WORKER), str(blobs_file[0]), str(out), *names)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    for name in names:
        digests = result[name]["digests"]
        assert len(digests) == 2 and digests[0] == digests[1], f"{name}: the ranks hold different models"
        if result[name]["labels"] is None:
            continue
        alone = ddp_worker.estimator(name).fit(str(blobs_file[0]) if name.endswith("-file") else X)
        together = cluster_accuracy(y, np.array(result[name]["labels"]))
        assert abs(together - cluster_accuracy(y, alone.labels_)) <= 0.02, name
        assert together >= 0.95, name
    stats = result["statistics"]
    assert stats["counts"] == stats["counts_whole"]  # DCN's counts: every rank's share summed
    assert stats["frequencies_equal"]  # DEC's frequencies from the gathered assignments
    assert stats["seen"] == 400 and stats["loss_total"] == 400.0  # epoch totals over the job


def fit_command(data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "deepclust", "fit", str(data), "-m", "ae-kmeans", "-k", "4", "--latent-dim", "4",
            "--hidden-dims", "64", "--device", "cpu", "--no-report", "--out", str(out), *extra]


def processes_tagged(tag: str) -> dict[int, int]:
    """Rank → pid of the running processes whose environment carries ``DEEPCLUST_TEST_TAG=tag``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = dict(item.split("=", 1) for item in (entry / "environ").read_text().split("\0") if "=" in item)
        except OSError:
            continue
        if environ.get("DEEPCLUST_TEST_TAG") == tag and "RANK" in environ:
            found[int(environ["RANK"])] = int(entry.name)
    return found


@pytest.mark.parametrize("exits, cause", [
    ({0: 1, 1: -signal.SIGKILL}, 1),  # the killed process, not its peer that then failed
    ({0: -signal.SIGTERM, 1: 1}, 1),  # SIGTERM is how the launcher stops the rest
    ({0: 1, 1: 1}, 0),
])
def test_the_launcher_names_the_process_that_caused_the_failure(exits, cause):
    failures = {rank: ProcessFailure(rank, 1000 + rank, code, "<N/A>") for rank, code in exits.items()}
    for failure in failures.values():
        failure.timestamp = 1  # torchrun times them to the second: a tie
    assert launch._cause(failures) == (cause, failures[cause])


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the ranks' processes through /proc")
def test_a_killed_process_ends_the_job_with_one_line_and_resume_finishes(blobs_file, tmp_path):
    data, labels = blobs_file
    out, checkpoints = tmp_path / "out", tmp_path / "checkpoints"
    tag = uuid.uuid4().hex
    command = fit_command(data, out, "--labels", str(labels), "--pretrain-epochs", "60", "--batch-size", "16",
                          "--checkpoint-dir", str(checkpoints), "--nproc", "2")
    env = {**os.environ, "DEEPCLUST_TEST_TAG": tag, "DEEPCLUST_COLLECTIVE_TIMEOUT": "20"}
    job = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (checkpoints / "pretrain.safetensors").exists():
            assert job.poll() is None and time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.2)
        os.kill(processes_tagged(tag)[1], signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = job.communicate(timeout=60)
    finally:
        job.kill()
    assert job.returncode == 1
    assert time.monotonic() - killed < 60
    assert stderr.strip().splitlines()[-1].startswith("error: process 1 of 2 was killed by SIGKILL, so the job stopped")
    assert "Traceback" not in stderr, stderr
    assert not out.exists() or not any(out.iterdir())  # nothing half-written
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["acc"] >= 0.95
    history = json.loads((out / "model" / "config.json").read_text())["fitted"]["history_"]
    assert [r["epoch"] for r in history if r["phase"] == "pretrain"] == list(range(1, 61))


def two_nodes(data: list[Path], out: Path, labels: Path | None = None) -> list[subprocess.CompletedProcess]:
    """Two torchrun launchers of one process each, joined as two nodes through a c10d rendezvous."""
    port, job = free_port(), uuid.uuid4().hex
    launchers = []
    for node, path in enumerate(data):
        extra = ["--labels", str(labels)] if labels is not None else []
        launchers.append(subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node-rank={node}",
             "--nproc-per-node=1", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}",
             f"--rdzv-id={job}",
             "-m", "deepclust", *fit_command(path, out, "--pretrain-epochs", "20", *extra)[3:]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    try:
        for launcher in launchers:  # 13 s alone; a loaded 2-core machine can take several times that
            stdout, stderr = launcher.communicate(timeout=300)
            results.append(subprocess.CompletedProcess(launcher.args, launcher.returncode, stdout, stderr))
    except subprocess.TimeoutExpired:
        for launcher in launchers:
            launcher.kill()
        tails = [launcher.communicate()[1][-1500:] for launcher in launchers]
        pytest.fail("the two launchers did not finish in 300 s; their stderr:\n" + "\n---\n".join(tails))
    return results


def test_two_nodes_on_localhost_train_together_and_node_0_writes(blobs_file, tmp_path):
    data, labels = blobs_file
    out = tmp_path / "out"
    for run in two_nodes([data, data], out, labels):
        assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["acc"] >= 0.95


def test_processes_given_different_data_are_refused(blobs_file, tmp_path):
    other = tmp_path / "other.npy"
    X, _ = make_blobs(300, n_features=20, centers=4, random_state=1)
    np.save(other, X.astype(np.float32))
    runs = two_nodes([blobs_file[0], other], tmp_path / "out")
    assert all(run.returncode != 0 for run in runs)
    assert any(line.startswith("error: ") and "the processes of this job were given different data (rank 0: "
               "{'shape': [400, 20]" in line for run in runs for line in run.stderr.splitlines())
    assert not (tmp_path / "out").exists()
