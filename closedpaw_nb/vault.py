"""Moved to `closedpaw_nb.keys.vault`; this path works for one release (DeprecationWarning)."""

from ._moved import forward

__getattr__ = forward(__name__, "closedpaw_nb.keys.vault")
