"""The README's Python tour runs as written, only smaller, so it cannot rot.

The tour is every ```python block of the README's "## A short tour" section, run in one
namespace. Before it runs, its syntax tree is shrunk: every ``dc.<Estimator>(...)`` call gets the
tiny settings of ``TINY`` (those of them the estimator has, replacing the tour's own), and
``n_per_cluster=`` asks for ``N_PER_CLUSTER`` samples; ``load_mnist_sample`` returns the bundled
sample's first ``N_IMAGES`` digits. Nothing else changes: the tour's own statements, names and
assertions run, an exception in any of them fails the test, and so does a deprecated call
(a ``FutureWarning`` or ``DeprecationWarning`` raised by the tour's own code).
"""
from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import deepclust as dc
import deepclust.datasets

README = Path(__file__).resolve().parents[1] / "README.md"
TOUR_HEADING = "## A short tour"
TOUR_MODULE = "readme_tour"  # the tour's __name__, so warnings its own lines raise can be told apart

N_IMAGES = 256
N_PER_CLUSTER = 3
#: what every estimator the tour builds is told instead (where it has the parameter)
TINY = {"pretrain_epochs": 1, "epochs": 1, "init_epochs": 1, "hidden_dims": (64,), "batch_size": 128, "k_range": (2, 5)}


def tour_source(text: str) -> str:
    """The ```python blocks of the tour section, joined in order."""
    start = text.index(TOUR_HEADING)
    end = text.find("\n## ", start + len(TOUR_HEADING))
    section = text[start:] if end < 0 else text[start:end]
    blocks = re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)
    assert blocks, f"no ```python block under {TOUR_HEADING!r} in {README}"
    return "\n".join(blocks)


def estimator_params(name: str) -> set[str] | None:
    """The parameter names of ``deepclust.<name>`` if it is an estimator class, else None."""
    obj = getattr(dc, name, None)
    if isinstance(obj, type) and hasattr(obj, "get_params"):
        return set(obj().get_params())
    return None


class Shrink(ast.NodeTransformer):
    """Rewrite estimator constructions and sample counts to the tiny settings."""

    def __init__(self):
        self.shrunk: list[str] = []

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "dc":
            params = estimator_params(func.attr)
            if params is not None:
                node.keywords = [kw for kw in node.keywords if kw.arg not in TINY]
                node.keywords += [ast.keyword(arg=key, value=ast.parse(repr(value), mode="eval").body)
                                  for key, value in TINY.items() if key in params]
                self.shrunk.append(func.attr)
        for kw in node.keywords:
            if kw.arg == "n_per_cluster":
                kw.value = ast.Constant(N_PER_CLUSTER)
        return node


@pytest.fixture(scope="module")
def tour() -> str:
    return tour_source(README.read_text(encoding="utf-8"))


def test_tour_is_plain_python_on_the_public_api(tour):
    tree = ast.parse(tour)  # a syntax error in the README fails here
    used = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "dc"}
    assert used, "the tour does not use deepclust as dc"
    assert not sorted(name for name in used if not hasattr(dc, name)), "the tour names what deepclust lacks"
    assert not sorted(name for name in used if name not in dc.__all__), "the tour uses names outside __all__"
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "print" not in called, "the tour shows values in comments; it prints nothing it would have to match"


def test_tour_runs(tour, tmp_path, monkeypatch):
    X_all, y_all = deepclust.datasets.load_mnist_sample()
    monkeypatch.setattr(deepclust.datasets, "load_mnist_sample", lambda: (X_all[:N_IMAGES], y_all[:N_IMAGES]))
    monkeypatch.chdir(tmp_path)  # the tour saves a model in the current folder

    shrink = Shrink()
    tree = ast.fix_missing_locations(shrink.visit(ast.parse(tour)))
    assert "AutoClusterer" in shrink.shrunk and "Autoencoder" in shrink.shrunk
    ns: dict = {"__name__": TOUR_MODULE}
    # one BLAS thread, as torch has one here: the suite runs two workers on two cores, and
    # OpenBLAS threads waiting for a busy core made the tour's small mixtures 20 times slower
    with warnings.catch_warnings(), threadpool_limits(1):
        # tiny settings train too little on purpose: their warnings are expected
        warnings.simplefilter("ignore")
        warnings.filterwarnings("error", category=FutureWarning, module=TOUR_MODULE)
        warnings.filterwarnings("error", category=DeprecationWarning, module=TOUR_MODULE)
        exec(compile(tree, f"{README.name} (tour)", "exec"), ns)

    X, n, k = ns["X"], N_IMAGES, 10
    assert X.shape == (n, 28, 28)
    assert isinstance(ns["model"], dc.AutoClusterer) and ns["model"].chosen_ == "n2d"
    assert isinstance(ns["model"].selection_, str) and ns["model"].selection_
    assert ns["labels"].shape == (n,) and set(np.unique(ns["labels"])) <= set(range(k))
    assert ns["proba"].shape == (5, k) and np.allclose(ns["proba"].sum(axis=1), 1, atol=1e-4)
    assert ns["Z"].shape == (n, k)
    assert {"acc", "nmi", "ari", "purity"} <= set(ns["scores"])

    wine = ns["wine"]
    assert len(wine.labels_) == len(ns["Xw"]) == 178
    assert 2 <= wine.n_clusters_ <= 5 and wine.chosen_ in wine.candidates_ and wine.k_scores_

    assert ns["dec"].labels_.shape == (n,) and ns["vade"].labels_.shape == (n,)
    assert ns["new"].shape == (16, 28, 28) and ns["fives"].shape == (16, 28, 28)
    assert ns["X_more"].shape == (n + k * N_PER_CLUSTER, 28, 28) and len(ns["y_more"]) == len(ns["X_more"])
    assert ns["codes"].shape == (n, 10) and ns["X_hat"].shape == X.shape

    assert (tmp_path / "dec-model" / "config.json").is_file()
    assert isinstance(ns["same"], dc.DEC)
