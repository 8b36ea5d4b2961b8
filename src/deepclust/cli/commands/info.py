"""``deepclust evaluate`` and ``deepclust methods``."""
from __future__ import annotations

import json

import numpy as np
import typer

from ...data.readers import read_labels
from ...exceptions import DeepclustError
from ...methods import REGISTRY
from ...metrics import evaluate
from ..errors import user_errors
from ..pipeline import DEFAULT_METHOD
from ..summary import print_metrics


def evaluate_cmd(
    true: str = typer.Argument(..., metavar="TRUE", help="File of true labels."),
    pred: str = typer.Argument(
        ..., metavar="PRED", help="File of predicted clusters (a labels.csv from 'fit' works)."
    ),
    label_column: str | None = typer.Option(
        None, "--label-column", help="Column of TRUE holding the labels (default: one named label, "
        "labels, y or cluster, else the last)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Compare predicted clusters with true labels: ACC (Hungarian), NMI, ARI, purity."""
    with user_errors():
        y_true = read_labels(true, column=label_column)
        refuse_continuous(y_true, true, label_column)
        metrics = evaluate(y_true, read_labels(pred))
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    typer.echo(f"{pred} against {true}")
    print_metrics(metrics)


def refuse_continuous(labels: np.ndarray, source: str, column: str | None) -> None:
    """True labels that look like a measured feature (fractional numbers, or almost every value
    different) are refused: scoring clusters against them gives meaningless numbers."""
    n, distinct = len(labels), len(np.unique(labels))
    fractional = labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels))
    if fractional or (n >= 20 and distinct > n // 2):
        which = f"column {column!r}" if column is not None else "the labels column"
        raise DeepclustError(
            f"{source}: {which} looks like a continuous feature ({distinct} distinct values in {n} rows"
            f"{', fractional numbers' if fractional else ''}), not class labels; name the label "
            "column with --label-column")


def methods() -> None:
    """List the clustering methods with a one-line description each."""
    width = max(len(name) for name in REGISTRY)
    for name, cls in REGISTRY.items():
        doc = (cls.__doc__ or "").replace("``", "").strip().splitlines()
        marker = " (default)" if name == DEFAULT_METHOD else ""
        typer.echo(f"{name:<{width}}  {doc[0] if doc else cls.__name__}{marker}")
