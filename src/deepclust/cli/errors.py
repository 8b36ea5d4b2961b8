"""User errors and warnings on the terminal.

A user error (bad file, bad option, unknown method, invalid parameter, mismatched model) ends the
command with one line ``error: <message>`` on stderr and exit status 2, without a traceback (a
torchrun process whose peers died ends with one such line too, and exit status 1); a
warning (skipped files, empty clusters, short pretraining) is one line ``warning: <message>``.
Unexpected exceptions are bugs and keep their traceback; ``DEEPCLUST_DEBUG=1`` shows a traceback
for user errors too.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import NoReturn

import typer
from sklearn.utils._param_validation import InvalidParameterError

from ..exceptions import DeepclustError
from ..training.distributed import is_collective_failure, world

DEBUG_ENV = "DEEPCLUST_DEBUG"
#: modules whose warnings are the libraries' own chatter: shown only with ``--verbose``
LIBRARY_WARNINGS = (r"(umap|pynndescent|numba|llvmlite|librosa|audioread|transformers|sentence_transformers"
                    r"|huggingface_hub|tqdm)(\.|$)")


def one_line(message: str) -> str:
    """Collapse a (possibly multi-line) message into one line."""
    return " ".join(str(message).split()) or "unknown error"


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with status 2."""
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(2)


def note(message: str, quiet: bool = False) -> None:
    """An informational line on stderr (suppressed by --quiet)."""
    if not quiet:
        typer.echo(message, err=True)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    typer.echo(f"warning: {one_line(str(message))}", err=True)


def debug() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


@contextlib.contextmanager
def user_errors(verbosity: int = 1) -> Iterator[None]:
    """Turn :class:`DeepclustError` and scikit-learn's ``InvalidParameterError`` into the one-line
    error and exit status 2; print each warning as one ``warning: ...`` line. Below verbosity 2
    (``--verbose``) warnings raised inside the third-party libraries are not shown."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            if verbosity < 2:
                warnings.filterwarnings("ignore", module=LIBRARY_WARNINGS)
            yield
    except (DeepclustError, InvalidParameterError) as exc:
        if debug():
            raise
        fail(str(exc))
    except Exception as exc:  # under torchrun, another process died: one line, exit status 1
        if debug() or not (world().active and is_collective_failure(exc)):
            raise
        typer.echo(f"error: process {world().rank} lost the other processes of its job "
                   f"({one_line(str(exc))[:200]})", err=True)
        raise typer.Exit(1) from None


@contextlib.contextmanager
def estimator_errors(source: str | None = None) -> Iterator[None]:
    """Around estimator calls: the estimator's errors ("X has 3 features, but DCN is expecting 4
    features as input.") do not know the file, so they are prefixed with the data's name."""
    try:
        yield
    except (DeepclustError, InvalidParameterError) as exc:
        raise DeepclustError(f"{source}: {exc}" if source else str(exc)) from None


@contextlib.contextmanager
def os_errors(what: str) -> Iterator[None]:
    """An ``OSError`` (full disk, no permission) inside becomes the one-line user error
    ``cannot <what>: <reason>``."""
    try:
        yield
    except OSError as exc:
        raise DeepclustError(f"cannot {what}: {exc.strerror or exc}") from None


def usage_error_types() -> tuple[type[BaseException], ...]:
    """Click's ClickException, wherever this Typer version keeps Click."""
    click_exc = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    return (click_exc,)
