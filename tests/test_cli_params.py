"""``deepclust fit -p NAME=VALUE``: any constructor parameter of the chosen method from the command
line. Errors are caught before the data is read, so most cases here cost no training."""
from __future__ import annotations

import json

import pytest

from deepclust.cli.parsing import parse_params, parse_value
from deepclust.exceptions import DeepclustError
from test_cli import TINY, assert_user_error, data_dir, invoke  # noqa: F401  (data_dir is a fixture)


@pytest.mark.parametrize("text, expected", [
    ("3", 3), ("-2", -2), ("0.5", 0.5), ("1e-3", 0.001), (".5", 0.5),
    ("true", True), ("False", False), ("null", None), ("None", None),
    ("full", "full"), ("wgan-gp", "wgan-gp"), ("inf", "inf"),
    ("'3'", "3"), ('"a,b"', "a,b"), ("''", ""),
    ("[256,64]", (256, 64)), ("(0.5, 0.9)", (0.5, 0.9)), ("256,64", (256, 64)), ("64,", (64,)),
    ("[64]", (64,)), ("[]", ()), ("kmeans,gmm", ("kmeans", "gmm")), ("['a,b', c]", ("a,b", "c")),
])
def test_values_are_read_as_literals(text, expected):
    value = parse_value(text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("text", ["[1,2", "'open", "1,,2", "[[1],[2]]", ","])
def test_malformed_values_are_refused(text):
    with pytest.raises(ValueError):
        parse_value(text)


def test_pairs_become_parameters():
    assert parse_params(["tol=0.01", "n-init=3", "discriminator_dims=64", "betas= 0.4,0.8"]) == {
        "tol": 0.01, "n_init": 3, "discriminator_dims": (64,), "betas": (0.4, 0.8)}
    with pytest.raises(DeepclustError, match="given twice"):
        parse_params(["tol=1", "tol=2"])


def test_a_parameter_reaches_the_model(data_dir, tmp_path):  # noqa: F811
    """-p values end up in the saved model's parameters; -p input_scaling wins over the CLI's
    rule of not scaling standardised table columns a second time."""
    out = tmp_path / "out"
    result = invoke("fit", data_dir / "features.csv", "--method", "dcn", "-k", "3", "--out", out, *TINY,
                    "-p", "tol=0.01", "--param", "n_init=2", "-p", "alpha=1", "-p", "input_scaling=standard")
    assert result.exit_code == 0, result.output
    params = json.loads((out / "model" / "config.json").read_text())["params"]
    assert (params["tol"], params["n_init"], params["alpha"], params["input_scaling"]) == (0.01, 2, 1, "standard")


@pytest.mark.parametrize("args, needles", [
    (["-p", "tl=0.1"], ["-p tl: method 'dcn' has no parameter 'tl' (did you mean 'tol'?); -p sets: alpha, ",
                        "cluster_lr", "n_init"]),
    (["-p", "epoch=3"], ["(did you mean 'epochs', set with --epochs?)"]),
    (["-p", "epochs=3"], ["-p epochs: epochs has an option of its own; use --epochs"]),
    (["-p", "foo"], ["-p foo: write -p NAME=VALUE, e.g. -p tol=0.01"]),
    (["-p", "tol="], ["-p tol=: no value after '='"]),
    (["-p", "tol=[1"], ["-p tol=[1: '[' without its closing ']'"]),
    (["-p", "tol=-1"], ["The 'tol' parameter of DCN must be", "Got -1 instead"]),
    (["--quiet", "--verbose"], ["give either --quiet or --verbose, not both"]),
], ids=["did-you-mean", "did-you-mean-an-option", "has-an-option", "no-equals", "no-value", "unclosed",
        "out-of-range", "quiet-and-verbose"])
def test_parameter_errors(data_dir, tmp_path, args, needles):  # noqa: F811
    out = tmp_path / "out"
    assert_user_error(invoke("fit", data_dir / "features.csv", "--method", "dcn", "-k", "3", "--out", out,
                             *args), *needles)
    assert not out.exists()


def test_help_shows_the_param_option():
    result = invoke("fit", "--help")
    assert result.exit_code == 0
    assert "-p, --param NAME=VALUE" in result.stdout and "--verbose" in result.stdout
