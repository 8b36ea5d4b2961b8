"""Turn user input (array, DataFrame, tensor, images) into a checked float32 array."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.validation import validate_data

from ..exceptions import DeepclustError
from .source import ArraySource, is_source, open_source
from .tables import TablePreprocessor

#: sklearn's message for NaN input recommends supervised estimators; ours says what to do here
NAN_MESSAGE = (
    "X contains NaN: deepclust cannot cluster missing values given in an array; impute them (e.g. "
    "sklearn.impute.SimpleImputer) or pass a pandas DataFrame, whose missing values are filled as "
    "`deepclust fit` fills a table's"
)


def table_features(estimator, X, *, reset: bool):
    """A DataFrame as the CLI reads a table, so that ``fit(df)`` and ``deepclust fit table.csv``
    build the same model; anything else unchanged.

    On ``reset``, a DataFrame with text or category columns or missing values gets a
    :class:`~deepclust.data.tables.TablePreprocessor` (numbers standardised and their gaps
    filled with the median, categories one-hot encoded, constant and ID-like columns dropped),
    kept as ``estimator.preprocessing_`` (saved with the model, its ``report_`` says what was
    done) and applied to every later DataFrame, whose columns are found by name. A DataFrame of
    numbers without gaps is taken as it is, as scikit-learn does.
    """
    if not isinstance(X, pd.DataFrame):
        return X
    if reset:
        if hasattr(estimator, "preprocessing_"):
            del estimator.preprocessing_
        numbers = all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in X.dtypes)
        if numbers and not X.isna().to_numpy().any():
            return X
        estimator.preprocessing_ = TablePreprocessor()
        return estimator.preprocessing_.fit_transform(X, "X")
    preprocessing = getattr(estimator, "preprocessing_", None)
    if isinstance(preprocessing, TablePreprocessor):
        return preprocessing.transform(X, "X")
    return X


def input_scaling_for(estimator) -> str:
    """``estimator.input_scaling``, except that ``"auto"`` after a table preprocessing (which
    scales the features itself) is ``"none"``, as in the CLI."""
    preprocessing = getattr(estimator, "preprocessing_", None)
    if estimator.input_scaling == "auto" and preprocessing is not None:
        return preprocessing.input_scaling
    return estimator.input_scaling


def check_input(estimator, X, *, reset: bool) -> np.ndarray | ArraySource:
    """Validate ``X`` for ``estimator`` and return it as float32 of shape ``(n, *input_shape_)``.

    Accepts ``(n, d)`` tables and ``(n, h, w)`` / ``(n, c, h, w)`` images (NumPy, pandas, torch);
    a DataFrame of mixed columns is preprocessed first (:func:`table_features`). A path (a
    ``.npy`` file, a folder of shards) or a ``numpy.memmap`` comes back as an
    :class:`~deepclust.data.source.ArraySource` whose shape is checked here and whose values
    are checked as they are read.
    On ``reset`` it records ``input_shape_`` and ``n_features_in_``; otherwise it checks them,
    accepting flattened images with the right number of features. Messages follow
    scikit-learn's (NaN/inf, 1-D input, feature count) so pipelines and checks behave as usual.
    """
    if is_source(X):
        return _check_source(estimator, open_source(X), reset)
    X = table_features(estimator, X, reset=reset)
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # torch tensor
        X = X.detach().cpu().numpy()
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        X = np.asarray(X)
        ndim = X.ndim
    shape = tuple(int(s) for s in X.shape[1:]) if ndim in (3, 4) else None
    if ndim not in (1, 2, 3, 4):
        raise DeepclustError(
            f"X must be (n_samples, n_features) or images (n, h, w) / (n, c, h, w); "
            f"got {ndim} dimensions, shape {tuple(X.shape)}"
        )
    if shape is not None:
        X = np.asarray(X).reshape(X.shape[0], -1)
    try:
        X = validate_data(estimator, X, dtype=np.float32, reset=reset)
    except ValueError as exc:  # inf, 1-D input, feature count: keep sklearn's wording
        raise DeepclustError(NAN_MESSAGE if "contains NaN" in str(exc) else str(exc)) from None
    if reset:
        estimator.input_shape_ = shape if shape is not None else (X.shape[1],)
    elif shape is not None and shape != tuple(estimator.input_shape_):
        raise DeepclustError(
            f"X holds images of shape {shape}, but {type(estimator).__name__} was fitted on "
            f"shape {tuple(estimator.input_shape_)}"
        )
    return X.reshape(X.shape[0], *estimator.input_shape_)


def _check_source(estimator, source: ArraySource, reset: bool) -> ArraySource:
    """``check_input``'s shape checks for rows read from files."""
    shape = tuple(source.sample_shape)
    features = int(np.prod(shape))
    if reset:
        for name in ("feature_names_in_", "preprocessing_"):
            if hasattr(estimator, name):
                delattr(estimator, name)
        estimator.input_shape_, estimator.n_features_in_ = shape, features
    elif features != estimator.n_features_in_ or (len(shape) > 1 and shape != tuple(estimator.input_shape_)):
        raise DeepclustError(
            f"{source.shown} holds samples of shape {shape}, but {type(estimator).__name__} was fitted on "
            f"shape {tuple(estimator.input_shape_)}"
        )
    return source
