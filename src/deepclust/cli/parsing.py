"""Parsers for the options of the commands: each turns the text of one option into a value or
raises a :class:`DeepclustError` that names the option.

``-p/--param NAME=VALUE`` (:func:`parse_params`) sets any constructor parameter of the chosen
method. VALUE is read as a literal:

* ``true``/``false`` → bool, ``null``/``none`` → None (any case);
* ``3``, ``-1`` → int; ``0.5``, ``1e-3`` → float;
* ``'text'`` or ``"text"`` → that string, unchanged (``'3'`` is the string ``"3"``);
* ``[256,64]``, ``(0.5,0.9)`` or ``256,64`` → a tuple of such literals (``64,`` or ``[64]``: one
  element; ``[]``: empty); for a parameter named ``*_dims`` a single integer is a 1-tuple too;
* anything else → the plain string (``full``, ``wgan-gp``).

The estimator checks the values against its declared constraints.
"""
from __future__ import annotations

import difflib
import re
from typing import Any

from ..exceptions import DeepclustError
from ..methods import REGISTRY

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_BRACKETS = {"[": "]", "(": ")"}


def parse_n_clusters(text: str, method: str) -> int | str:
    """``--n-clusters``: an integer >= 2, or ``auto`` (which only ``--method auto`` can do)."""
    value = text.strip().lower()
    if value == "auto":
        if method != "auto":
            raise DeepclustError(f"--n-clusters auto needs --method auto (method {method!r} needs a number)")
        return "auto"
    try:
        k = int(value)
    except ValueError:
        raise DeepclustError(f"--n-clusters must be an integer >= 2 or 'auto', got {text!r}") from None
    if k < 2:
        raise DeepclustError(f"--n-clusters must be at least 2, got {k}")
    return k


def resolve_method(name: str):
    """``(registry name, class)`` of ``--method``, with a did-you-mean for a near miss."""
    key = name.strip().lower()
    if key not in REGISTRY:
        close = difflib.get_close_matches(key, list(REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DeepclustError(f"unknown method {name!r}{hint}; available: {', '.join(REGISTRY)}")
    return key, REGISTRY[key]


def parse_hidden_dims(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise DeepclustError(
            f"--hidden-dims must be comma-separated positive integers such as 500,500,2000; "
            f"got {text!r}"
        )
    return dims


def parse_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise DeepclustError(f"expected comma-separated column names, got {text!r}")
    return names


def parse_image_size(text: str | None) -> tuple[int, int] | None:
    """``"64"`` → (64, 64); ``"64x48"`` → (64, 48), width first."""
    if text is None:
        return None
    parts = text.lower().split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 4:
        raise DeepclustError(f"--image-size must be WIDTHxHEIGHT or N, at least 4 pixels, got {text!r}")
    return size


# --------------------------------------------------------------------------------------------------
# -p NAME=VALUE


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
    """``["tol=0.01", "betas=0.5,0.9"]`` → ``{"tol": 0.01, "betas": (0.5, 0.9)}``; names keep
    their spelling except that ``-`` becomes ``_``. A pair without ``=``, an empty name or value
    and a name given twice are errors."""
    params: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise DeepclustError(f"-p {pair}: write -p NAME=VALUE, e.g. -p tol=0.01")
        if not text.strip():
            raise DeepclustError(f"-p {pair}: no value after '='; write '' for an empty string")
        if name in params:
            raise DeepclustError(f"-p {name}: given twice")
        try:
            value = parse_value(text)
        except ValueError as exc:
            raise DeepclustError(f"-p {pair}: {exc}") from None
        if name.endswith("_dims") and isinstance(value, int) and not isinstance(value, bool):
            value = (value,)
        params[name] = value
    return params


def parse_value(text: str) -> Any:
    """One ``-p`` value as a literal (see the module's docstring); ``ValueError`` if malformed."""
    text = text.strip()
    if text[:1] in _BRACKETS:
        if not text.endswith(_BRACKETS[text[0]]):
            raise ValueError(f"{text[0]!r} without its closing {_BRACKETS[text[0]]!r}")
        inner = text[1:-1].strip()
        return tuple(_scalar(item) for item in _split(inner)) if inner else ()
    if len(_split(text)) > 1 or text.endswith(","):
        return tuple(_scalar(item) for item in _split(text))
    return _scalar(text)


def _split(text: str) -> list[str]:
    """``text`` split at the commas outside quotes, each item stripped; one trailing comma is
    allowed (``64,`` is one item)."""
    items, current, quote = [], [], ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ",":
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if quote:
        raise ValueError(f"unclosed quote {quote}")
    items.append("".join(current).strip())
    if len(items) > 1 and items[-1] == "":
        items.pop()
    if "" in items:
        raise ValueError("an empty item between commas")
    return items


def _scalar(text: str) -> Any:
    if text[:1] in _BRACKETS:
        raise ValueError("nested lists are not supported")
    lower = text.lower()
    if lower in ("true", "false"):
        return lower == "true"
    if lower in ("null", "none"):
        return None
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text[:1] in ("'", '"'):
        raise ValueError(f"unclosed quote {text[0]}")
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def check_param_names(params: dict[str, Any], accepted: list[str], method: str,
                      own_options: dict[str, str]) -> None:
    """Every name in ``params`` must be one of ``accepted`` (the method's constructor parameters)
    without an option of its own (``own_options``: parameter → option, such as epochs →
    ``--epochs``), which is the one way to set it."""
    settable = [name for name in accepted if name not in own_options]
    for name in params:
        if name in own_options and name in accepted:
            raise DeepclustError(f"-p {name}: {name} has an option of its own; use {own_options[name]}")
        if name in settable:
            continue
        close = difflib.get_close_matches(name, accepted, n=1)
        hint = ""
        if close:
            elsewhere = f", set with {own_options[close[0]]}" if close[0] in own_options else ""
            hint = f" (did you mean {close[0]!r}{elsewhere}?)"
        raise DeepclustError(f"-p {name}: method {method!r} has no parameter {name!r}{hint}; "
                             f"-p sets: {', '.join(sorted(settable))}")


def parse_verbosity(quiet: bool, verbose: bool) -> int:
    """``--quiet`` → 0 (errors and warnings only), neither → 1 (deepclust's progress and notes),
    ``--verbose`` → 2 (also the libraries' own progress and messages)."""
    if quiet and verbose:
        raise DeepclustError("give either --quiet or --verbose, not both")
    return 0 if quiet else 2 if verbose else 1
