"""A module imported on first use, for the heavy libraries only some runs need.

``np = lazy_module("numpy")`` at the top of a module costs nothing; the first attribute read
(``np.asarray``) imports numpy (0.1 CPU-seconds), later reads cost one ``getattr``.  A crawl in
which nothing new arrives (most scheduled runs) never computes a MinHash signature, so it never
imports numpy.  Unlike :class:`importlib.util.LazyLoader` this touches neither ``sys.modules``
nor any other importer of the library: only the name it is bound to is lazy.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class lazy_module:  # noqa: N801 - used like a module
    """A stand-in for module ``name`` that imports it when an attribute is first read.

    Raises (on that first read): ``ImportError`` as ``import name`` would.
    """

    __slots__ = ("_name", "_module")

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not yet imported"
        return f"<lazy module {self._name!r} ({state})>"
