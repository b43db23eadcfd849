"""The background runner: the only bridge between the async core and sync callers."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading

import pytest

from closedpaw_nb._runner import Runner
from closedpaw_nb.errors import ConfigError


@pytest.fixture
def runner():
    r = Runner()
    yield r
    r.close()


async def current_loop():
    return asyncio.get_running_loop()


def test_reuses_one_loop_on_its_own_thread(runner):
    first, second = runner.run(current_loop()), runner.run(current_loop())
    assert first is second and runner.in_runner_thread() is False


async def test_works_while_the_calling_thread_runs_a_loop(runner):
    # As in a Jupyter cell: a loop is running here, and a blocking call still works.
    assert runner.run(current_loop()) is not asyncio.get_running_loop()


def test_errors_propagate(runner):
    async def boom():
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        runner.run(boom())


def test_interrupt_cancels_the_running_work(runner):
    cancelled = threading.Event()

    async def slow():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        runner.run(slow(), timeout=0.1)  # stands in for Ctrl-C: any BaseException cancels
    assert cancelled.wait(2)


def test_keyboard_interrupt_cancels_too(runner, monkeypatch):
    import concurrent.futures

    started, cancelled = threading.Event(), threading.Event()

    async def slow():
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    def interrupted(self, timeout=None):
        started.wait(2)  # Ctrl-C arrives while the work is running
        raise KeyboardInterrupt

    monkeypatch.setattr(concurrent.futures.Future, "result", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run(slow())
    assert cancelled.wait(2)


def test_blocking_call_from_the_runner_thread_is_a_clear_error(runner):
    async def nested():
        return runner.run(current_loop())

    with pytest.raises(ConfigError, match="use the awaitable form"):
        runner.run(nested())


def test_contextvars_are_carried_into_the_loop(runner):
    var = contextvars.ContextVar("v", default="unset")
    var.set("caller")

    async def read():
        return var.get()

    assert runner.run(read()) == "caller"


def test_iterate_closes_the_source_on_break(runner):
    closed = threading.Event()

    async def numbers():
        try:
            for i in range(1000):
                yield i
                await asyncio.sleep(0)
        finally:
            closed.set()

    taken = []
    for n in runner.iterate(numbers()):
        taken.append(n)
        if n == 4:
            break
    assert taken == [0, 1, 2, 3, 4]
    assert closed.wait(2)


def test_iterate_reraises_source_errors(runner):
    async def failing():
        yield 1
        raise RuntimeError("stream broke")

    it = runner.iterate(failing())
    assert next(it) == 1
    with pytest.raises(RuntimeError, match="stream broke"):
        next(it)


async def test_wrap_is_awaitable_from_another_loop(runner):
    loop = await runner.wrap(current_loop())
    assert loop is not asyncio.get_running_loop()


def test_restarts_after_close(runner):
    first = runner.run(current_loop())
    runner.close()
    second = runner.run(current_loop())
    assert second is not first and not second.is_closed()


def test_submit_returns_at_once(runner):
    """submit() hands back a future without waiting: the work cannot finish until this
    thread lets it, after submit() returned."""
    release = threading.Event()

    async def held():
        await asyncio.to_thread(release.wait, 5)  # (5 s: a submit() that waited fails, not hangs)
        return "done"

    future = runner.submit(held())
    assert not future.done()
    release.set()
    assert future.result(5) == "done"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_survives_a_fork():
    from closedpaw_nb import _runner

    _runner.run(current_loop())  # the parent's runner thread exists
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: the thread is gone; the runner must start a fresh one
        try:
            ok = _runner.run(asyncio.sleep(0, result=b"ok"), timeout=5)
        except BaseException:
            ok = b"no"
        os.write(write, ok)
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 2) == b"ok"
