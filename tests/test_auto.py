"""method="auto": candidates, the consensus choice, n_clusters="auto", and API = CLI."""
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

import deepclust
from deepclust import AEGMM, AutoClusterer, DeepclustError, cluster_accuracy
from deepclust.base import MIN_IMAGE_PRETRAIN_STEPS, MIN_PRETRAIN_STEPS, resolve_pretrain_epochs
from deepclust.cli import main
from deepclust.cluster import choose_n_clusters, mixture, number
from deepclust.cluster.number import k_candidates
from deepclust.data.featurize import featurize

#: three plain topics, 15 short documents each
TOPICS = {
    "cooking": ["Stir the onions in butter until golden", "Bake the bread in a hot oven for forty minutes",
                "Season the soup with salt, pepper and fresh thyme", "Whisk the eggs with sugar for the cake",
                "Simmer the tomato sauce for an hour", "Roast the chicken with garlic and lemon",
                "Knead the dough until it is smooth", "Grill the vegetables and drizzle olive oil",
                "Chop the parsley finely for the salad", "Fry the potatoes until they are crisp",
                "Marinate the beef overnight in wine", "Boil the pasta in plenty of salted water",
                "Melt the chocolate gently over warm water", "Slice the apples thinly for the pie",
                "Toast the spices before grinding them"],
    "football": ["The striker scored twice in the second half", "The goalkeeper saved a penalty in extra time",
                 "The coach changed the team's formation at half time", "Fans filled the stadium for the derby",
                 "The referee showed a red card to the defender", "Their midfield controlled the whole match",
                 "The winger crossed the ball into the box", "The club signed a young forward this summer",
                 "A late header won the cup final", "The league table is tight at the top",
                 "The captain lifted the trophy after the game", "The team trained hard before the away match",
                 "An offside flag cancelled the equaliser", "The manager praised the players' pressing",
                 "The transfer window closes on Friday"],
    "astronomy": ["The telescope observed a distant spiral galaxy", "Jupiter's moons orbit the giant planet",
                  "A comet's tail points away from the sun", "Astronomers found a planet around a red dwarf",
                  "The supernova outshone its entire galaxy", "Saturn's rings are made of ice and rock",
                  "A black hole bends the light of nearby stars", "The probe sent images from the surface of Mars",
                  "Meteor showers peak in the middle of August", "The nebula is a nursery of newborn stars",
                  "Neutron stars spin hundreds of times a second", "The eclipse darkened the sky at noon",
                  "Light from that quasar left it billions of years ago", "The space station orbits the Earth",
                  "Venus is the hottest planet in the solar system"],
}


def test_tiny_text_comes_out_as_clean_as_kmeans_on_the_same_embeddings(tmp_path):
    docs = [(text, topic) for topic, texts in TOPICS.items() for text in texts]
    path = tmp_path / "docs.csv"
    path.write_text("text,topic\n" + "".join(f'"{t}",{topic}\n' for t, topic in docs))
    data = featurize(path, label_column="topic", text_column="text")
    assert data.X.shape == (45, 384)  # the sentence-embedding backend, not TF-IDF
    _, y = np.unique(data.y, return_inverse=True)
    kmeans = cluster_accuracy(y, KMeans(3, n_init=10, random_state=0).fit_predict(data.X))
    model = AutoClusterer(3, random_state=0).fit(data.X)
    assert kmeans == 1.0
    assert cluster_accuracy(y, model.labels_) >= kmeans
    # rows of unit length are embeddings: UMAP + GMM alone, no vote and no autoencoder
    assert (model.route_, list(model.candidates_)) == ("embeddings", ["umap-gmm"])
    assert model.selection_ == ("umap-gmm: the route for embeddings (rows of unit length, such as sentence "
                                "embeddings)")
    # the embeddings' rows are of unit length, so the API keeps them as the CLI does: the same model
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(path), "--label-column", "topic", "--text-column", "text", "-k", "3", "--seed", "0",
              "--quiet", "--no-report", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 0
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "out" / "labels.csv")["cluster"], model.labels_)
    loaded = deepclust.load(tmp_path / "out" / "model")
    assert (loaded.route_, loaded.selection_) == (model.route_, model.selection_)


