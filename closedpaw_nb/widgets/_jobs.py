"""One piece of background work per button: start it on the runner, cancel it, wait for it.

Widget callbacks run on the kernel thread while it handles a comm message, so they must
return at once: `Job.start` submits the coroutine to the runner loop (`_runner.submit`)
and returns. The coroutine's own `finally` updates the panel; `wait()` returns only
after that `finally` has run, so tests never race the last UI update.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from .. import _runner

__all__ = ["Job"]


class Job:
    """A cancellable background coroutine with a done-event.

    Args:
        on_busy: Called with True when work starts (kernel thread) and False when it has
            finished, failed or been cancelled (runner thread).
        on_error: Called (runner thread) with an unexpected exception, so a bug shows in
            the panel instead of vanishing in a future nobody reads.
    """

    def __init__(self, on_busy: Callable[[bool], None], on_error: Callable[[BaseException], None]) -> None:
        self._on_busy, self._on_error = on_busy, on_error
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._task: asyncio.Task[Any] | None = None
        self._cancel_requested = False
        self._generation = 0
        self._future: Any = None

    @property
    def running(self) -> bool:
        """True from `start` until the coroutine's cleanup has finished."""
        return not self._idle.is_set()

    def start(self, coro: Coroutine[Any, Any, Any]) -> bool:
        """Run `coro` on the runner loop; False (and `coro` closed) if work is already running."""
        with self._lock:
            if self.running:
                coro.close()
                return False
            self._idle.clear()
            self._task, self._cancel_requested = None, False
            self._generation += 1
        self._on_busy(True)
        self._future = _runner.submit(self._guard(coro))
        return True

    async def _guard(self, coro: Coroutine[Any, Any, Any]) -> Any:
        try:
            self._task = asyncio.current_task()
            if self._cancel_requested:  # Cancel was pressed before the task got going
                coro.close()
                raise asyncio.CancelledError
            return await coro
        except asyncio.CancelledError:
            return None
        except Exception as exc:  # shown in the panel; the runner loop must not die with it
            self._on_error(exc)
            return None
        finally:
            try:
                self._on_busy(False)
            finally:
                self._task = None
                self._idle.set()

    def cancel(self) -> None:
        """Cancel the work (from any thread); its cleanup still runs."""
        if self.running:
            # Cancel on the loop itself: a cancel that lands before the task starts is
            # then seen by `_guard` instead of skipping its cleanup.
            _runner.get_runner().loop.call_soon_threadsafe(self._cancel_in_loop, self._generation)

    def _cancel_in_loop(self, generation: int) -> None:
        if generation != self._generation:  # that work already ended; leave the new one alone
            return
        self._cancel_requested = True
        if self._task is not None:
            self._task.cancel()

    def wait(self, timeout: float | None = 30.0) -> None:
        """Block until the work and its cleanup have finished.

        Raises:
            TimeoutError: The work is still running after `timeout` seconds.
        """
        if not self._idle.wait(timeout):
            raise TimeoutError(f"background work still running after {timeout} s")
