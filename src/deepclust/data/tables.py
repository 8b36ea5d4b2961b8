"""Automatic preprocessing of mixed tables: numbers, categories, missing values.

:class:`TablePreprocessor` learns, from a pandas DataFrame, what to do with each column and turns
it into a float32 matrix:

* numeric columns: missing values filled with the column's median (scikit-learn's
  ``SimpleImputer``), then standardised (``StandardScaler``);
* categorical columns (text, booleans, pandas categories): one-hot encoded, a missing value being a
  category of its own; only the ``max_categories - 1`` most frequent values get a column each, the
  rest share an "other" column (``OneHotEncoder(max_categories=...)`` decides which);
* constant columns (one value or none) and ID-like columns (every value different: text, or whole
  numbers named like an id or forming a run of consecutive integers) and columns of lists or
  arrays (nested Parquet columns) are dropped, with a notice.

The fitted state is plain data (column names, medians, means, scales, category lists), so a saved
model stores it as JSON and arrays and ``transform`` reapplies it to new rows without pickles.
"""
from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from deepclust.data.readers import parse_numbers, plain_list, quote_list
from deepclust.data.scaling import power_of_two_unit
from deepclust.exceptions import DeepclustError

MISSING = "(missing)"
OTHER = "(other)"
#: a column counts as numeric when at least this share of its present values parses as a number
NUMERIC_SHARE = 0.95
#: ... or when most of them do and the others are at most this many words, each repeated: markers
#: of a missing value that pandas does not know ("unknown", "-", "n.a."), read as missing
MISSING_WORDS = 3
_ID_NAME = re.compile(r"(^|[_\W])(id|uuid|guid|key|index)$|^(id|uuid|guid|index)([_\W]|$)", re.I)


