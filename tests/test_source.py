"""Training from files: the streamed data source, its batch order, blockwise passes, N2D and
k-means on samples of large data."""
import importlib

import numpy as np
import pandas as pd
import pytest
import torch

import deepclust.training.data as training_data
from conftest import FAST
from deepclust import DEC, N2D, AEKMeans, evaluate, load
from deepclust.cluster import kmeans
from deepclust.data.source import open_source
from deepclust.exceptions import DeepclustError
from deepclust.training import InMemoryData, StreamedData
from test_cli import assert_user_error, invoke

featurize_module = importlib.import_module("deepclust.data.featurize")  # the package exports a function of that name


@pytest.fixture(scope="module")
def stored(tmp_path_factory, blobs):
    """The blobs as a .npy file, as three .npy shards and as two Parquet shards."""
    X, _ = blobs
    folder = tmp_path_factory.mktemp("source")
    np.save(folder / "X.npy", X)
    (folder / "npy").mkdir()
    (folder / "parquet").mkdir()
    for i, part in enumerate(np.array_split(X, 3)):
        np.save(folder / "npy" / f"part{i}.npy", part)
    for i, part in enumerate(np.array_split(X, 2)):
        pd.DataFrame(part, columns=[f"f{j}" for j in range(X.shape[1])]).to_parquet(
            folder / "parquet" / f"part{i}.parquet", row_group_size=70)
    return folder


@pytest.mark.parametrize("cls, extra", [(AEKMeans, {}), (DEC, {"epochs": 3})])
def test_a_npy_path_trains_the_same_model_as_the_array_it_holds(stored, blobs, cls, extra):
    X, _ = blobs
    models = []
    for data in (X, str(stored / "X.npy")):
        model = cls(4, random_state=0, **FAST, **extra)
        model.input_block_rows = 64  # several chunks and blocks, one shuffling window
        models.append(model.fit(data))
    memory, file = models
    np.testing.assert_array_equal(memory.labels_, file.labels_)
    np.testing.assert_array_equal(memory.transform(X), file.transform(stored / "X.npy"))
    np.testing.assert_array_equal(memory.predict(X), file.predict(str(stored / "X.npy")))
    timeless = lambda history: [{k: v for k, v in r.items() if k != "seconds"} for r in history]
    assert timeless(memory.history_) == timeless(file.history_)


def test_a_streamed_epoch_reads_in_chunks_and_visits_every_row_once(stored, blobs):
    X, _ = blobs
    source = open_source(stored / "X.npy")
    data = StreamedData(source, torch.zeros(20), torch.ones(20), "cpu", chunk_rows=32, window_rows=100)
    generator = torch.Generator().manual_seed(0)
    batches = list(data.epoch(48, generator))
    rows = torch.cat([index for _, index in batches])
    assert sorted(rows.tolist()) == list(range(400))
    assert [len(index) for _, index in batches] == [48] * 8 + [16]  # partial batches carried over
    for batch, index in batches:
        np.testing.assert_array_equal(batch.numpy(), X[index.numpy()])
    assert max(source.reads) == 32 and sum(source.reads) == 400


def test_a_window_holding_every_row_gives_the_in_memory_order(stored, blobs):
    X, _ = blobs
    streamed = StreamedData(open_source(stored / "X.npy"), torch.zeros(20), torch.ones(20), "cpu", chunk_rows=64)
    memory = InMemoryData(torch.as_tensor(X), chunk_rows=64)
    a = [i for _, i in streamed.epoch(50, torch.Generator().manual_seed(3))]
    b = [i for _, i in memory.epoch(50, torch.Generator().manual_seed(3))]
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and len(a) == len(b) == 8


def test_a_fit_on_a_file_larger_than_its_blocks_reads_only_blocks(stored, blobs, monkeypatch):
    X, y = blobs
    monkeypatch.setattr(training_data, "WINDOW_BYTES", 100 * 20 * 4)  # windows of 100 rows
    source = open_source(stored / "X.npy")
    model = AEKMeans(4, random_state=0, **FAST)
    model.input_block_rows = 50
    model.fit(source)
    assert max(source.reads) == 50 and len(source.reads) >= 8 * 11  # every pass and epoch in blocks
    assert evaluate(y, model.labels_)["acc"] >= 0.95


