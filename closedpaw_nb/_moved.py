"""Old import paths that keep working for one release, with a DeprecationWarning.

`closedpaw_nb.frames`, `.charts`, `.vault`, `.runstore`, `.retry` and `.ratelimit` moved into
the folders that show the layers (`bench/`, `keys/`, `reliability/`); each old module is a
shim whose attributes come from the new one.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["forward"]


def forward(old: str, new: str) -> Callable[[str], Any]:
    """A module `__getattr__` for `old` that warns once per name and returns `new`'s attribute."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        warnings.warn(
            f"{old} moved to {new}; import {name} from there (the old path goes in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(new), name)

    return __getattr__
