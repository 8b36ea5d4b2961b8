"""The ``deepclust`` command: fit, predict, evaluate, sample, report, methods, demo.

User errors (bad files, bad options, unknown methods, invalid parameters, mismatched models) end
the command with one line ``error: <message>`` on stderr and exit status 2, without a traceback;
the outputs of a failed command are not written. Every file is written atomically. The method
list comes from :data:`deepclust.methods.REGISTRY`.

Modules: :mod:`~deepclust.cli.program` (the Typer app and :func:`main`),
:mod:`~deepclust.cli.commands` (one function per command), :mod:`~deepclust.cli.pipeline`
(the fit pipeline of ``fit`` and ``demo``), :mod:`~deepclust.cli.outputs` (the files written),
:mod:`~deepclust.cli.summary` (what is printed), :mod:`~deepclust.cli.parsing` (option parsers,
``-p NAME=VALUE``) and :mod:`~deepclust.cli.errors` (the one-line errors and warnings).
"""
from .pipeline import DEFAULT_METHOD
from .program import app, main

__all__ = ["DEFAULT_METHOD", "app", "main"]
