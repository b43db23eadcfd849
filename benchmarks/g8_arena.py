"""G8, arena ranking at scale: Bradley–Terry `ranking()` of 100,000 battles over 20 targets.

Synthetic battles (20 targets with known log-strengths drawn from N(0, 1), 8% ties and 2%
both-bad verdicts, the rest won with the BT probability), made once. Importing scipy's
parts (0 when an earlier goal already did) and the first call are timed on their own.
Each round then times `evals.bradley_terry.ranking` with 1,000 bootstrap rounds, next to
the point fit alone (`fit_bradley_terry`), so the bootstrap's share is visible. Reported:
seconds (median of rounds), battles per second and the ratio to the point fit; the target
is under 10 s. The rank correlation of fitted and true strengths is reported too, as a
check that the timed code did the real work.
"""

from __future__ import annotations

import time
from typing import Any

from ._common import Check, GoalResult, at_most, info, median, median_ratio

__all__ = ["run"]

TITLE = "arena ranking: 100k battles, 20 targets, 1,000 bootstrap rounds"


def _battles(n: int, targets: int) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(8)
    truth = rng.normal(0, 1, targets)
    names = np.array([f"p{i}:m" for i in range(targets)], dtype=object)
    a = rng.integers(0, targets, n)
    b = (a + rng.integers(1, targets, n)) % targets  # never a target against itself
    a_wins = rng.random(n) < 1 / (1 + np.exp(truth[b] - truth[a]))
    u = rng.random(n)
    winner = np.where(u < 0.08, "tie", np.where(u < 0.10, "both_bad", np.where(a_wins, "a", "b")))
    frame = pd.DataFrame({"model_a": names[a], "model_b": names[b], "winner": winner})
    return frame, pd.Series(truth - truth.mean(), index=names)


def _import_scipy() -> None:
    import scipy.optimize
    import scipy.sparse.csgraph
    import scipy.special  # noqa: F401 - imported to be timed


def _seconds(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(server: Any = None, *, quick: bool = False) -> GoalResult:
    from closedpaw_nb.evals.bradley_terry import fit_bradley_terry, ranking

    n, targets, boot = (5_000, 20, 100) if quick else (100_000, 20, 1000)
    battles, truth = _battles(n, targets)
    scipy_import = _seconds(_import_scipy)
    first = _seconds(lambda: ranking(battles, rounds=boot))
    rounds = []
    for _ in range(2 if quick else 5):
        rounds.append(
            {
                "fit": _seconds(lambda: fit_bradley_terry(battles)),
                "ranking": _seconds(lambda: ranking(battles, rounds=boot)),
            }
        )
    seconds = median([r["ranking"] for r in rounds])
    fitted = fit_bradley_terry(battles)
    # Spearman rather than a distance: ties drawn at random pull every strength towards 0
    agreement = float(fitted.corr(truth.loc[fitted.index], method="spearman"))
    label = f"ranking of {n:,} battles, {boot:,} rounds (s)"
    checks: list[Check] = [
        info(label, round(seconds, 3)) if quick else at_most(label, round(seconds, 3), 10.0, " s"),
        info("battles per second", round(n / seconds)),
        info("importing scipy.optimize/sparse/special (s)", round(scipy_import, 3)),
        info("first ranking call (s)", round(first, 3)),
        info("ranking / point fit alone", round(median_ratio(rounds, "ranking", "fit"), 1)),
        info("Spearman(fitted, true strengths)", round(agreement, 4)),
    ]
    return GoalResult(
        "G8",
        TITLE,
        checks=checks,
        details={"battles": n, "targets": targets, "bootstrap_rounds": boot, "rounds": rounds},
    )
