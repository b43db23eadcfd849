"""G3, matrix fan-out: 32 prompts x 4 targets x 8 trials at concurrency 64, 50 ms endpoints.

Four stub endpoints answer after 50 ms, so the ideal wall time is
ceil(1024 / 64) x 50 ms = 800 ms. The arms run interleaved per round (nine rounds; the slow
httpx reference, 11 s a run, in the first three only):

- `raw`: a hand-written `asyncio.Semaphore` + `gather` over one raw aiohttp session (the
  baseline: the library under closedpaw_nb's transport, with no provider code).
- `httpx` (reported only): the same over one raw httpx client, a reference row.
- `sleep` (reported only): the same fan-out with `asyncio.sleep(0.05)` in place of the call:
  what this event loop and machine take with no HTTP at all, the floor under every arm.
- `await`: `await closedpaw_nb.abenchmark(...)`, the awaitable notebook path (rows go to
  a SQLite run store, as in real use).
- `sync`: `closedpaw_nb.benchmark(...)`, the blocking notebook entry point.

Calls are non-streaming, so every arm moves the same bytes.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from . import _clients
from ._common import GoalResult, StubServer, at_most, info, median, median_ratio

__all__ = ["run"]

TITLE = "matrix fan-out (32 prompts x 4 targets x 8 trials, concurrency 64, 50 ms endpoints)"
NAMES = ("g3-a", "g3-b", "g3-c", "g3-d")


def run(server: StubServer, quick: bool = False) -> GoalResult:
    """Measure G3; `quick` runs 4 prompts x 4 targets x 2 trials at concurrency 8 on 5 ms endpoints."""
    shape = (
        {"prompts": 4, "trials": 2, "concurrency": 8, "delay_ms": 5, "rounds": 2, "httpx_rounds": 1}
        if quick
        else {"prompts": 32, "trials": 8, "concurrency": 64, "delay_ms": 50, "rounds": 9, "httpx_rounds": 3}
    )
    import closedpaw_nb as cp

    endpoints = {name: server.base_url(f"d{shape['delay_ms']}-{name}") for name in NAMES}
    _clients.register_global(endpoints)
    with tempfile.TemporaryDirectory(prefix="closedpaw-bench-") as tmp:
        return _measure(cp, endpoints, shape, Path(tmp))


def _measure(cp: Any, endpoints: dict[str, str], shape: dict[str, int], tmp: Path) -> GoalResult:
    prompts = {f"q{i:02d}": f"Question {i}: say hello." for i in range(shape["prompts"])}
    targets = [f"{name}:{_clients.MODEL}" for name in endpoints]
    urls = [
        f"{endpoints[name]}/chat/completions" for _ in range(shape["trials"]) for _ in prompts for name in endpoints
    ]
    kwargs = {
        "trials": shape["trials"],
        "warmup": 0,
        "concurrency": shape["concurrency"],
        "stream": False,
        "progress": False,
    }
    stores = {"await": cp.RunStore(tmp / "await.sqlite"), "sync": cp.RunStore(tmp / "sync.sqlite")}
    loop = asyncio.new_event_loop()
    client = _clients.raw_client()
    session = loop.run_until_complete(_in_loop(_clients.aiohttp_session))
    arms = {
        "raw": lambda: loop.run_until_complete(_aiohttp_fanout(session, urls, shape["concurrency"])),
        "httpx": lambda: loop.run_until_complete(_raw_fanout(client, urls, shape["concurrency"])),
        "sleep": lambda: loop.run_until_complete(_sleep_fanout(len(urls), shape["concurrency"], shape["delay_ms"])),
        "await": lambda: loop.run_until_complete(cp.abenchmark(prompts, targets, store=stores["await"], **kwargs)),
        "sync": lambda: cp.benchmark(prompts, targets, store=stores["sync"], **kwargs),
    }
    try:
        for arm in arms.values():
            _check_rows(arm(), len(urls))  # warm-up: connections, caches, SQLite files
        rounds = [_round(arms, len(urls), i, i < shape["httpx_rounds"]) for i in range(shape["rounds"])]
        handoff = _handoff_ms(cp, loop)
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(session.close())
        loop.close()
        for store in stores.values():
            store.close()
    ideal = math.ceil(len(urls) / shape["concurrency"]) * shape["delay_ms"] / 1000
    return _result(rounds, ideal, len(urls), shape, handoff)


def _handoff_ms(cp: Any, loop: asyncio.AbstractEventLoop, calls: int = 200) -> dict[str, float]:
    """The fixed cost of each entry point: a no-op coroutine through `_runner.run` (what
    `benchmark()` does) and through `_runner.wrap` (what `abenchmark()` does)."""
    from closedpaw_nb import _runner

    async def noop() -> None:
        return None

    costs = {}
    for name, call in (
        ("sync", lambda: _runner.run(noop())),
        ("await", lambda: loop.run_until_complete(_runner.wrap(noop()))),
    ):
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)
        costs[name] = median(samples)
    return costs


def _round(arms: dict[str, Any], calls: int, index: int, with_httpx: bool) -> dict[str, float]:
    """One round: the raw arms, and the two notebook paths in an A-B-B-A pattern (their
    ratio is the tightest target, and drift over the round cancels out of it)."""
    pair = ["await", "sync"] if index % 2 == 0 else ["sync", "await"]
    blocks = [["raw"], ["sleep"], pair + pair[::-1]] + ([["httpx"]] if with_httpx else [])
    turn = index % len(blocks)
    order = [name for block in blocks[turn:] + blocks[:turn] for name in block]
    walls: dict[str, float] = {}
    for name in order:
        cpu, started = time.process_time(), time.perf_counter()
        outcome = arms[name]()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        _check_rows(outcome, calls)
        runs = order.count(name)
        walls[name] = walls.get(name, 0.0) + wall / runs
        walls[f"{name}_cpu_ms_per_call"] = walls.get(f"{name}_cpu_ms_per_call", 0.0) + cpu / calls * 1000 / runs
    return walls


async def _raw_fanout(client: Any, urls: list[str], concurrency: int) -> int:
    """What a user would hand-write: a semaphore and gather."""
    gate = asyncio.Semaphore(concurrency)
    body = {"model": _clients.MODEL, "messages": _clients.MESSAGES}

    async def one(url: str) -> bool:
        async with gate:
            response = await client.post(url, json=body)
            return response.status_code == 200

    return sum(await asyncio.gather(*(one(url) for url in urls)))


async def _sleep_fanout(calls: int, concurrency: int, delay_ms: int) -> int:
    """The same semaphore and gather around `asyncio.sleep`: the loop's own floor."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> bool:
        async with gate:
            await asyncio.sleep(delay_ms / 1000)
            return True

    return sum(await asyncio.gather(*(one() for _ in range(calls))))


