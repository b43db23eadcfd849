"""G2, throughput: 10,000 calls at concurrency 64, ours against raw httpx (same pool limits).

Each arm makes 10,000 non-streaming calls through 64 workers, in segments that
alternate with the other arm's (order rotating), so both see the same machine. A
round is one pair of segments; requests/s and client CPU per call (this process's
`time.process_time`, the server runs in another process) are compared per round and
the median ratio reported.

The stub's own CPU time over the run gives its capacity (requests per CPU-second of
its single thread; it runs on uvloop when that is installed). The check is that it
could serve >= 10x the baseline's load, so the baseline describes the client, not the
server. closedpaw_nb's arm runs far faster than the baseline and may use a large part
of the stub's capacity (reported): there the stub can only hold our figure down, so
our req/s is a lower bound and the ratio an understatement; CPU per call is the
client's own either way.
"""

from __future__ import annotations

import asyncio
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
    client = _clients.raw_client()
    manager = _clients.ours_manager({"bench": base_url})
    arms = {"raw": _clients.raw_arm(client, base_url), "ours": _clients.ours_arm(manager, "bench")}
    try:
        for arm in arms.values():
            await _drive(arm, concurrency * 4, concurrency)  # open the pool's connections
        before = server.stats()
        rounds = [await _round(arms, calls // segments, concurrency, i) for i in range(segments)]
        after = server.stats()
    finally:
        await client.aclose()
        await manager.close_all()
    return _result(rounds, before, after, calls, concurrency)


async def _round(arms: dict[str, Any], calls: int, concurrency: int, index: int) -> dict[str, float]:
    names = list(arms)[index % 2 :] + list(arms)[: index % 2]
    stats: dict[str, float] = {}
    for name in names:
        cpu, wall = time.process_time(), time.perf_counter()
        await _drive(arms[name], calls, concurrency)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        stats[f"{name}_rps"] = calls / wall
        stats[f"{name}_cpu_us"] = cpu / calls * 1e6
    return stats


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
        at_least("req/s ours / raw httpx", median_ratio(rounds, "ours_rps", "raw_rps"), 0.8),
        at_most("client CPU per call ours / raw", median_ratio(rounds, "ours_cpu_us", "raw_cpu_us"), 1.5),
        info("req/s raw httpx", median([r["raw_rps"] for r in rounds]), "absolute"),
        info("client CPU per call raw (us)", median([r["raw_cpu_us"] for r in rounds]), "absolute"),
        info("req/s ours (a lower bound, see the stub load)", median([r["ours_rps"] for r in rounds]), "absolute"),
        at_most("stub load, raw arm: peak req/s / its capacity", peak_raw / capacity, 0.1),
        info("stub load, our arm: peak req/s / its capacity", peak_ours / capacity),
    ]
    return result
