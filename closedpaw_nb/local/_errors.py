"""The two exceptions of the local model: not installed, and the server failed."""

from __future__ import annotations

from ..errors import ClosedPawError, ConfigError


class LocalModelUnavailable(ConfigError):
    """The `local` extra is not installed (the message names the install command)."""


class LocalModelError(ClosedPawError):
    """The local model server did not start or stopped unexpectedly; the message ends
    with the tail of its log."""
