"""G4, timing fidelity: does closedpaw_nb report the TTFT and inter-token latency the server made?

The stub streams a role-only first frame at once (empty content, which must not count
as the first token), the first content 200 ms after the request arrived, then one delta
every 20 ms (64 deltas in all, paced against an absolute schedule), then finish and
usage in the same write as the last delta.

- TTFT ratio: the ChatResponse's `ttft_ms` / the true TTFT, which is when the stub
  actually sent the first content (200 ms after the request arrived, plus however late
  its own process was scheduled; it reports that per stream). The client's clock starts
  before the request is sent, so transit can only add; [1.00, 1.02] allows 4 ms.
- ITL ratio: `rates.derive_timing(...)["itl_ms"]` (from usage tokens, as the DataFrame
  shows it) / 20 ms.
- Every stream must yield exactly 64 deltas.
- Load: per round, one stream alone, then 32 at once; median TTFT at 32 / TTFT alone.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from . import _clients
from ._common import Check, GoalResult, StubServer, at_most, between, info, median

__all__ = ["run"]

TITLE = "timing fidelity (TTFT 200 ms, 64 deltas every 20 ms)"


def run(server: StubServer, quick: bool = False) -> GoalResult:
    """Measure G4; `quick` uses a 20 ms / 2 ms / 8-delta stream at concurrency 4."""
    shape = (
        {"ttft": 20, "itl": 2, "deltas": 8, "concurrency": 4, "rounds": 1}
        if quick
        else {"ttft": 200, "itl": 20, "deltas": 64, "concurrency": 32, "rounds": 6}
    )
    return asyncio.run(_measure(server, shape))


async def _measure(server: StubServer, shape: dict[str, int]) -> GoalResult:
    mode = f"g4-{shape['ttft']}-{shape['itl']}-{shape['deltas']}"
    manager = _clients.ours_manager({"g4": server.base_url(mode)})
    try:
        await asyncio.gather(*(_stream(manager) for _ in range(shape["concurrency"])))  # warm the pool
        rounds = []
        for _ in range(shape["rounds"]):
            alone = await _stream(manager)
            alone["true_ttft_ms"] = server.stats()["paced"][-1][0]
            loaded = list(await asyncio.gather(*(_stream(manager) for _ in range(shape["concurrency"]))))
            sent = server.stats()["paced"][-len(loaded) :]
            rounds.append(
                {
                    "alone": alone,
                    "loaded": loaded,
                    "loaded_true_ttft_ms": median([p[0] for p in sent]),
                    # how long after the calls began their requests reached the server
                    "loaded_arrival_ms": median([(p[2] - min(s["began"] for s in loaded)) * 1000 for p in sent]),
                }
            )
    finally:
        await manager.close_all()
    return _result(rounds, shape, server.stats())


async def _stream(manager: Any) -> dict[str, float]:
    """One streamed call: the library's own timings, plus the gaps this caller saw."""
    from closedpaw_nb.bench.rates import derive_timing

    began = time.perf_counter()
    stream = manager.stream(_clients.MESSAGES, "g4")
    seen = []
    async for _ in stream:
        seen.append(time.perf_counter())
    response = stream.response
    timing = derive_timing(response.ttft_ms, response.latency_ms, response.completion_tokens)
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(seen)]
    return {
        "ttft_ms": response.ttft_ms,
        "latency_ms": response.latency_ms,
        "itl_ms": timing["itl_ms"],
        "deltas": len(seen),
        "completion_tokens": response.completion_tokens,
        "seen_gap_ms": median(gaps) if gaps else float("nan"),
        "began": began,
    }


def _result(rounds: list[dict[str, Any]], shape: dict[str, int], stats: dict[str, float]) -> GoalResult:
    alone = [r["alone"] for r in rounds]
    every = alone + [s for r in rounds for s in r["loaded"]]
    full = sum(s["deltas"] == shape["deltas"] for s in every)
    loaded_ttft = [median([s["ttft_ms"] for s in r["loaded"]]) for r in rounds]
    result = GoalResult(
        "G4",
        TITLE,
        details={"shape": shape, "rounds": [_summary(r) for r in rounds], "stub_late_max_ms": stats["late_max_ms"]},
    )
    result.checks += [
        between("TTFT measured / true (alone)", median([s["ttft_ms"] / s["true_ttft_ms"] for s in alone]), 1.00, 1.02),
        info(
            "TTFT measured / true (under load)",
            median([m / r["loaded_true_ttft_ms"] for m, r in zip(loaded_ttft, rounds, strict=False)]),
        ),
        between("ITL (from usage) / true", median([s["itl_ms"] / shape["itl"] for s in every]), 0.97, 1.05),
        info("gap between deltas as seen / true", median([s["seen_gap_ms"] / shape["itl"] for s in every])),
        Check(
            "streams with exactly the sent deltas", f"{full}/{len(every)}", f"all {shape['deltas']}", full == len(every)
        ),
        at_most(
            f"TTFT at concurrency {shape['concurrency']} / alone",
            median([m / r["alone"]["ttft_ms"] for m, r in zip(loaded_ttft, rounds, strict=False)]),
            1.05,
        ),
        info("stub: true TTFT / scheduled (alone)", median([s["true_ttft_ms"] for s in alone]) / shape["ttft"]),
        info(
            f"requests reach the stub, median after start (ms, c={shape['concurrency']})",
            median([r["loaded_arrival_ms"] for r in rounds]),
            "absolute",
        ),
    ]
    return result


def _summary(round_: dict[str, Any]) -> dict[str, Any]:
    """A round for the results file: the lone stream, and medians of the loaded ones."""
    loaded = round_["loaded"]
    keys = ("ttft_ms", "latency_ms", "itl_ms", "seen_gap_ms")
    return {
        "alone": {k: v for k, v in round_["alone"].items() if k != "began"},
        "loaded_median": {k: median([s[k] for s in loaded]) for k in keys},
        "loaded_deltas": sorted({s["deltas"] for s in loaded}),
        "loaded_true_ttft_ms": round_["loaded_true_ttft_ms"],
        "loaded_arrival_ms": round_["loaded_arrival_ms"],
    }