def test_small_table_where_the_autoencoder_cannot_help_does_not_lose_to_kmeans():
    """Three round, overlapping Gaussian clusters in 4 dimensions (k-means' own model)."""
    X, y = make_blobs(150, n_features=4, centers=3, cluster_std=2.5, random_state=3)
    kmeans = cluster_accuracy(y, KMeans(3, n_init=10, random_state=0).fit_predict(StandardScaler().fit_transform(X)))
    for seed in (0, 1):
        model = AutoClusterer(3, random_state=seed).fit(X)
        assert cluster_accuracy(y, model.labels_) >= kmeans - 0.02, model.selection_
        assert model.route_ is None and list(model.candidates_) == ["kmeans", "gmm", "umap-gmm", "n2d"]


def test_consensus_picks_the_candidate_the_others_agree_with(blobs):
    X, y = blobs
    model = AutoClusterer(4, candidates=("kmeans", "gmm", "umap-gmm"), random_state=0).fit(X)
    assert cluster_accuracy(y, model.labels_) == 1.0
    assert model.chosen_ == "kmeans"  # all three agree exactly: the tie goes to the first
    assert all(entry["score"] == 1.0 for entry in model.candidates_.values())
    assert model.selection_.startswith("kmeans: highest mean NMI with the other candidates")
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    np.testing.assert_array_equal(model.candidate_labels_["kmeans"], model.labels_)
    assert model.transform(X).shape == X.shape  # k-means needs no network: the scaled features


@pytest.mark.parametrize("sizes", [(40, 80, 120, 160), (60, 60, 150, 300, 90, 45)])
def test_k_auto_finds_the_number_of_well_separated_blobs(sizes):
    X, _ = make_blobs(list(sizes), n_features=6, cluster_std=0.6, center_box=(-20, 20), random_state=1)
    k, scores = choose_n_clusters(X, (2, 30), seed=0)
    assert k == len(sizes)
    assert list(scores) == list(range(2, 31))
    model = AutoClusterer("auto", candidates=("kmeans",), random_state=0).fit(X)
    assert model.n_clusters_ == len(sizes) == max(model.k_scores_, key=model.k_scores_.get)


def test_k_auto_keeps_nearby_groups_apart_on_small_data(monkeypatch):
    """Four pairs of nearby groups of 15 points (120 in all): UMAP's 20 neighbours (N2D's value)
    reach across each pair, so every seed's manifold shows 4 groups; with 6 neighbours (a
    twentieth of the points) it shows more than 4."""
    assert [number.manifold_neighbours(n) for n in (50, 96, 120, 200, 400, 70_000)] == [5, 5, 6, 10, 20, 20]
    rng = np.random.default_rng(0)
    far = rng.normal(0, 30, (4, 6))
    centres = np.concatenate([far, far + 7 * np.eye(6)[0]])
    X = np.concatenate([c + rng.normal(0, 1, (15, 6)) for c in centres])
    chosen = [choose_n_clusters(X, (2, 30), seed=seed)[0] for seed in (0, 1, 2)]
    monkeypatch.setattr(number, "manifold_neighbours", lambda n: 20)
    assert [choose_n_clusters(X, (2, 30), seed=seed)[0] for seed in (0, 1, 2)] == [4, 4, 4]
    assert min(chosen) > 4, chosen


def test_k_candidates_are_capped_by_the_data_and_checked():
    assert k_candidates((2, 30), 95) == range(2, 10)
    with pytest.raises(DeepclustError, match=r"k_range must satisfy 2 <= low <= high, got \(5, 3\)"):
        k_candidates((5, 3), 1000)
    with pytest.raises(DeepclustError, match="n_clusters='auto' needs at least 20 samples to compare 2 or more"):
        k_candidates((2, 30), 15)


