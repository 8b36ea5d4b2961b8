"""Every method deepclust offers, one module each; importing this package registers them all.

``REGISTRY`` maps CLI names to clusterer classes and ``LOADABLE`` class names to every class
``deepclust.load`` may rebuild (see :mod:`deepclust.methods.registry`).
"""
import importlib
import pkgutil

from .registry import LOADABLE, REGISTRY

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
for _table in (REGISTRY, LOADABLE):  # in name order, whatever order the modules import in
    _entries = sorted(_table.items())
    _table.clear()
    _table.update(_entries)

globals().update(LOADABLE)
__all__ = ["LOADABLE", "REGISTRY", *sorted(LOADABLE)]
