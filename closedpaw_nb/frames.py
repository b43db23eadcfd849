"""Moved to `closedpaw_nb.bench.frames`; this path works for one release (DeprecationWarning)."""

from ._moved import forward

__getattr__ = forward(__name__, "closedpaw_nb.bench.frames")
