"""Tests for deepclust.plotting: every function returns a valid PNG for small inputs."""
from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("matplotlib")
PIL = pytest.importorskip("PIL.Image")

from deepclust import plotting  # noqa: E402
from deepclust.exceptions import DeepclustError  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def open_png(data: bytes):
    """Assert ``data`` is a PNG that PIL decodes; return the image."""
    assert isinstance(data, bytes) and data.startswith(PNG_MAGIC)
    image = PIL.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG" and image.size[0] > 50 and image.size[1] > 50
    return image


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_embedding_plot(rng, dim):
    Z = rng.normal(size=(120, dim)).astype(np.float32)
    labels = rng.integers(0, 4, 120)
    open_png(plotting.embedding_plot(Z, labels, title="test"))


def test_embedding_plot_many_clusters_and_subsampling(rng):
    Z = rng.normal(size=(3000, 3))
    labels = rng.integers(0, 25, 3000)  # > 20 clusters: colour bar instead of legend
    first = plotting.embedding_plot(Z, labels, max_points=500)
    open_png(first)
    assert plotting.embedding_plot(Z, labels, max_points=500) == first  # deterministic


def test_embedding_plot_string_labels(rng):
    open_png(plotting.embedding_plot(rng.normal(size=(30, 2)), np.array(list("ab") * 15)))


def test_embedding_plot_length_mismatch(rng):
    with pytest.raises(DeepclustError, match="labels"):
        plotting.embedding_plot(rng.normal(size=(10, 2)), np.zeros(9))


@pytest.mark.parametrize(
    "shape", [(40, 8, 8), (40, 1, 8, 8), (40, 3, 8, 8), (40, 64)], ids=["hw", "1hw", "3hw", "flat"]
)
def test_cluster_gallery(rng, shape):
    images = rng.random(shape).astype(np.float32)
    labels = rng.integers(0, 3, shape[0])
    image = open_png(plotting.cluster_gallery(images, labels, n_per_cluster=5))
    assert image.size[1] > image.size[0] / 10  # three rows, not a single strip


def test_cluster_gallery_small_clusters(rng):
    # a cluster with fewer members than n_per_cluster leaves blank cells
    labels = np.array([0] * 12 + [1] * 2)
    open_png(plotting.cluster_gallery(rng.random((14, 6, 6)), labels, n_per_cluster=10))


def test_cluster_gallery_rejects_non_square(rng):
    with pytest.raises(DeepclustError, match="perfect square"):
        plotting.cluster_gallery(rng.random((10, 7)), np.zeros(10, int))


def test_history_plot_two_phases():
    history = [{"phase": "pretrain", "epoch": e, "loss": 2.0 / e, "seconds": 0.1} for e in (1, 2, 3)]
    history += [
        {"phase": "dcn", "epoch": e, "loss": 0.5 / e, "reconstruction": 0.4 / e, "coding": 0.1,
         "seconds": 0.1}
        for e in (1, 2)
    ]
    two_panels = open_png(plotting.history_plot(history))
    one_panel = open_png(plotting.history_plot(history[:3]))  # no extra keys: one panel
    assert two_panels.size[1] > one_panel.size[1]


def test_history_plot_empty():
    open_png(plotting.history_plot([]))


def test_save_png_is_atomic(tmp_path, rng):
    data = plotting.embedding_plot(rng.normal(size=(20, 2)), np.zeros(20, int))
    target = plotting.save_png(data, tmp_path / "e.png")
    assert target.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["e.png"]  # no temporary file left
