"""G2, throughput: 10,000 calls at concurrency 64, ours against raw aiohttp (same pool limit),
with raw httpx as a reference row.

Each arm makes 10,000 non-streaming calls through 64 workers, in segments that
alternate with the other arms', so all see the same machine. A round runs raw aiohttp
and ours A-B-B-A (two half segments each, the order flipping every round: drift over
the round cancels out of their ratio), then the httpx reference; requests/s and client
CPU per call (this process's `time.process_time`, the server runs in another process)
are compared per round and the median ratio reported.

The stub's own CPU time over the run gives its capacity (requests per CPU-second of
its single thread; it runs on uvloop when that is installed). The aiohttp and our arms
both use a large part of it (reported): there the stub holds both figures down alike,
so the req/s ratio is measured against the same ceiling; CPU per call is the client's
own either way. The httpx reference must stay under 10% of the stub's capacity, so
its row describes the client.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from . import _clients
from ._common import (
    GoalResult,
    StubServer,
    at_least,
    at_most,
    info,
    median,
    median_ratio,
)

__all__ = ["run"]

TITLE = "throughput (10,000 calls at concurrency 64, non-streaming)"
CONCURRENCY = 64


def run(server: StubServer, quick: bool = False) -> GoalResult:
    """Measure G2; `quick` makes a few hundred calls instead of 10,000 per arm."""
    calls, segments, concurrency = (200, 2, 8) if quick else (10_000, 10, CONCURRENCY)
    return asyncio.run(_measure(server, calls, segments, concurrency))


async def _measure(server: StubServer, calls: int, segments: int, concurrency: int) -> GoalResult:
    base_url = server.base_url("fast")
    session = _clients.aiohttp_session()
    client = _clients.raw_client()
    manager = _clients.ours_manager({"bench": base_url})
    arms = {
        "raw": _clients.aiohttp_arm(session, base_url),
        "ours": _clients.ours_arm(manager, "bench"),
        "httpx": _clients.raw_arm(client, base_url),
    }
    try:
        for arm in arms.values():
            await _drive(arm, concurrency * 4, concurrency)  # open the pool's connections
        before = server.stats()
        rounds = [await _round(arms, calls // segments, concurrency, i) for i in range(segments)]
        after = server.stats()
    finally:
        await session.close()
        await client.aclose()
        await manager.close_all()
    return _result(rounds, before, after, calls, concurrency)


async def _round(arms: dict[str, Any], calls: int, concurrency: int, index: int) -> dict[str, float]:
    """One round: raw aiohttp and ours in an A-B-B-A pattern (half the calls per segment, so
    drift over the round cancels out of their ratio and neither waits behind the slow httpx
    segment), then the httpx reference."""
    pair = ["raw", "ours"] if index % 2 == 0 else ["ours", "raw"]
    plan = [(name, calls // 2) for name in pair + pair[::-1]] + [("httpx", calls)]
    measured = [(name, count, *await _segment(arms[name], count, concurrency)) for name, count in plan]
    stats: dict[str, float] = {}
    for name in arms:
        done, wall, cpu, collections = (sum(m[i] for m in measured if m[0] == name) for i in (1, 2, 3, 4))
        stats[f"{name}_rps"] = done / wall
        stats[f"{name}_cpu_us"] = cpu / done * 1e6
        stats[f"{name}_gc_per_1000"] = collections / done * 1000
    return stats


async def _segment(arm: Any, calls: int, concurrency: int) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and garbage collections of `calls` calls of one arm."""
    collections = _Collections()
    gc.callbacks.append(collections)
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        await _drive(arm, calls, concurrency)
    finally:
        gc.callbacks.remove(collections)
    return time.perf_counter() - wall, time.process_time() - cpu, collections.count


class _Collections:
    """A `gc.callbacks` entry counting garbage collections (each walks the objects of the
    calls in flight, so their number is part of an arm's CPU per call)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            self.count += 1


async def _drive(arm: Any, calls: int, concurrency: int) -> None:
    """`calls` calls through `concurrency` workers (a fixed number in flight, like a pool)."""
    left = calls

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await arm()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _result(
    rounds: list[dict[str, float]], before: dict[str, float], after: dict[str, float], calls: int, concurrency: int
) -> GoalResult:
    served = after["requests"] - before["requests"]
    capacity = served / max(after["cpu_s"] - before["cpu_s"], 1e-9)
    peak_raw = max(r["raw_rps"] for r in rounds)
    peak_ours = max(r["ours_rps"] for r in rounds)
    peak_httpx = max(r["httpx_rps"] for r in rounds)
    result = GoalResult(
        "G2",
        TITLE,
        details={
            "rounds": rounds,
            "calls_per_arm": calls,
            "concurrency": concurrency,
            "server_requests_per_cpu_s": capacity,
            "server_connections": after.get("connections"),
            "server_loop": after.get("loop"),
        },
    )
    result.checks += [
        at_least("req/s ours / raw aiohttp", median_ratio(rounds, "ours_rps", "raw_rps"), 0.8),
        at_most("client CPU per call ours / raw aiohttp", median_ratio(rounds, "ours_cpu_us", "raw_cpu_us"), 1.5),
        info("req/s raw aiohttp", median([r["raw_rps"] for r in rounds]), "absolute"),
        info("req/s ours", median([r["ours_rps"] for r in rounds]), "absolute"),
        info("req/s raw httpx", median([r["httpx_rps"] for r in rounds]), "absolute"),
        info("client CPU per call raw aiohttp (us)", median([r["raw_cpu_us"] for r in rounds]), "absolute"),
        info("client CPU per call ours (us)", median([r["ours_cpu_us"] for r in rounds]), "absolute"),
        info("client CPU per call raw httpx (us)", median([r["httpx_cpu_us"] for r in rounds]), "absolute"),
        info("garbage collections per 1,000 calls, raw aiohttp", median([r["raw_gc_per_1000"] for r in rounds])),
        info("garbage collections per 1,000 calls, ours", median([r["ours_gc_per_1000"] for r in rounds])),
        info("stub load, raw aiohttp arm: peak req/s / its capacity", peak_raw / capacity),
        info("stub load, our arm: peak req/s / its capacity", peak_ours / capacity),
        at_most("stub load, httpx reference: peak req/s / its capacity", peak_httpx / capacity, 0.1),
    ]
    return result