def test_unknown_candidate_is_refused(blobs):
    with pytest.raises(DeepclustError, match="candidates must be 'auto' or names from kmeans, gmm, umap-gmm, n2d; got"):
        AutoClusterer(4, candidates=("kmeans", "spectral")).fit(blobs[0])


def test_api_and_cli_agree_on_a_seed(tmp_path, blobs):
    """Both sides with a short pretraining (80 optimiser steps where the default takes 500)."""
    X, _ = blobs
    np.save(tmp_path / "X.npy", X[:200])
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(tmp_path / "X.npy"), "-k", "4", "--seed", "3", "--pretrain-epochs", "20", "--quiet",
              "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 0
    cli_labels = np.loadtxt(tmp_path / "out" / "labels.csv", delimiter=",", skiprows=1, dtype=int)[:, 1]
    model = AutoClusterer(4, pretrain_epochs=20, random_state=3).fit(X[:200])
    np.testing.assert_array_equal(cli_labels, model.labels_)
    selection = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert selection["chosen"] == model.chosen_
    assert {k: v["score"] for k, v in selection["candidates"].items()} == {k: v["score"] for k, v in model.candidates_.items()}
    loaded = deepclust.load(tmp_path / "out" / "model")
    assert isinstance(loaded, AutoClusterer) and loaded.chosen_ == model.chosen_
    np.testing.assert_array_equal(loaded.predict(X[200:]), model.predict(X[200:]))


def test_cli_k_auto_records_the_criterion(tmp_path, capsys):
    X, _ = make_blobs([50, 70, 90], n_features=5, cluster_std=0.5, center_box=(-15, 15), random_state=2)
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(tmp_path / "X.npy"), "-k", "auto", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 0
    selection = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert selection["n_clusters"] == 3
    assert max(selection["k_scores"], key=selection["k_scores"].get) == "3"
    assert "3 chosen (highest silhouette)" in capsys.readouterr().out


def test_cli_k_auto_needs_method_auto(tmp_path, capsys):
    np.save(tmp_path / "X.npy", np.zeros((50, 3), np.float32))
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(tmp_path / "X.npy"), "-k", "auto", "--method", "dec", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: --n-clusters auto needs --method auto (method 'dec' needs a number)\n"
    assert not (tmp_path / "out").exists()


def test_cli_architecture_none_is_the_mixture_of_the_features_and_dcn_refuses_it(tmp_path, capsys, blobs):
    X, y = blobs
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(tmp_path / "X.npy"), "-k", "4", "--method", "ae-gmm", "--architecture", "none", "--seed", "0",
              "--quiet", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 0
    labels = pd.read_csv(tmp_path / "out" / "labels.csv")["cluster"].to_numpy()
    np.testing.assert_array_equal(labels, AEGMM(4, architecture="none", random_state=0).fit(X).labels_)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(tmp_path / "X.npy"), "-k", "4", "--method", "dcn", "--architecture", "none",
              "--out", str(tmp_path / "dcn")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'X.npy'}: DCN trains a network towards its k-means centres, and architecture='none' leaves nothing to train "
        "(AEKMeans(architecture='none') is k-means on the features)\n")
    assert not (tmp_path / "dcn").exists()


def test_ae_gmm_without_network_is_a_gaussian_mixture_on_the_features(blobs, tmp_path):
    X, y = blobs
    model = AEGMM(4, architecture="none", random_state=0).fit(X)
    assert cluster_accuracy(y, model.labels_) == 1.0
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=1), model.labels_)
    assert model.autoencoder_.latent_dim_ == 20 and model.autoencoder_.history_ == []
    model.save(tmp_path / "m")
    np.testing.assert_array_equal(deepclust.load(tmp_path / "m").predict_proba(X), proba)


