"""G1, per-call overhead: `ProviderManager.chat` against a raw aiohttp POST, one call at a time.

Non-streaming calls to the zero-delay stub. Each round interleaves the arms in small
blocks (rotating their order), so drift in machine load hits every arm alike; p50 and
p99 are taken per arm per round, ratios per round, and the median over rounds is
reported. Raw httpx, the official openai SDK and LiteLLM (when installed) run in the same
rounds as reference rows. "Added time" is an arm's p50 minus raw aiohttp's p50.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from . import _clients
from ._common import (
    GoalResult,
    StubServer,
    at_most,
    info,
    median,
    median_ratio,
    percentile,
)

__all__ = ["run"]

TITLE = "per-call overhead (concurrency 1, non-streaming, zero-delay server)"


def run(server: StubServer, quick: bool = False, litellm: bool = True) -> GoalResult:
    """Measure G1; `quick` runs tiny rounds (smoke test), `litellm` includes LiteLLM if installed."""
    rounds, blocks, per_block = (2, 2, 5) if quick else (9, 12, 25)
    return asyncio.run(_measure(server, rounds, blocks, per_block, litellm and _clients.has_litellm()))


async def _measure(server: StubServer, rounds: int, blocks: int, per_block: int, with_litellm: bool) -> GoalResult:
    arms, cleanup = _arms(server.base_url("fast"), with_litellm)
    try:
        for arm in arms.values():
            for _ in range(max(per_block, 20)):  # connections open, caches fill
                await arm()
        stats = [await _round(arms, blocks, per_block) for _ in range(rounds)]
    finally:
        for close in cleanup:
            await close()
    return _result(stats, rounds * blocks * per_block)


def _arms(base_url: str, with_litellm: bool) -> tuple[dict[str, Any], list[Any]]:
    session = _clients.aiohttp_session()
    client = _clients.raw_client()
    manager = _clients.ours_manager({"bench": base_url})
    sdk, sdk_client = _clients.openai_arm(base_url)
    arms = {
        "raw": _clients.aiohttp_arm(session, base_url),
        "ours": _clients.ours_arm(manager, "bench"),
        "httpx": _clients.raw_arm(client, base_url),
        "openai": sdk,
    }
    if with_litellm:
        arms["litellm"] = _clients.litellm_arm(base_url)
    return arms, [session.close, client.aclose, manager.close_all, sdk_client.close]


async def _round(arms: dict[str, Any], blocks: int, per_block: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in arms}
    names = list(arms)
    for block in range(blocks):
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:
            arm, out = arms[name], samples[name]
            for _ in range(per_block):
                started = time.perf_counter()
                await arm()
                out.append(time.perf_counter() - started)
    stats = {}
    for name, values in samples.items():
        stats[f"{name}_p50"] = percentile(values, 50) * 1e6
        stats[f"{name}_p99"] = percentile(values, 99) * 1e6
    return stats


def _result(stats: list[dict[str, float]], calls: int) -> GoalResult:
    result = GoalResult("G1", TITLE, details={"rounds": stats, "calls_per_arm": calls, "unit": "microseconds"})
    result.checks += [
        at_most("p50 ours / raw aiohttp", median_ratio(stats, "ours_p50", "raw_p50"), 1.20),
        at_most("p99 ours / raw aiohttp", median_ratio(stats, "ours_p99", "raw_p99"), 1.35),
        info("p50 raw httpx / raw aiohttp", median_ratio(stats, "httpx_p50", "raw_p50")),
        info("p50 openai SDK / raw aiohttp", median_ratio(stats, "openai_p50", "raw_p50")),
        info("p50 raw aiohttp (us)", median([s["raw_p50"] for s in stats]), "absolute"),
        info("added p50 ours (us)", median([s["ours_p50"] - s["raw_p50"] for s in stats]), "absolute"),
    ]
    if "litellm_p50" in stats[0]:
        result.checks += [
            info("p50 litellm / raw aiohttp", median_ratio(stats, "litellm_p50", "raw_p50")),
            at_most(
                "added time ours / added litellm",
                median([_added(s, "ours") / _added(s, "litellm") for s in stats]),
                0.2,
            ),
        ]
    else:
        result.checks.append(info("litellm", "not installed", "skipped"))
    return result


def _added(stats: dict[str, float], arm: str) -> float:
    return stats[f"{arm}_p50"] - stats["raw_p50"]
