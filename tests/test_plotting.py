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
    with pytest.raises(DeepclustError, match=r"10 embedded points but 9 labels \(cluster\)"):
        plotting.embedding_plot(rng.normal(size=(10, 2)), np.zeros(9))
    with pytest.raises(DeepclustError, match=r"10 embedded points but 8 labels \(known label\)"):
        plotting.embedding_plot(rng.normal(size=(10, 2)), np.zeros(10), truth=np.zeros(8))


def test_embedding_plot_colours_by_known_labels_beside_the_clusters(rng):
    Z, labels = rng.normal(size=(60, 3)), rng.integers(0, 3, 60)
    alone = open_png(plotting.embedding_plot(Z, labels))
    both = open_png(plotting.embedding_plot(Z, labels, truth=np.array(list("xyz") * 20)))
    assert both.size[0] > 1.5 * alone.size[0] and both.size[1] == alone.size[1]


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


def test_history_plot_gives_every_phase_its_own_panel_and_names_empty_clusters():
    history = [{"phase": "pretrain", "epoch": e, "loss": 2.0 / e, "seconds": 0.1} for e in (1, 2, 3)]
    history += [
        {"phase": "dcn", "epoch": e, "loss": 0.5 / e, "reconstruction": 0.4 / e, "coding": 0.1,
         "labels_changed": 0.2 / e, "stop": False, "seconds": 0.1}
        for e in (1, 2)
    ]
    history.append({"phase": "result", "empty_clusters": 2, "cluster_sizes": [5, 0, 0, 7]})
    panels, note = plotting.history_panels(history)
    assert list(panels) == ["pretrain", "dcn"] and note == "2 of 4 clusters ended empty"
    assert panels["pretrain"] == {"losses": {"loss": ([1, 2, 3], [2.0, 1.0, 2.0 / 3])}, "fractions": {}}
    assert sorted(panels["dcn"]["losses"]) == ["coding", "loss", "reconstruction"]
    assert panels["dcn"]["fractions"] == {"labels_changed": ([1, 2], [0.2, 0.1])}
    two_panels = open_png(plotting.history_plot(history))
    one_panel = open_png(plotting.history_plot(history[:3]))
    assert two_panels.size[1] > one_panel.size[1]


def test_history_plot_empty():
    open_png(plotting.history_plot([]))


def test_save_png_is_atomic(tmp_path, rng):
    data = plotting.embedding_plot(rng.normal(size=(20, 2)), np.zeros(20, int))
    target = plotting.save_png(data, tmp_path / "e.png")
    assert target.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["e.png"]  # no temporary file left


class _Scaled:
    """What samples_grid reads of a fitted model: its input scaling."""

    def __init__(self, scaling, offset, scale):
        import torch

        self.input_scaling_ = scaling
        self._input_offset, self._input_scale = torch.tensor(offset), torch.tensor(scale)


def test_samples_grid_keeps_the_data_range_so_grey_noise_looks_grey(rng, monkeypatch):
    """An untrained generator's output (values 0.42-0.54) is drawn on the data's [0, 1], not
    stretched to black and white; 64 samples without clusters make an 8 x 8 grid."""
    noise = rng.uniform(0.42, 0.54, (64, 12, 12))
    grey = np.asarray(open_png(plotting.samples_grid(_Scaled("none", [0.0], [1.0]), noise)).convert("L"))
    stretched = np.asarray(open_png(plotting.cluster_gallery(noise, np.arange(64) // 8, 8)).convert("L"))
    assert (stretched < 20).sum() > 4 * (grey < 20).sum()  # black only in the text labels
    seen = {}
    monkeypatch.setattr(plotting, "cluster_gallery", lambda images, labels, n, **kw: seen.update(
        rows=np.bincount(labels).tolist(), n=n, value_range=kw["value_range"]) or b"")
    plotting.samples_grid(_Scaled("none", [0.0], [1.0]), noise)
    assert seen == {"rows": [8] * 8, "n": 8, "value_range": (0.0, 1.0)}
    plotting.samples_grid(_Scaled("standard", [0.5, 0.2], [0.1, 0.2]), noise[:5], np.array([0, 0, 1, 2, 2]))
    assert seen["rows"] == [2, 1, 2] and seen["n"] == 10
    assert seen["value_range"] == pytest.approx((0.2 - 0.6, 0.5 + 0.3))
