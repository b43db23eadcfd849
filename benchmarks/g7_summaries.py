"""G7, statistics at scale: `summarize()` and an evaluation `leaderboard()` on 1,000,000 rows.

Synthetic rows (8 targets, 1,000 items, mixed ok/failed, skewed latencies, a 0/1 score),
made once; each round times `frames.summarize` (with its median CIs) and
`evals.leaderboard.leaderboard` (item-bootstrap CIs) against a baseline in the same
process: pandas' own `groupby(...).median()` over the same rows. Reported: seconds, rows
per second, and the ratio to the baseline (median of per-round ratios).
"""

from __future__ import annotations

import time
from typing import Any

from ._common import Check, GoalResult, at_most, info, median, median_ratio

__all__ = ["run"]

TITLE = "summaries and leaderboard at 1M rows"


def _rows(n: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    targets = np.array([f"p{i}:m" for i in range(8)])
    return pd.DataFrame(
        {
            "target": targets[rng.integers(0, 8, n)],
            "prompt_id": rng.integers(0, 1000, n).astype(str),
            "trial": rng.integers(0, 3, n),
            "warmup": np.zeros(n, dtype=bool),
            "ok": rng.random(n) > 0.02,
            "latency_ms": rng.lognormal(6, 0.5, n),
            "ttft_ms": rng.lognormal(5, 0.5, n),
            "prompt_tokens": rng.integers(5, 50, n),
            "completion_tokens": rng.integers(5, 200, n),
            "cost_usd": rng.random(n) * 1e-4,
            "score": (rng.random(n) > 0.3).astype(float),
        }
    )


def _seconds(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(server: Any = None, *, quick: bool = False) -> GoalResult:
    from closedpaw_nb.bench.frames import summarize
    from closedpaw_nb.evals.leaderboard import leaderboard

    n = 20_000 if quick else 1_000_000
    df = _rows(n)
    rounds = []
    for _ in range(2 if quick else 5):
        rounds.append(
            {
                "baseline": _seconds(lambda: df.groupby("target")["latency_ms"].median()),
                "summarize": _seconds(lambda: summarize(df)),
                "leaderboard": _seconds(lambda: leaderboard(df, ["score"])),
            }
        )
    result = GoalResult("G7", TITLE, details={"rows": n, "rounds": rounds})
    for arm in ("summarize", "leaderboard"):
        seconds = median([r[arm] for r in rounds])
        checks: list[Check] = [
            at_most(f"{arm} on {n:,} rows (s)", round(seconds, 3), 2.0, " s")
            if not quick
            else info(f"{arm} on {n:,} rows (s)", round(seconds, 3)),
            info(f"{arm} rows per second", round(n / seconds)),
            info(f"{arm} / pandas groupby median", round(median_ratio(rounds, arm, "baseline"), 1)),
        ]
        result.checks += checks
    return result
