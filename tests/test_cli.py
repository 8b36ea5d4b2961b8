"""End-to-end tests of the ``deepclust`` command.

The main path runs in subprocesses (``python -m deepclust.cli``) exactly as a user would; error
cases mostly use Typer's in-process CliRunner, which is much faster. Networks are tiny.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PIL
from typer.testing import CliRunner

import deepclust
from deepclust import cli
from deepclust.cli import outputs, pipeline
from deepclust.methods import REGISTRY

TINY = ["--pretrain-epochs", "42", "--epochs", "1", "--latent-dim", "2", "--hidden-dims", "16",
        "--batch-size", "8", "--device", "cpu", "--quiet"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deepclust.cli", *map(str, args)],
        capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300,
    )


def invoke(*args: str):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def assert_user_error_text(stderr: str, *needles: str) -> None:
    """Exactly one stderr line, ``error: ...``, containing every needle; no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def assert_user_error(result, *needles: str) -> None:
    """A CliRunner result that ended with status 2 and a one-line ``error: ...``."""
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert_user_error_text(result.stderr, *needles)


def assert_png(path: Path) -> None:
    with PIL.open(path) as image:
        image.verify()
        assert image.format == "PNG"


# --------------------------------------------------------------------------------------------------
# data


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli-data")
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0, 0], [8, 8, 0, 0], [0, 8, 8, 8]], dtype=float)
    y = rng.permutation(np.repeat([0, 1, 2], 40))
    X = centres[y] + rng.normal(scale=0.6, size=(y.size, 4))
    table = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    table["label"] = np.array(["ant", "bee", "cat"])[y]
    table.to_csv(folder / "blobs.csv", index=False)
    table.drop(columns=["label"]).to_csv(folder / "features.csv", index=False)
    table.assign(label=y).to_csv(folder / "numeric_labels.csv", index=False)
    table.drop(columns=["d"]).to_csv(folder / "three_features.csv", index=False)
    (folder / "truth.csv").write_text("label\n" + "\n".join(table["label"]) + "\n")
    (folder / "text.csv").write_text("a,colour\n1,red\n2,blue\n3,green\n")
    (folder / "empty.csv").write_text("")
    (folder / "two_rows.csv").write_text("a,b\n1,2\n3,4\n")
    return folder


@pytest.fixture(scope="module")
def fitted(data_dir, tmp_path_factory):
    """``deepclust fit`` on three blobs, in a subprocess: (CompletedProcess, output folder)."""
    out = tmp_path_factory.mktemp("cli-fit") / "out"
    result = run_cli("fit", data_dir / "blobs.csv", "--method", "dcn", "--n-clusters", "3",
                     "--label-column", "label", "--out", out, "--seed", "0", *TINY)
    return result, out


# --------------------------------------------------------------------------------------------------
# the main path, in subprocesses