@pytest.mark.parametrize("kind", ["npy", "parquet"])
def test_a_folder_of_shards_is_one_source(stored, blobs, kind):
    X, y = blobs
    source = open_source(stored / kind)
    assert source.shape == X.shape
    rows = np.array([0, 5, 133, 134, 250, 399])
    np.testing.assert_allclose(source[rows], X[rows], rtol=0, atol=1e-6)
    model = AEKMeans(4, random_state=0, **FAST).fit(str(stored / kind))
    assert evaluate(y, model.labels_)["acc"] >= 0.95


def test_a_file_with_a_missing_value_is_refused_with_its_row(tmp_path, blobs):
    X = blobs[0].copy()
    X[321, 7] = np.nan
    np.save(tmp_path / "bad.npy", X)
    model = AEKMeans(4, **FAST)
    model.input_block_rows = 100
    with pytest.raises(DeepclustError, match=r"bad.npy: the array has a missing \(NaN\) value at index \[321, 7\]"):
        model.fit(str(tmp_path / "bad.npy"))


def test_the_cli_streams_a_large_npy_and_writes_nothing_when_a_row_is_bad(tmp_path, blobs, monkeypatch):
    monkeypatch.setattr(featurize_module, "STREAM_BYTES", 0)  # every .npy counts as large
    X, y = blobs
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    result = invoke("fit", tmp_path / "X.npy", "-k", "4", "-m", "ae-kmeans", "--labels", tmp_path / "y.npy",
                    "--pretrain-epochs", "10", "--latent-dim", "4", "--hidden-dims", "64", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    assert "read in blocks: 400 rows" in result.stdout
    assert (tmp_path / "run" / "labels.csv").exists()
    np.testing.assert_array_equal(load(tmp_path / "run" / "model").predict(X),
                                  pd.read_csv(tmp_path / "run" / "labels.csv")["cluster"])
    bad = X.copy()
    bad[17, 2] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    result = invoke("fit", tmp_path / "bad.npy", "-k", "4", "-m", "ae-kmeans", "--out", tmp_path / "bad-run")
    assert_user_error(result, "bad.npy: the array has an infinite value at index [17, 2]")
    assert not (tmp_path / "bad-run").exists()


def test_n2d_fits_its_manifold_on_a_sample_and_places_the_rest(tmp_path, blobs):
    X, y = blobs
    model = N2D(4, manifold_samples=150, n_neighbors=10, random_state=0, **FAST).fit(X)
    assert model._placement.codes.shape == (150, 4) and model._placement.positions.shape[0] == 150
    assert evaluate(y, model.labels_)["acc"] >= 0.95
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    model.save(tmp_path / "n2d")
    np.testing.assert_array_equal(load(tmp_path / "n2d").predict(X), model.labels_)


def test_kmeans_on_many_points_starts_on_a_sample_and_refines_on_all(blobs, monkeypatch):
    import deepclust.cluster.mixture as mixture

    X, y = blobs
    monkeypatch.setattr(mixture, "KMEANS_SAMPLES", 40)
    km = kmeans(X, 4, seed=0, n_init=3)
    assert evaluate(y, km.labels_)["acc"] == 1.0 and km.labels_.shape == (400,)


def test_a_small_npy_stored_column_by_column_is_read_and_a_streamed_one_refused(tmp_path, blobs, monkeypatch):
    X = blobs[0]
    np.save(tmp_path / "F.npy", np.asfortranarray(X))  # what np.save(path, df.values) often writes
    read = featurize_module.featurize(tmp_path / "F.npy")
    np.testing.assert_array_equal(read.X, X)
    monkeypatch.setattr(featurize_module, "STREAM_BYTES", 0)  # every .npy counts as large
    with pytest.raises(DeepclustError, match=r"F\.npy: the array is stored column by column \(Fortran order\); save "
                       r"it row by row to train from the file, e\.g\. np\.save\(path, np\.ascontiguousarray\(X\)\)$"):
        featurize_module.featurize(tmp_path / "F.npy")
