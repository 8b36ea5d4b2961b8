"""The registry of methods, filled by the ``@register`` decorator of each method's class.

The CLI, the docs, ``deepclust.load`` and the common tests read ``REGISTRY`` and ``LOADABLE``
to learn what exists; ``deepclust.methods`` imports every module of its package, so a new
method file is registered without being listed anywhere else.
"""
from __future__ import annotations

#: clusterers by CLI name
REGISTRY: dict[str, type] = {}

#: every class ``deepclust.load`` may rebuild (clusterers, the autoencoder, the GAN), by class name
LOADABLE: dict[str, type] = {}


def register(name: str | None = None):
    """Class decorator: make the class loadable by ``deepclust.load`` and, given a ``name``,
    a clusterer the CLI offers under that name."""

    def add(cls: type) -> type:
        if name is not None:
            if name in REGISTRY:
                raise ValueError(f"method name {name!r} is already registered by {REGISTRY[name].__name__}")
            REGISTRY[name] = cls
        LOADABLE[cls.__name__] = cls
        return cls

    return add
