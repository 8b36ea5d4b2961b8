"""Saving and loading: exact round trips, and refusal of anything that is not an intact model."""
import hashlib
import json
import pickle
import zipfile

import numpy as np
import pytest

import deepclust
from conftest import FAST
from deepclust import Autoencoder, ModelFileError
from deepclust.methods import REGISTRY


@pytest.fixture(scope="module")
def fitted(blobs):
    X, _ = blobs
    models = {}
    for name, cls in REGISTRY.items():
        params = {k: v for k, v in {**FAST, "epochs": 2}.items() if k in cls().get_params()}
        models[name] = cls(4, random_state=0, **params).fit(X)
    return models


def _saved_params(model) -> dict:
    """What a model file restores: every parameter but the device and a reused autoencoder."""
    return {k: v for k, v in model.get_params(deep=False).items() if k not in ("device", "autoencoder")}


@pytest.mark.parametrize("name", list(REGISTRY))
@pytest.mark.parametrize("suffix", ["", ".zip"])
def test_save_load_predicts_identically(fitted, blobs, tmp_path, name, suffix):
    X, _ = blobs
    model = fitted[name]
    path = tmp_path / f"model{suffix}"
    model.save(path)
    loaded = deepclust.load(path)
    assert type(loaded) is type(model)
    assert _saved_params(loaded) == _saved_params(model)  # hidden_dims=(64,) comes back a tuple
    if name == "auto":
        assert _saved_params(loaded.best_estimator_) == _saved_params(model.best_estimator_)
    np.testing.assert_array_equal(loaded.labels_, model.labels_)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    if hasattr(model, "autoencoder_"):
        np.testing.assert_array_equal(loaded.cluster_centers_, model.cluster_centers_)
    assert loaded.history_ == model.history_


def test_n2d_with_a_reused_autoencoder_predicts_new_points_after_loading(blobs, tmp_path):
    X, _ = blobs
    ae = Autoencoder(latent_dim=3, hidden_dims=(16,), epochs=5, random_state=0, device="cpu").fit(X[:300])
    model = deepclust.N2D(4, autoencoder=ae, random_state=0).fit(X[:300])  # latent_dim 3, not 10
    model.save(tmp_path / "n2d")
    loaded = deepclust.load(tmp_path / "n2d")
    np.testing.assert_array_equal(loaded.predict(X[300:]), model.predict(X[300:]))
    np.testing.assert_allclose(loaded.predict_proba(X[300:]), model.predict_proba(X[300:]))
    np.testing.assert_array_equal(loaded.predict(X[:300]), model.labels_)


def test_autoencoder_round_trip_and_reuse(blobs, tmp_path):
    X, _ = blobs
    ae = Autoencoder(latent_dim=3, hidden_dims=(16,), epochs=2, random_state=0, device="cpu").fit(X)
    ae.save(tmp_path / "ae")
    loaded = deepclust.load(tmp_path / "ae")
    np.testing.assert_array_equal(loaded.transform(X), ae.transform(X))
    np.testing.assert_array_equal(loaded.reconstruct(X), ae.reconstruct(X))
    km = deepclust.AEKMeans(4, autoencoder=loaded, random_state=0).fit(X)
    assert len(km.history_) == 2  # the loaded autoencoder's own two epochs, no pretraining


def test_dataframe_feature_names_survive(blobs, tmp_path):
    pd = pytest.importorskip("pandas")
    X, _ = blobs
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = deepclust.AEKMeans(4, **FAST).fit(frame)
    model.save(tmp_path / "m")
    loaded = deepclust.load(tmp_path / "m")
    assert list(loaded.feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def _rewrite(path, edit_config=None, weights=None):
    """Change a saved model's config and/or weights, keeping the checksum consistent."""
    config = json.loads((path / "config.json").read_text())
    if weights is not None:
        (path / "model.safetensors").write_bytes(weights)
    if edit_config:
        edit_config(config)
    config["weights_sha256"] = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    (path / "config.json").write_text(json.dumps(config))


@pytest.fixture
def saved(fitted, tmp_path):
    path = tmp_path / "model"
    fitted["dcn"].save(path)
    return path


def test_tampered_weights_refused(saved):
    data = bytearray((saved / "model.safetensors").read_bytes())
    data[-5] ^= 0xFF
    (saved / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="does not match the checksum"):
        deepclust.load(saved)


def test_truncated_weights_refused(saved):
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or was modified"):
        deepclust.load(saved)
    _rewrite(saved)  # even with a matching checksum, a truncated file is not readable
    with pytest.raises(ModelFileError, match="model.safetensors is not readable"):
        deepclust.load(saved)


def test_unknown_class_refused(saved):
    _rewrite(saved, lambda c: c.update({"class": "os.system"}))
    with pytest.raises(ModelFileError, match="unknown model class 'os.system'; deepclust loads only"):
        deepclust.load(saved)


def test_shape_mismatch_refused(saved):
    _rewrite(saved, lambda c: c["params"].update({"n_clusters": 5}))
    with pytest.raises(ModelFileError, match=r"'cluster_centers' has shape \(4, 4\), expected \(5, 4\)"):
        deepclust.load(saved)


def test_network_shape_mismatch_refused(saved):
    _rewrite(saved, lambda c: c["fitted"]["autoencoder_params"].update({"hidden_dims": [32]}))
    with pytest.raises(ModelFileError, match=r"'encoder\.1\.0\.weight' has shape \(64, 20\), expected \(32, 20\)"):
        deepclust.load(saved)


def test_garbage_files_refused(saved, tmp_path):
    (saved / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="config.json is not valid JSON"):
        deepclust.load(saved)
    with pytest.raises(ModelFileError, match="no such model folder or file"):
        deepclust.load(tmp_path / "absent")
    (tmp_path / "model.zip").write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(ModelFileError, match="cannot read the model"):
        deepclust.load(tmp_path / "model.zip")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="missing config.json, model.safetensors"):
        deepclust.load(tmp_path / "empty")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_disguised_as_weights_is_never_executed(saved, tmp_path):
    marker = tmp_path / "pwned"
    _rewrite(saved, weights=pickle.dumps(_Payload(str(marker))))
    with pytest.raises(ModelFileError, match="not readable"):
        deepclust.load(saved)
    assert not marker.exists()


def test_save_is_atomic_and_refuses_foreign_folders(fitted, tmp_path):
    model = fitted["ae-kmeans"]
    target = tmp_path / "m"
    model.save(target)
    model.save(target)  # overwriting a model folder is fine
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.safetensors"]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary leftovers
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(ModelFileError, match="is not a deepclust model folder; not overwriting"):
        model.save(foreign)
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_zip_holds_the_two_files(fitted, tmp_path):
    fitted["dcn"].save(tmp_path / "m.zip")
    with zipfile.ZipFile(tmp_path / "m.zip") as archive:
        assert sorted(archive.namelist()) == ["config.json", "model.safetensors"]
