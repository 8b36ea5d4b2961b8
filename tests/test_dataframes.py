"""DataFrames in the Python API get the CLI's table preprocessing: fit(df) and `deepclust fit
table.csv` build the same model; arrays with gaps get deepclust's own message."""
import numpy as np
import pandas as pd
import pytest

import deepclust
from deepclust import AEKMeans, AutoClusterer, DeepclustError, cluster_accuracy
from deepclust.cli import main
from deepclust.data import featurize


@pytest.fixture(scope="module")
def table():
    """Three groups in two numeric columns and a text column; an ID column and one gap."""
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 3, 150)
    df = pd.DataFrame({
        "id": [f"row{i}" for i in range(150)],
        "a": rng.normal(groups * 5.0, 1.0),
        "b": rng.normal(-groups * 5.0, 1.0),
        "colour": np.array(["red", "green", "blue"])[groups],
    })
    df.loc[7, "a"] = np.nan
    return df, groups


def test_a_mixed_dataframe_is_preprocessed_and_kept_with_the_model(table, tmp_path):
    df, groups = table
    model = AEKMeans(3, architecture="none", random_state=0).fit(df)
    assert model.preprocessing_.report_ == [
        "numeric, standardised: a, b; missing values filled with the median in a (1)",
        "categorical 'colour': one-hot, 3 columns",
        "dropped 'id' (ID-like: every value is different)",
    ]
    assert model.n_features_in_ == 5  # a, b and three one-hot columns
    assert cluster_accuracy(groups, model.labels_) == 1.0
    np.testing.assert_array_equal(model.predict(df[df.columns[::-1]]), model.labels_)  # columns by name
    model.save(tmp_path / "model")
    np.testing.assert_array_equal(deepclust.load(tmp_path / "model").predict(df), model.labels_)
    with pytest.raises(DeepclustError, match=r"^X: missing column 'colour' that the model was fitted on$"):
        model.predict(df.drop(columns="colour"))
    refit = model.fit(df[["a", "b"]].fillna(0.0))  # numbers without gaps: taken as they are
    assert not hasattr(refit, "preprocessing_") and list(refit.feature_names_in_) == ["a", "b"]
    auto = AutoClusterer(3, candidates="kmeans", random_state=0).fit(df)
    np.testing.assert_array_equal(auto.predict(df), auto.labels_)


def test_api_and_cli_build_the_same_model_from_a_table(table, tmp_path):
    df, _ = table
    df.to_csv(tmp_path / "table.csv", index=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(tmp_path / "table.csv"), "-k", "3", "--method", "ae-kmeans", "--pretrain-epochs", "0",
              "--seed", "2", "--quiet", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 0
    cli = pd.read_csv(tmp_path / "out" / "labels.csv")
    model = AEKMeans(3, pretrain_epochs=0, random_state=2).fit(pd.read_csv(tmp_path / "table.csv"))
    np.testing.assert_array_equal(cli["cluster"].to_numpy(), model.labels_)
    # the file featurized in Python: its columns are scaled already, as the CLI knows
    data = featurize(tmp_path / "table.csv")
    assert data.input_scaling == "none"
    np.save(tmp_path / "X.npy", data.X)
    assert featurize(tmp_path / "X.npy").input_scaling == "auto"  # an array file is taken as it is
    featurized = AEKMeans(3, pretrain_epochs=0, input_scaling=data.input_scaling, random_state=2).fit(data.X)
    np.testing.assert_array_equal(featurized.labels_, model.labels_)


def test_an_array_with_gaps_gets_deepclusts_own_message():
    X = np.ones((10, 3))
    X[2, 1] = np.nan
    with pytest.raises(DeepclustError, match=r"^X contains NaN: deepclust cannot cluster missing values given in "
                                             r"an array; impute them .* or pass a pandas DataFrame"):
        AEKMeans(2, pretrain_epochs=1).fit(X)


def test_set_output_pandas_gives_named_embedding_columns(table):
    df, _ = table
    model = AEKMeans(3, architecture="none", random_state=0).set_output(transform="pandas").fit(df)
    codes = model.transform(df)
    assert isinstance(codes, pd.DataFrame) and list(codes.columns) == [f"aekmeans{i}" for i in range(5)]
    np.testing.assert_allclose(codes.to_numpy(), model.set_output(transform="default").transform(df))