def _as_numbers(col: pd.Series) -> tuple[pd.Series, int]:
    """``col`` as float64, non-numbers and infinities made missing; also how many present values
    were not finite numbers."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        parsed = col.astype(np.float64)
    else:
        parsed = parse_numbers(col).astype(np.float64)
    parsed = parsed.where(np.isfinite(parsed))
    return parsed, int((col.notna() & parsed.isna()).sum())


def _missing_markers(words: pd.Series, numbers: pd.Series, present: int) -> bool:
    """Whether the non-numbers of a column of ``present`` values, counted by word in ``words``, mark
    missing ``numbers``: fewer than half of the values, at most :data:`MISSING_WORDS` distinct
    words, each repeated, beside more than twice as many distinct numbers (``S``, ``M``, ``7`` are
    sizes, not missing)."""
    return (0 < words.sum() < present / 2 and len(words) <= MISSING_WORDS and bool((words > 1).all())
            and numbers.nunique() > 2 * MISSING_WORDS)


def _as_categories(col: pd.Series) -> pd.Series:
    """``col`` as strings, missing values as the category ``(missing)``."""
    return col.astype(object).where(col.notna(), MISSING).astype(str)


def _looks_like_id(name: str, col: pd.Series, numeric: bool) -> bool:
    """Every present value distinct, and the column is text, or whole numbers that are named like
    an id or run consecutively (row numbers)."""
    present = col.dropna()
    if len(present) < 3 or present.nunique() != len(col):
        return False
    if not numeric:
        return True
    values = present.to_numpy(dtype=np.float64)
    if not np.all(values == np.round(values)):
        return False
    ordered = np.sort(values)
    return bool(_ID_NAME.search(name)) or bool(np.all(np.diff(ordered) == 1))


class TablePreprocessor:
    """Turn a DataFrame of mixed columns into a float32 matrix, and remember how.

    ``max_categories`` caps the one-hot columns of one categorical column (the most frequent
    values keep their own column, the rest share an "other" column).
    After ``fit``: ``numeric_`` (list of dicts: name, fill, mean, scale), ``categorical_`` (name,
    categories, has_other), ``dropped_`` (name → reason), ``feature_names_out_`` and ``report_``
    (lines saying what was done to which columns).
    """

    kind = "table"
    #: the preprocessing scaled the features already: the network takes them as they are
    input_scaling = "none"

    def __init__(self, max_categories: int = 20) -> None:
        if max_categories < 2:
            raise DeepclustError(f"max_categories must be at least 2, got {max_categories}")
        self.max_categories = max_categories

    # --- fitting ---------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, source: str = "the table") -> TablePreprocessor:
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        if df.shape[0] == 0:
            raise DeepclustError(f"{source}: no data rows")
        if df.shape[0] == 1:  # every column would be constant
            raise DeepclustError(f"{source}: a single data row; clustering needs at least 2")
        self.columns_in_ = [str(c) for c in df.columns]
        numeric: dict[str, pd.Series] = {}
        categorical: dict[str, pd.Series] = {}
        self.dropped_: dict[str, str] = {}
        coerced: dict[str, str] = {}
        for name in self.columns_in_:
            col = df[name]
            if col.dtype == object and col.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray))).any():
                self.dropped_[name] = "lists or arrays, not single values"  # as Parquet's nested columns
                continue
            values, not_numbers = _as_numbers(col)
            present = int(col.notna().sum())
            words = col[col.notna() & values.isna()].astype(str).value_counts()
            is_numeric = present > 0 and (not_numbers <= (1 - NUMERIC_SHARE) * present
                                          or _missing_markers(words, values, present))
            if col.astype(object).where(col.notna(), None).nunique(dropna=True) <= 1:
                self.dropped_[name] = "constant" if present else "empty"
            elif _looks_like_id(name, values if is_numeric else col, is_numeric):
                self.dropped_[name] = "ID-like: every value is different"
            elif is_numeric:
                numeric[name] = values
                if not_numbers:
                    shown = plain_list([f"{word!r} ({n})" for word, n in words.items()], MISSING_WORDS)
                    coerced[name] = f"values that are not finite numbers treated as missing: {shown}"
            else:
                categorical[name] = _as_categories(col)
        if not numeric and not categorical:
            reasons = ", ".join(f"'{c}' ({why})" for c, why in self.dropped_.items())
            raise DeepclustError(f"{source}: no usable columns; dropped {reasons}")

        self.numeric_: list[dict[str, Any]] = []
        if numeric:
            frame = pd.DataFrame(numeric)
            filled = SimpleImputer(strategy="median").fit(frame)
            values = filled.transform(frame)
            unit = power_of_two_unit(values, axis=0)
            scaler = StandardScaler().fit(values / unit)
            for i, name in enumerate(frame.columns):
                self.numeric_.append({
                    "name": name, "fill": float(filled.statistics_[i]),
                    "mean": float(scaler.mean_[i] * unit[i]), "scale": float(scaler.scale_[i] * unit[i]),
                })
        self.categorical_: list[dict[str, Any]] = []
        if categorical:
            frame = pd.DataFrame(categorical)
            encoder = OneHotEncoder(
                max_categories=self.max_categories, handle_unknown="infrequent_if_exist"
            ).fit(frame)
            infrequent = encoder.infrequent_categories_
            for i, name in enumerate(frame.columns):
                rare = set() if infrequent[i] is None else set(infrequent[i])
                kept = [str(c) for c in encoder.categories_[i] if c not in rare]
                self.categorical_.append({"name": name, "categories": kept, "has_other": bool(rare)})
        self._finish(frame_missing=df.isna().sum(), coerced=coerced)
        return self

    def _finish(self, frame_missing: pd.Series | None = None, coerced: dict[str, str] | None = None) -> None:
        """Output names and the report, from the fitted column lists."""
        names: list[str] = [c["name"] for c in self.numeric_]
        for c in self.categorical_:
            names += [f"{c['name']}={v}" for v in c["categories"]]
            if c["has_other"]:
                names.append(f"{c['name']}={OTHER}")
        self.feature_names_out_ = names
        report = []
        if self.numeric_:
            filled = []
            if frame_missing is not None:
                filled = [f"{c['name']} ({int(frame_missing[c['name']])})" for c in self.numeric_
                          if frame_missing[c["name"]] > 0]
            line = f"numeric, standardised: {plain_list([c['name'] for c in self.numeric_], 12)}"
            if filled:
                line += f"; missing values filled with the median in {plain_list(filled, 12)}"
            report.append(line)
        for name, what in (coerced or {}).items():
            report.append(f"column '{name}': {what}")
        for c in self.categorical_:
            width = len(c["categories"]) + c["has_other"]
            rare = f", rarer values share '{OTHER}'" if c["has_other"] else ""
            report.append(f"categorical '{c['name']}': one-hot, {width} columns{rare}")
        for name, why in self.dropped_.items():
            report.append(f"dropped '{name}' ({why})")
        self.report_ = report

    # --- applying --------------------------------------------------------------------------
    def transform(self, df: pd.DataFrame, source: str = "the table") -> np.ndarray:
        """float32 array (n, len(feature_names_out_)); the columns are matched by name. Values of a
        numeric column that are not finite numbers get the training median, with a warning."""
        X, coerced = self._apply(df, source)
        if coerced:
            counts = plain_list([f"{name} ({count})" for name, count in coerced.items()], 12)
            warnings.warn(f"{source}: values that are not finite numbers filled with the training median in {counts}",
                          stacklevel=2)
        return X

    def _apply(self, df: pd.DataFrame, source: str) -> tuple[np.ndarray, dict[str, int]]:
        """(``transform``'s array, per numeric column the present values that were not finite numbers)."""
        df = df.rename(columns=str)
        needed = [c["name"] for c in (*self.numeric_, *self.categorical_)]
        absent = [c for c in needed if c not in df.columns]
        if absent:
            raise DeepclustError(
                f"{source}: missing {'column' if len(absent) == 1 else 'columns'} "
                f"{quote_list(absent, 12)} that the model was fitted on"
            )
        blocks, coerced = [], {}
        if self.numeric_:
            parsed = {c["name"]: _as_numbers(df[c["name"]]) for c in self.numeric_}
            coerced = {name: count for name, (_, count) in parsed.items() if count}
            for name in coerced:  # a column of another kind than at fit: not a few stray values
                column = df[name][df[name].notna()]
                if column.size and parse_numbers(column).isna().all():
                    raise DeepclustError(f"{source}: column '{name}' holds no numbers (its first value is "
                                         f"{column.iloc[0]!r}); the model was fitted on numbers there")
            values = np.column_stack([numbers.to_numpy() for numbers, _ in parsed.values()])
            fill = np.array([c["fill"] for c in self.numeric_])
            mean = np.array([c["mean"] for c in self.numeric_])
            scale = np.array([c["scale"] for c in self.numeric_])
            values = np.where(np.isnan(values), fill, values)
            blocks.append((values - mean) / scale)
        for c in self.categorical_:
            width = len(c["categories"]) + c["has_other"]
            codes = pd.Index(c["categories"]).get_indexer(_as_categories(df[c["name"]]))
            onehot = np.zeros((len(df), width))
            known = codes >= 0
            onehot[np.flatnonzero(known), codes[known]] = 1.0
            if c["has_other"]:  # unseen values go where the rare ones went
                onehot[~known, -1] = 1.0
            blocks.append(onehot)
        return np.hstack(blocks).astype(np.float32), coerced

    def fit_transform(self, df: pd.DataFrame, source: str = "the table") -> np.ndarray:
        return self.fit(df, source)._apply(df, source)[0]  # fit's report_ names the coerced values

    # --- persistence -----------------------------------------------------------------------
    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-ready config, arrays) that :meth:`from_state` rebuilds the preprocessor from."""
        config = {
            "max_categories": self.max_categories,
            "columns_in": self.columns_in_,
            "numeric": [c["name"] for c in self.numeric_],
            "categorical": self.categorical_,
            "dropped": self.dropped_,
            "report": self.report_,
        }
        arrays = {
            key: np.array([c[key] for c in self.numeric_], dtype=np.float64)
            for key in ("fill", "mean", "scale")
        }
        return config, arrays

    @classmethod
    def from_state(cls, config: dict, arrays: dict[str, np.ndarray]) -> TablePreprocessor:
        self = cls(int(config["max_categories"]))
        self.columns_in_ = [str(c) for c in config["columns_in"]]
        names = [str(c) for c in config["numeric"]]
        for key in ("fill", "mean", "scale"):
            if arrays[key].shape != (len(names),):
                raise ValueError(f"preprocessing '{key}' has shape {arrays[key].shape}, expected ({len(names)},)")
        self.numeric_ = [
            {"name": n, **{k: float(arrays[k][i]) for k in ("fill", "mean", "scale")}}
            for i, n in enumerate(names)
        ]
        self.categorical_ = [
            {"name": str(c["name"]), "categories": [str(v) for v in c["categories"]],
             "has_other": bool(c["has_other"])}
            for c in config["categorical"]
        ]
        self.dropped_ = {str(k): str(v) for k, v in config["dropped"].items()}
        self._finish()
        self.report_ = [str(line) for line in config["report"]]
        return self
