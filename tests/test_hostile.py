"""Hostile and broken files: random and mutated bytes fed to every reader, to ``deepclust.load``
and to the CLI must end in one of deepclust's own errors (or a clean result), never another
exception, a hang (each case has a deadline) or code execution (no pickle is ever loaded)."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deepclust
from deepclust import DeepclustError
from deepclust.data import featurize, read_data, read_labels
from deepclust.datasets import parse_idx
from test_cli import invoke

#: cases per test (10 tests, the CLI one with half as many): 2,850 hostile inputs per run by
#: default; DEEPCLUST_HOSTILE_CASES=5000 explores further
CASES = int(os.environ.get("DEEPCLUST_HOSTILE_CASES", "300"))
HOSTILE = settings(max_examples=CASES, deadline=5000, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _valid_files() -> dict[str, bytes]:
    """One small valid file of each kind, the seeds that mutations start from."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=6), "b": [1, 2, 3, 4, 5, 6], "label": list("xyxyxy")})
    files = {".csv": frame.to_csv(index=False).encode(), ".tsv": frame.to_csv(index=False, sep="\t").encode()}
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    files[".parquet"] = buffer.getvalue()
    buffer = io.BytesIO()
    np.save(buffer, rng.normal(size=(6, 3)).astype(np.float32))
    files[".npy"] = buffer.getvalue()
    buffer = io.BytesIO()
    np.savez(buffer, X=rng.normal(size=(6, 3)), y=np.arange(6))
    files[".npz"] = buffer.getvalue()
    files[".txt"] = b"the first document\nthe second one\n"
    return files


VALID = _valid_files()
IDX = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3]) + bytes(range(18))


@st.composite
def mutated(draw, original: bytes) -> bytes:
    """``original`` with a few random edits: bytes flipped, cut short, inserted or repeated."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "truncate", "insert", "repeat"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif action == "truncate":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            data[at:at] = data[at:at + draw(st.integers(1, 32))]
    return bytes(data)


def any_file(suffixes: list[str]):
    """(suffix, bytes): random bytes, or a valid file of that suffix mutated."""
    return st.sampled_from(suffixes).flatmap(
        lambda s: st.tuples(st.just(s), st.one_of(st.binary(max_size=600), mutated(VALID[s])))
    )


def ours_or_fine(call) -> None:
    """Run ``call``; a DeepclustError (or its warnings) is the only way allowed to fail."""
    try:
        call()
    except DeepclustError as exc:
        assert str(exc).strip(), "empty error message"


def written(suffix: str, payload: bytes, folder: str) -> Path:
    path = Path(folder) / f"data{suffix}"
    path.write_bytes(payload)
    return path


@pytest.fixture(autouse=True)
def _quiet_warnings(recwarn):
    """Skipped-row and similar warnings are expected here; they are collected, not shown."""
    yield


@pytest.mark.parametrize("label_column", [None, "label"])
@HOSTILE
@given(any_file([".csv", ".tsv", ".parquet", ".npy", ".npz"]))
def test_read_data(label_column, case):
    suffix, payload = case
    with tempfile.TemporaryDirectory() as folder:
        ours_or_fine(lambda: read_data(written(suffix, payload, folder), label_column=label_column))


@HOSTILE
@given(any_file([".csv", ".tsv", ".npy", ".npz", ".txt"]))
def test_read_labels(case):
    suffix, payload = case
    with tempfile.TemporaryDirectory() as folder:
        ours_or_fine(lambda: read_labels(written(suffix, payload, folder)))


@HOSTILE
@given(any_file([".csv", ".tsv", ".parquet", ".txt"]))
def test_featurize_tables_and_text(case):
    suffix, payload = case
    with tempfile.TemporaryDirectory() as folder:
        ours_or_fine(lambda: featurize(written(suffix, payload, folder), text_backend="tfidf"))


@HOSTILE
@given(st.one_of(st.binary(max_size=200), mutated(IDX)))
def test_parse_idx(payload):
    ours_or_fine(lambda: parse_idx(payload, "hostile.idx"))


@HOSTILE
@given(st.binary(max_size=300))
def test_folders_of_broken_media(payload):
    """Broken images, audio and text in a folder: skipped with a warning, or one error."""
    with tempfile.TemporaryDirectory() as folder:
        for name in ("a.png", "b.jpg", "c.wav", "d.flac", "e.txt"):
            (Path(folder) / name).write_bytes(payload)
        for modality in ("images", "audio", "text"):
            ours_or_fine(lambda m=modality: featurize(folder, modality=m, text_backend="tfidf"))


# --------------------------------------------------------------------------------------------------
# model folders


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, bytes]:
    X = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    model = deepclust.AEKMeans(2, hidden_dims=(8,), latent_dim=2, pretrain_epochs=1, verbose=0,
                               random_state=0).fit(X)
    folder = tmp_path_factory.mktemp("hostile-model") / "model"
    model.save(folder)
    return {name: (folder / name).read_bytes() for name in ("config.json", "model.safetensors")}


def _load_folder(config: bytes, weights: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "config.json").write_bytes(config)
        (Path(folder) / "model.safetensors").write_bytes(weights)
        ours_or_fine(lambda: deepclust.load(folder))


@HOSTILE
@given(st.data())
def test_load_mutated_config(model_files, data):
    config = data.draw(st.one_of(st.binary(max_size=300), mutated(model_files["config.json"])))
    _load_folder(config, model_files["model.safetensors"])


@HOSTILE
@given(st.data())
def test_load_mutated_weights_with_a_matching_checksum(model_files, data):
    """The checksum would refuse any change; recomputing it makes safetensors' parser and the
    shape and dtype checks face the bytes."""
    weights = data.draw(mutated(model_files["model.safetensors"]))
    config = json.loads(model_files["config.json"])
    config["weights_sha256"] = hashlib.sha256(weights).hexdigest()
    _load_folder(json.dumps(config).encode(), weights)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@HOSTILE
@given(st.data())
def test_load_config_values_replaced(model_files, data):
    """Valid JSON, wrong contents: a field of config.json replaced by an arbitrary JSON value."""
    config = json.loads(model_files["config.json"])
    section = data.draw(st.sampled_from(["class", "params", "fitted", "format_version", "preprocessing"]))
    value = data.draw(JSON)
    if section in ("params", "fitted") and isinstance(config[section], dict):
        key = data.draw(st.sampled_from(sorted(config[section])))
        config[section][key] = value
    else:
        config[section] = value
    _load_folder(json.dumps(config).encode(), model_files["model.safetensors"])


# --------------------------------------------------------------------------------------------------
# the command line


@settings(max_examples=CASES // 2, deadline=10000, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=any_file([".csv", ".npy", ".parquet"]))
def test_cli_predict_on_hostile_data(model_files, case):
    """Exit status 0 or 2 and, for 2, one ``error:`` line: never a traceback."""
    suffix, payload = case
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "model"
        model.mkdir()
        for name, content in model_files.items():
            (model / name).write_bytes(content)
        data = written(suffix, payload, folder)
        result = invoke("predict", model, data, "--out", Path(folder) / "p.csv", "--device", "cpu")
        assert result.exit_code in (0, 2), (result.exit_code, result.exception)
        if result.exit_code == 2:
            errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
            assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
            assert not (Path(folder) / "p.csv").exists()