def test_fit_end_to_end(fitted, data_dir):
    result, out = fitted
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # --quiet
    assert "dcn" in result.stdout and "ACC" in result.stdout

    labels = pd.read_csv(out / "labels.csv")
    assert list(labels.columns) == ["index", "cluster"]
    assert len(labels) == len(pd.read_csv(data_dir / "blobs.csv"))
    assert labels["index"].tolist() == list(range(len(labels)))

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["acc"] >= 0.95
    assert metrics["method"] == "dcn" and metrics["seconds"] > 0
    assert {"nmi", "ari", "purity", "n_samples", "n_clusters", "n_classes"} <= metrics.keys()

    for name in ("embedding.png", "history.png"):
        assert_png(out / name)
    assert not (out / "clusters.png").exists()  # a table is not images
    assert (out / "model" / "config.json").is_file()
    assert (out / "report.html").stat().st_size > 1_000_000  # Plotly's JavaScript is inside
    assert f"open {out}/report.html in a browser" in result.stdout.replace("\n", "")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_predict_reproduces_fit_labels(fitted, data_dir, tmp_path):
    _, out = fitted
    target = tmp_path / "sub" / "pred.csv"
    result = run_cli("predict", out / "model", data_dir / "blobs.csv", "--label-column", "label",
                     "--out", target, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "ACC" in result.stdout
    predicted = pd.read_csv(target)
    assert predicted.equals(pd.read_csv(out / "labels.csv"))


def test_user_error_in_subprocess_has_no_traceback(data_dir, tmp_path):
    out = tmp_path / "out"
    result = run_cli("fit", data_dir / "text.csv", "--n-clusters", "2", "--out", out, *TINY)
    assert result.returncode == 2
    assert_user_error_text(result.stderr, "text.csv", "no usable columns")
    assert result.stdout == ""
    assert not out.exists()


# --------------------------------------------------------------------------------------------------
# other commands, in process


def test_evaluate_accepts_fit_labels(fitted, data_dir):
    _, out = fitted
    result = invoke("evaluate", data_dir / "truth.csv", out / "labels.csv", "--json")
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["acc"] >= 0.95 and metrics["n_samples"] == 120 and metrics["n_classes"] == 3

    table = invoke("evaluate", data_dir / "truth.csv", out / "labels.csv")
    assert table.exit_code == 0
    for key in ("ACC", "NMI", "ARI", "purity"):
        assert key in table.stdout


def test_labels_carry_the_id_column_and_the_confidence(data_dir, tmp_path):
    """A table's ID column comes back beside the clusters, so they join to the user's rows; a
    method with soft assignments adds the assigned cluster's probability; predict does the same."""
    table = pd.read_csv(data_dir / "blobs.csv")
    table.insert(0, "sample_id", [f"s{i:03d}" for i in range(len(table))])
    table.to_csv(tmp_path / "with_ids.csv", index=False)
    out = tmp_path / "run"
    result = invoke("fit", tmp_path / "with_ids.csv", "--method", "n2d", "-k", "3", "--label-column", "label",
                    "--out", out, *TINY)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # --quiet: no progress, no notes, not even UMAP's
    labels = pd.read_csv(out / "labels.csv")
    assert list(labels.columns) == ["sample_id", "index", "cluster", "confidence"]
    assert labels["sample_id"].tolist() == table["sample_id"].tolist()
    model = deepclust.load(out / "model")
    X = model.preprocessing_.transform(table.drop(columns=["label"]), "t")
    np.testing.assert_allclose(labels["confidence"], model.predict_proba(X).max(axis=1), atol=1e-4)
    assert (labels["confidence"] > 0.3).all() and (labels["confidence"] <= 1).all()
    predicted = tmp_path / "new.csv"
    assert invoke("predict", out / "model", tmp_path / "with_ids.csv", "--label-column", "label",
                  "--out", predicted).exit_code == 0
    again = pd.read_csv(predicted)
    assert list(again.columns) == ["sample_id", "index", "cluster", "confidence"]
    np.testing.assert_array_equal(again["cluster"], labels["cluster"])


def test_evaluate_label_column_and_a_feature_refused(tmp_path):
    """A data table as the truth: its label column by name; a measured column is refused."""
    rng = np.random.default_rng(0)
    species = np.repeat(["setosa", "versicolor", "virginica"], 40)
    table = pd.DataFrame({"sepal_len": rng.normal(5.8, 0.8, 120).round(2), "species": species,
                          "width": rng.normal(3, 0.4, 120)})
    table.to_csv(tmp_path / "data.csv", index=False)
    pred = tmp_path / "labels.csv"
    pd.DataFrame({"index": range(120), "cluster": np.repeat([2, 0, 1], 40)}).to_csv(pred, index=False)
    result = invoke("evaluate", tmp_path / "data.csv", pred, "--label-column", "species", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["acc"] == 1.0
    assert_user_error(invoke("evaluate", tmp_path / "data.csv", pred, "--label-column", "sepal_len"),
                      f"{tmp_path / 'data.csv'}: column 'sepal_len' looks like a continuous feature (",
                      "distinct values in 120 rows, fractional numbers), not class labels; name the label "
                      "column with --label-column")
    assert_user_error(invoke("evaluate", tmp_path / "data.csv", pred),  # the last column, 'width'
                      "the labels column looks like a continuous feature")
    assert_user_error(invoke("evaluate", tmp_path / "data.csv", pred, "--label-column", "kind"),
                      "no column 'kind' in the header; columns are sepal_len, species, width")


def test_evaluate_length_mismatch(data_dir, tmp_path):
    short = tmp_path / "short.csv"
    short.write_text("cluster\n0\n1\n")
    assert_user_error(invoke("evaluate", data_dir / "truth.csv", short), "differ in length")


def test_methods_lists_registry():
    result = invoke("methods")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert names == list(REGISTRY)
    assert cli.DEFAULT_METHOD in REGISTRY


def test_option_a_method_lacks_is_noted(data_dir, tmp_path):
    lacking = [name for name, cls in REGISTRY.items() if "epochs" not in cls().get_params()]
    if not lacking:
        pytest.skip("every method has an 'epochs' parameter")
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.json").write_text("{}")  # stale, from an earlier run with labels
    args = [a for a in TINY if a != "--quiet"]
    result = invoke("fit", data_dir / "numeric_labels.csv", "--method", lacking[0], "-k", "3",
                    "--out", out, *args)
    assert result.exit_code == 0, result.stderr
    assert "--epochs is ignored" in result.stderr
    assert "--label-column label" in result.stderr  # the 'label' column was used as a feature
    assert not (out / "metrics.json").exists()  # no labels now: the stale file is gone
    assert len(pd.read_csv(out / "labels.csv")) == 120


@pytest.fixture
def small_sample(monkeypatch):
    """Make the bundled MNIST sample 200 digits long, for speed."""
    real = pipeline.bundled_sample

    def small():
        dataset = real()
        dataset.X, dataset.y = dataset.X[:200], dataset.y[:200]
        return dataset

    monkeypatch.setattr(pipeline, "bundled_sample", small)


def test_fit_without_data_uses_the_bundled_sample(small_sample, tmp_path):
    out = tmp_path / "out"
    result = invoke("fit", "--out", out, *TINY)
    assert result.exit_code == 0, result.stderr
    assert "MNIST" in result.stdout
    assert_png(out / "clusters.png")
    assert json.loads((out / "metrics.json").read_text())["n_classes"] == 10


def test_fit_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for cls_name, value in (("dark", 30), ("light", 220)):
        (root / cls_name).mkdir(parents=True)
        for i in range(6):
            pixels = np.clip(value + rng.normal(0, 10, (8, 8)), 0, 255).astype(np.uint8)
            PIL.fromarray(pixels).save(root / cls_name / f"{i}.png")
    out = tmp_path / "out"
    result = invoke("fit", root, "-k", "2", "--method", cli.DEFAULT_METHOD, "--out", out, *TINY)
    assert result.exit_code == 0, result.stderr
    labels = pd.read_csv(out / "labels.csv")
    assert sorted(labels["index"]) == sorted(f"{c}/{i}.png" for c in ("dark", "light") for i in range(6))
    assert_png(out / "clusters.png")
    assert (out / "metrics.json").exists()  # labels from the subfolder names


def test_demo_on_a_small_sample(small_sample, tmp_path):
    """The demo's full path (default settings, image outputs) on 200 MNIST digits."""
    out = tmp_path / "demo"
    result = invoke("demo", "--out", out, "--device", "cpu", "--quiet")
    assert result.exit_code == 0, result.stderr
    assert "ACC" in result.stdout and "NMI" in result.stdout and "fit time" in result.stdout
    for name in ("embedding.png", "history.png", "clusters.png"):
        assert_png(out / name)
    assert json.loads((out / "metrics.json").read_text())["n_samples"] == 200
    assert len(pd.read_csv(out / "labels.csv")) == 200


# --------------------------------------------------------------------------------------------------
# one voice on the terminal

UMAP_CHATTER = ("Construct fuzzy simplicial set", "Epochs completed", "completed  0  /  ")


def test_umap_speaks_in_deepclust_voice_and_only_with_verbose_in_its_own(data_dir, tmp_path):
    """A normal run shows deepclust's status line for the UMAP step and none of umap-learn's own
    progress; --verbose lets umap-learn speak."""
    args = ["fit", data_dir / "features.csv", "--method", "n2d", "-k", "3", "--pretrain-epochs", "1",
            "--epochs", "1", "--latent-dim", "2", "--hidden-dims", "16", "--device", "cpu"]
    normal = invoke(*args, "--out", tmp_path / "normal")
    assert normal.exit_code == 0, normal.output
    assert "umap: embedding 120 points in 3-D" in normal.stderr and "umap: done in " in normal.stderr
    assert not [text for text in UMAP_CHATTER if text in normal.stdout + normal.stderr]
    loud = invoke(*args, "--out", tmp_path / "loud", "--verbose")
    assert loud.exit_code == 0, loud.output
    assert "umap: embedding 120 points in 3-D" in loud.stderr
    assert "Construct fuzzy simplicial set" in loud.stdout + loud.stderr


# --------------------------------------------------------------------------------------------------
# user errors: one line, status 2, nothing written


@pytest.mark.parametrize(
    "args, needles",
    [
        (["text.csv", "-k", "2"], ["text.csv", "no usable columns", "'a' (ID-like", "'colour' (ID-like"]),
        (["empty.csv"], ["empty.csv", "empty"]),
        (["missing.csv"], ["missing.csv", "no such file"]),
        (["blobs.csv", "--method", "foo"], ["unknown method 'foo'; available: " + ", ".join(REGISTRY)]),
        (["blobs.csv", "--method", "idek"], ["unknown method 'idek' (did you mean 'idec'?); available: "]),
        (["blobs.csv", "--n-clusters", "1"], ["--n-clusters", "at least 2"]),
        (["two_rows.csv", "--n-clusters", "3"], ["two_rows.csv", "2 samples", "3"]),
        (["blobs.csv", "--label-column", "nope"], ["'nope'"]),
        (["blobs.csv", "--hidden-dims", "8,x"], ["--hidden-dims", "8,x"]),
        (["blobs.csv", "--labels", "truth.csv", "--label-column", "label"], ["--labels", "--label-column"]),
        (["features.csv", "--labels", "two_rows.csv"], ["two_rows.csv", "features.csv"]),
    ],
    ids=["no-usable-column", "empty", "missing", "unknown-method", "did-you-mean", "one-cluster",
         "fewer-samples-than-clusters", "no-such-column", "bad-hidden-dims", "two-label-sources",
         "label-count"],
)
def test_fit_user_errors(data_dir, tmp_path, monkeypatch, args, needles):
    monkeypatch.chdir(data_dir)
    out = tmp_path / "out"
    assert_user_error(invoke("fit", *TINY, "--out", out, *args), *needles)  # args override TINY
    assert not out.exists()


def test_an_out_folder_that_cannot_be_written_is_refused_before_training(data_dir, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / "file" / "run"
    result = invoke("fit", *TINY, "--out", out, data_dir / "features.csv")
    assert_user_error(result, f"cannot write in --out {out}: Not a directory")
    assert "pretrain" not in result.stderr  # refused before any training

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    result = invoke("fit", *TINY, "--out", tmp_path / "new" / "run", data_dir / "features.csv")
    assert_user_error(result, f"cannot write in --out {tmp_path / 'new' / 'run'}: Permission denied")
    assert "pretrain" not in result.stderr and not (tmp_path / "new").exists()


def test_a_labels_file_one_line_too_long_is_suspected_of_a_header(data_dir, tmp_path):
    n = len(pd.read_csv(data_dir / "features.csv"))
    labels = tmp_path / "labels.csv"
    pd.Series(np.arange(n) % 3).to_csv(labels, index=False)  # pandas names an unnamed column "0"
    out = tmp_path / "out"
    result = invoke("fit", *TINY, "--out", out, data_dir / "features.csv", "--labels", labels)
    assert_user_error(result, f"labels.csv holds {n + 1} labels but ", f"features.csv has {n} samples; if its "
                      "first line ('0') is a header, name the column 'label'")
    assert not out.exists()


def test_fit_reuses_the_autoencoder_of_an_earlier_run(fitted, data_dir, tmp_path):
    """'--autoencoder run/model': no second pretraining; the earlier run's encoder is the start."""
    _, first = fitted
    out = tmp_path / "dec"
    result = invoke("fit", data_dir / "blobs.csv", "--method", "dec", "-k", "3", "--label-column",
                    "label", "--autoencoder", first / "model", "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["acc"] >= 0.95
    config = json.loads((out / "model" / "config.json").read_text())
    phases = [h["phase"] for h in config["fitted"]["history_"]]
    assert phases.count("pretrain") == int(TINY[1])  # the first run's epochs, not as many more


@pytest.mark.parametrize("args, expected", [([], "auto"), (["--no-augment"], False), (["--augment"], True)])
def test_fit_augment_flag_reaches_the_model(data_dir, tmp_path, args, expected):
    """Without the flag DEC keeps its default ('auto': images only); --no-augment turns it off."""
    data = data_dir / "features.csv"
    if expected is True:  # augmenting needs images: the blobs' 4 features as 2x2 images
        data = tmp_path / "images.npy"
        np.save(data, pd.read_csv(data_dir / "features.csv").to_numpy(np.float32).reshape(-1, 2, 2))
    out = tmp_path / "run"
    result = invoke("fit", data, "--method", "dec", "-k", "3", "--out", out, *args, *TINY)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "model" / "config.json").read_text())["params"]["augment"] == expected


@pytest.mark.parametrize("args, needles", [
    (["--augment"], ["augment=True", "images", "(4,)"]),
    (["--autoencoder", "nowhere"], ["nowhere"]),
    (["--autoencoder", "truth.csv"], ["truth.csv"]),
])
def test_fit_augment_and_autoencoder_errors(data_dir, tmp_path, monkeypatch, args, needles):
    monkeypatch.chdir(data_dir)
    out = tmp_path / "out"
    assert_user_error(invoke("fit", "blobs.csv", "--label-column", "label", "-k", "3", *TINY,
                             "--out", out, *args), *needles)
    assert not out.exists()


def test_predict_with_other_feature_count(fitted, data_dir, tmp_path):
    _, out = fitted
    target = tmp_path / "pred.csv"
    result = invoke("predict", out / "model", data_dir / "three_features.csv",
                    "--label-column", "label", "--out", target)
    assert_user_error(result, "three_features.csv", "missing column 'd' that the model was fitted on")
    assert not target.exists()


def test_predict_with_garbage_model(data_dir, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{not json")
    (model / "model.safetensors").write_bytes(b"\0" * 16)
    target = tmp_path / "pred.csv"
    result = invoke("predict", model, data_dir / "blobs.csv", "--out", target)
    assert_user_error(result, str(model), "config.json")
    assert not target.exists()


def test_predict_with_missing_model(data_dir, tmp_path):
    target = tmp_path / "pred.csv"
    result = invoke("predict", tmp_path / "nowhere", data_dir / "blobs.csv", "--out", target)
    assert_user_error(result, "nowhere")
    assert not target.exists()


def test_usage_errors_are_one_line(capsys):
    for argv, needle in [(["fit", "--n-clusters", "abc"], "--n-clusters"),
                         (["fit", "--bogus"], "--bogus"),
                         (["predict", "model-only"], "DATA"),
                         (["no-such-command"], "no-such-command")]:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2
        assert_user_error_text(capsys.readouterr().err, needle)


def test_no_arguments_shows_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 0
    assert "fit" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# sample


def two_kinds_of_images() -> np.ndarray:
    """120 8×8 images: 60 with a bright top half, 60 with a bright bottom half."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 40, size=(120, 8, 8)).astype(np.float32)
    X[:60, :4] += 200
    X[60:, 4:] += 200
    return X


@pytest.fixture(scope="module")
def image_clustergan(tmp_path_factory) -> Path:
    """A small ClusterGAN on two kinds of 8×8 images, saved."""
    from deepclust import ClusterGAN

    X = two_kinds_of_images()
    model = ClusterGAN(2, hidden_dims=(32,), epochs=2, init="none", random_state=0, device="cpu").fit(X)
    path = tmp_path_factory.mktemp("cli-gan") / "model"
    model.save(path)
    return path


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv"])
def test_sample_writes_samples_and_a_grid(image_clustergan, tmp_path, suffix):
    out = tmp_path / f"new{suffix}"
    result = invoke("sample", image_clustergan, "--n", "12", "--cluster", "1", "--out", out,
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert f"wrote 12 generated samples to {out}" in result.stdout
    if suffix == ".npy":
        assert np.load(out).shape == (12, 8, 8)
    elif suffix == ".npz":
        with np.load(out) as arrays:
            assert arrays["X"].shape == (12, 8, 8)
            np.testing.assert_array_equal(arrays["cluster"], np.ones(12))
    else:
        table = pd.read_csv(out)
        assert table.shape == (12, 65) and (table["cluster"] == 1).all()
    assert_png(out.with_suffix(".png"))


def test_sample_is_seeded(image_clustergan, tmp_path):
    first, second, other = tmp_path / "a.npy", tmp_path / "b.npy", tmp_path / "c.npy"
    for out, seed in [(first, "3"), (second, "3"), (other, "4")]:
        assert invoke("sample", image_clustergan, "--n", "5", "--seed", seed, "--out", out).exit_code == 0
    np.testing.assert_array_equal(np.load(first), np.load(second))
    assert not np.array_equal(np.load(first), np.load(other))


def test_sample_user_errors(image_clustergan, fitted, tmp_path):
    _, fit_out = fitted
    target = tmp_path / "s.npy"
    assert_user_error(invoke("sample", image_clustergan, "--cluster", "2", "--out", target),
                      "--cluster 2", "clusters 0 to 1")
    assert_user_error(invoke("sample", fit_out / "model", "--out", target),
                      "DCN model cannot generate samples")
    assert_user_error(invoke("sample", image_clustergan, "--out", tmp_path / "s.txt"),
                      "use a .npy, .npz or .csv file name")
    assert not target.exists()


def test_fit_clustergan_writes_a_grid_of_generated_samples(tmp_path):
    data = tmp_path / "images.npy"
    np.save(data, two_kinds_of_images())
    out = tmp_path / "out"
    result = invoke("fit", data, "--method", "clustergan", "-k", "2", "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    assert_png(out / outputs.SAMPLES_PNG)
    assert_png(out / outputs.HISTORY_PNG)
    sampled = tmp_path / "new.npy"
    assert invoke("sample", out / "model", "--n", "4", "--out", sampled).exit_code == 0
    assert np.load(sampled).shape == (4, 8, 8)


def test_sample_from_a_plain_gan_on_a_table(tmp_path):
    from deepclust import GAN

    table = pd.DataFrame(np.random.default_rng(0).normal(size=(64, 3)), columns=["a", "b", "c"])
    path = tmp_path / "gan"
    GAN(noise_dim=2, hidden_dims=(8,), epochs=1, random_state=0, device="cpu").fit(table).save(path)
    out = tmp_path / "new.csv"
    result = invoke("sample", path, "--n", "5", "--out", out)
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert list(written.columns) == ["a", "b", "c"] and len(written) == 5
    assert not out.with_suffix(".png").exists()  # a table has no image grid
    assert_user_error(invoke("sample", path, "--cluster", "0", "--out", tmp_path / "x.npy"),
                      "GAN model has no clusters")


def test_clusters_png_names_the_empty_clusters(monkeypatch):
    class Model:
        n_clusters, labels_, history_ = 5, np.array([0, 0, 2, 2, 4]), []

        def clustering_space(self, X):
            return X.reshape(len(X), -1), "latent space"

    titles = []
    from deepclust import plotting

    monkeypatch.setattr(plotting, "cluster_gallery", lambda X, labels, title: titles.append(title) or b"")
    dataset = pipeline.Dataset(X=np.zeros((5, 4, 4), np.float32), y=None, images=True, names=None, source="s")
    outputs.render_plots(Model(), dataset, "n2d")
    assert titles == ["n2d: samples of each cluster (empty: clusters 1, 3)"]


def test_help_shows_on_off_flags_without_a_value():
    result = invoke("fit", "--help")
    assert result.exit_code == 0
    assert "--resume" in result.stdout and "--augment / --no-augment" in result.stdout
    assert "<bool>" not in result.stdout
