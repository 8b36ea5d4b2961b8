"""The commands of ``deepclust``, one function each; :mod:`deepclust.cli.program` registers them."""
from .fit import demo, fit
from .info import evaluate_cmd, methods
from .predict import predict, sample
from .report import report

__all__ = ["demo", "evaluate_cmd", "fit", "methods", "predict", "report", "sample"]
