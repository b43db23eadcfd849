"""closedpaw_nb's performance suite (issue 8): `python -m benchmarks`.

Every goal compares arms side by side in one run and reports medians of per-round
ratios, because absolute times on a shared 2-core machine are noisy:

- G1 per-call overhead: `ProviderManager.chat` vs raw aiohttp (raw httpx, the openai SDK and
  LiteLLM as reference rows).
- G2 throughput: 10,000 calls at concurrency 64 vs raw aiohttp with the same pool limit
  (raw httpx as a reference row).
- G3 matrix fan-out: 1,024 calls at concurrency 64 vs the ideal and a hand-written
  semaphore + gather over raw aiohttp (over raw httpx, and around `asyncio.sleep` as the
  event loop's own floor, reported).
- G4 timing fidelity: reported TTFT and inter-token latency vs what the server did.
- G5 import and footprint: cold import time and memory vs openai and LiteLLM.
- G6 steady state: ten 1,000-call benchmarks in one process; no growth, no leaks.
- G7 statistics at scale: summarize() and an evaluation leaderboard() on 1,000,000 rows.
- G8 arena ranking: Bradley–Terry ranking() of 100,000 battles, 1,000 bootstrap rounds.

`python -m benchmarks.instructions` counts instructions per call with valgrind instead of
timing them (repeatable on a noisy machine): raw aiohttp, our transport, a provider, the
whole stack and one benchmark row.

All traffic goes to a stub server (`benchmarks.stub`) in its own process on 127.0.0.1;
a network guard (`benchmarks._guard`) refuses anything else. The suite never asserts
timings in tests: `tests/test_benchmarks_smoke.py` only runs `--quick`.
"""

from __future__ import annotations

from . import g1_overhead, g2_throughput, g3_fanout, g4_timing, g5_import, g6_steady, g7_summaries, g8_arena

GOALS = {
    "G1": g1_overhead,
    "G2": g2_throughput,
    "G3": g3_fanout,
    "G4": g4_timing,
    "G5": g5_import,
    "G6": g6_steady,
    "G7": g7_summaries,
    "G8": g8_arena,
}