async def _in_loop(factory: Any) -> Any:
    """`factory()` called inside the running loop (aiohttp sessions belong to one)."""
    return factory()


async def _aiohttp_fanout(session: Any, urls: list[str], concurrency: int) -> int:
    """The baseline: a semaphore and gather over raw aiohttp, decoding each JSON answer."""
    import json

    gate = asyncio.Semaphore(concurrency)
    body = {"model": _clients.MODEL, "messages": _clients.MESSAGES}

    async def one(url: str) -> bool:
        async with gate, session.post(url, json=body) as response:
            json.loads(await response.read())
            return response.status == 200

    return sum(await asyncio.gather(*(one(url) for url in urls)))


def _check_rows(outcome: Any, calls: int) -> None:
    """Every call must have succeeded, or the timing would compare different work."""
    ok = outcome if isinstance(outcome, int) else sum(row["ok"] for row in outcome.store.rows(outcome.run_id))
    if ok != calls:
        raise RuntimeError(f"only {ok} of {calls} calls succeeded")


def _result(
    rounds: list[dict[str, float]], ideal: float, calls: int, shape: dict[str, int], handoff: dict[str, float]
) -> GoalResult:
    for r in rounds:
        r["ideal"] = ideal
    reference_rounds = [r for r in rounds if "httpx" in r]  # the httpx arm ran in the first few only
    cpu = {arm: median([r[f"{arm}_cpu_ms_per_call"] for r in rounds if arm in r]) for arm in ("await", "raw", "httpx")}
    result = GoalResult(
        "G3", TITLE, details={**shape, "rounds": rounds, "calls": calls, "ideal_s": ideal, "entry_point_ms": handoff}
    )
    result.checks += [
        at_most("wall abenchmark / ideal", median_ratio(rounds, "await", "ideal"), 1.10),
        at_most("wall abenchmark / semaphore+gather raw aiohttp", median_ratio(rounds, "await", "raw"), 1.05),
        at_most("wall benchmark (sync) / abenchmark", median_ratio(rounds, "sync", "await"), 1.03),
        info(
            "entry point's own cost, sync / await (ms)", f"{handoff['sync']:.3f} / {handoff['await']:.3f}", "absolute"
        ),
        info("wall raw aiohttp / ideal", median_ratio(rounds, "raw", "ideal")),
        info("wall asyncio.sleep fan-out, no HTTP / ideal (the loop's floor)", median_ratio(rounds, "sleep", "ideal")),
        info("wall raw httpx / ideal", median_ratio(reference_rounds, "httpx", "ideal")),
        info("wall abenchmark (ms)", median([r["await"] for r in rounds]) * 1000, "absolute"),
        # The ideal is 1,280 calls/s, so one event loop on one core must spend under
        # 0.78 ms of CPU per call; above that the run is CPU-bound, whatever the fan-out.
        info("client CPU per call, abenchmark (ms)", cpu["await"], "absolute"),
        info("client CPU per call, raw aiohttp (ms)", cpu["raw"], "absolute"),
        info("client CPU per call, raw httpx (ms)", cpu["httpx"], "absolute"),
    ]
    return result