def _table_with_rare_categories() -> np.ndarray:
    """110 rows: five numeric columns and three standardised one-hot groups with a 5% category,
    on which scikit-learn's mixture (``reg_covar=1e-6``, float32) finds a singular covariance."""
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 3, 110)
    one_hot = [np.eye(4)[rng.choice(4, 110, p=[0.5, 0.3, 0.15, 0.05])] for _ in range(3)]
    X = np.hstack([rng.normal(size=(110, 5)) + 3 * np.eye(5)[groups], *one_hot])
    return StandardScaler().fit_transform(X).astype(np.float32)


def test_a_mixture_with_a_singular_covariance_is_fitted_with_more_regularisation(monkeypatch):
    X = _table_with_rare_categories()
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):  # the premise
        GaussianMixture(3, n_init=10, random_state=0).fit(X)
    model = AEGMM(3, architecture="none", random_state=0).fit(X)
    assert model.labels_.shape == (110,) and np.isfinite(model.predict_proba(X)).all()
    monkeypatch.setattr(mixture, "REG_COVARS", (1e-6,))
    with pytest.raises(DeepclustError, match="^a Gaussian mixture of 3 components could not be fitted: some "
                       "components' covariance stays singular even with 1e-06 added to its diagonal"):
        AEGMM(3, architecture="none", random_state=0).fit(X)


def test_pretrain_epochs_auto_gives_enough_steps_and_a_short_choice_is_warned_about():
    assert resolve_pretrain_epochs("auto", 30, (70_000, 784), 64) == 30
    assert resolve_pretrain_epochs("auto", 20, (200, 5), 64) == MIN_PRETRAIN_STEPS // 4  # 4 steps an epoch
    # images: 1,797 8x8 digits at batch 64 are 29 steps an epoch, so 2,000 steps take 69 epochs
    assert resolve_pretrain_epochs("auto", 30, (1797, 8, 8), 64) == -(-MIN_IMAGE_PRETRAIN_STEPS // 29) == 69
    assert resolve_pretrain_epochs("auto", 30, (10_000, 28, 28), 64) == 30  # 4,710 steps already
    # the estimators pass the data's shape on: the same 1,797 samples as images, then as a table
    assert deepclust.N2D(10)._autoencoder_params((1797, 8, 8))["epochs"] == 69
    assert deepclust.N2D(10)._autoencoder_params((1797, 64))["epochs"] == 30
    with pytest.warns(UserWarning, match=r"pretrain_epochs=5 gives the autoencoder only 145 optimiser steps on "
                                         r"1797 samples \(batch 64\); .* pretrain_epochs='auto' would use 18"):
        assert resolve_pretrain_epochs(5, 10, (1797, 64), 64) == 5


@pytest.mark.parametrize("params, message", [
    (dict(latent_dim=-1), r"The 'latent_dim' parameter of \w+ must be an int in the range \[1, inf\)\. Got -1"),
    (dict(hidden_dims=(64, 0)), r"The 'hidden_dims' parameter of \w+ must be None or a tuple of "
                                r"positive ints\. Got \(64, 0\) instead"),
])
def test_bad_network_sizes_name_the_parameter(blobs, params, message):
    with pytest.raises(DeepclustError, match=message):
        deepclust.N2D(4, **params).fit(blobs[0])


def test_epochs_reach_the_n2d_candidate_on_images(tmp_path):
    """``epochs`` (``--epochs``) sets the self-labelling epochs of what auto fits on images."""
    rng = np.random.default_rng(0)
    images = rng.random((60, 8, 8)).astype(np.float32)
    images[:30, :4] += 2.0
    model = AutoClusterer(2, pretrain_epochs=1, epochs=2, random_state=0).fit(images)
    assert (model.chosen_, model.route_) == ("n2d", "images")
    assert model.best_estimator_.n_iter_ == 2
    assert [r["epoch"] for r in model.history_ if r["phase"] == "n2d_self_label"] == [1, 2]
    # a file saved before routes were recorded: a lone candidate of "auto" was the images' route
    model.save(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    del config["fitted"]["route_"]
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    assert deepclust.load(tmp_path / "model").selection_ == model.selection_ == (
        "n2d: the route for images (self-labelling from shifted and rotated copies)")
