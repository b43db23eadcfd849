"""The one place where the async core meets synchronous callers.

All I/O runs on one long-lived event loop in a daemon thread. That works whether or
not the caller's thread already runs a loop (a Jupyter cell does), keeps every httpx
connection pool on the loop that created it, and never patches asyncio the way
`nest_asyncio.apply()` does.

- `run(coro)` blocks until the result; Ctrl-C (KeyboardInterrupt) cancels the work.
- `submit(coro)` returns a `concurrent.futures.Future` at once (widget callbacks).
- `iterate(async_iterable)` turns an async stream into a plain iterator.
- `wrap(coro)` is awaitable from any loop, for users who prefer `await` in cells.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import os
import queue
import threading
from collections.abc import AsyncIterable, Awaitable, Coroutine, Iterator
from typing import Any, TypeVar

from .errors import ConfigError

__all__ = ["Runner", "get_runner", "iterate", "run", "submit", "wrap"]

T = TypeVar("T")
_DONE = object()
CANCEL_GRACE = 5.0


class Runner:
    """A background event-loop thread, started on first use and restartable after close."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The runner's loop, starting the thread if needed."""
        with self._lock:
            if self._loop is None or self._loop.is_closed() or not self._thread or not self._thread.is_alive():
                self._start()
            assert self._loop is not None
            return self._loop

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=main, name="closedpaw-runner", daemon=True)
        self._loop = loop
        self._thread.start()
        ready.wait()

    def in_runner_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the runner loop, with the caller's contextvars; returns at once."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        context = contextvars.copy_context()
        loop = self.loop

        def start() -> None:
            # The future stays PENDING while the task runs, so that future.cancel() from
            # the caller's thread (Ctrl-C, a widget's Cancel button) still succeeds.
            if future.cancelled():
                coro.close()
                return
            task = loop.create_task(coro, context=context)
            task.add_done_callback(lambda t: _copy_result(t, future))
            future.add_done_callback(lambda f: f.cancelled() and loop.call_soon_threadsafe(task.cancel))

        loop.call_soon_threadsafe(start)
        return future

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the runner loop and block for its result.

        Raises:
            ConfigError: When called from the runner's own thread (it would deadlock);
                use `await` there instead.
        """
        if self.in_runner_thread():
            coro.close()
            raise ConfigError("a blocking closedpaw_nb call was made from its own event loop; use the awaitable form")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except BaseException:
            # Ctrl-C in a cell, or a timeout: cancel the work instead of leaving it running.
            future.cancel()
            raise

    async def wrap(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` from any loop while it runs on the runner loop."""
        if self.in_runner_thread():
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def iterate(self, source: AsyncIterable[T], buffer: int = 64) -> Iterator[T]:
        """A sync iterator over `source`, drained by one task on the runner loop.

        Leaving the loop early (break, exception, close) cancels that task, which
        closes the async source and its connection.
        """
        items: queue.Queue[Any] = queue.Queue(maxsize=buffer)
        stop = threading.Event()
        future = self.submit(_pump(source, items, stop))
        try:
            while True:
                item = items.get()
                if item is _DONE:
                    break
                if isinstance(item, _Raised):
                    raise item.error
                yield item
        finally:
            stop.set()
            future.cancel()
            _drain(items)

    def close(self) -> None:
        """Stop the loop and its thread; the next use starts a fresh one."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or loop.is_closed():
            return
        if thread is not None and thread.is_alive():
            asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result(CANCEL_GRACE)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(CANCEL_GRACE)
        if not loop.is_running():
            loop.close()

    def _after_fork(self) -> None:
        # The thread does not exist in a forked child; its loop must not be reused.
        self._lock = threading.Lock()
        self._loop = self._thread = None


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


async def _pump(source: AsyncIterable[Any], items: queue.Queue[Any], stop: threading.Event) -> None:
    iterator = source.__aiter__()
    try:
        async for item in iterator:
            await _put(items, item, stop)
            if stop.is_set():
                break
        await _put(items, _DONE, stop)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        await _put(items, _Raised(exc), stop)
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


async def _put(items: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    # A bounded queue gives back-pressure; poll instead of blocking the loop thread.
    while not stop.is_set():
        try:
            items.put_nowait(item)
            return
        except queue.Full:
            await asyncio.sleep(0.005)


def _drain(items: queue.Queue[Any]) -> None:
    while True:
        try:
            items.get_nowait()
        except queue.Empty:
            return


def _copy_result(task: asyncio.Task[Any], future: concurrent.futures.Future[Any]) -> None:
    if future.done():
        return
    if task.cancelled():
        future.cancel()
    elif task.exception() is not None:
        future.set_exception(task.exception())
    else:
        future.set_result(task.result())


async def _cancel_all() -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


_runner = Runner()
os.register_at_fork(after_in_child=_runner._after_fork)
atexit.register(_runner.close)


def get_runner() -> Runner:
    """The process-wide runner."""
    return _runner


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Block on `coro` using the process-wide runner."""
    return _runner.run(coro, timeout)


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule `coro` on the process-wide runner; returns a Future at once."""
    return _runner.submit(coro)


def wrap(coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
    """An awaitable for `coro`, run on the process-wide runner."""
    return _runner.wrap(coro)


def iterate(source: AsyncIterable[T]) -> Iterator[T]:
    """A sync iterator over an async iterable, driven by the process-wide runner."""
    return _runner.iterate(source)
