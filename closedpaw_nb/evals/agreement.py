"""Agreement between voters, and a judge's verdicts with the answers swapped.

Pure: DataFrames and sequences in, numbers and DataFrames out; no I/O.

- `cohen_kappa` / `agreement`: how often two voters (people or model judges) gave the same
  verdict on the battles both voted on, and Cohen's κ, which discounts the agreement their own
  label frequencies would give by chance.
- `combine_swapped` / `inconsistency_rate`: MT-Bench's control for position bias. A judge sees
  each battle twice, the answers swapped; a verdict that changes with the order is a tie and
  counts as inconsistent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .bradley_terry import VERDICTS, require_columns

__all__ = ["agreement", "cohen_kappa", "combine_swapped", "inconsistency_rate"]


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Cohen's κ = (p_o − p_e) / (1 − p_e) between two raters' labels of the same items.

    p_o is the share of items labelled alike; p_e = Σ_k p_a(k)·p_b(k) is the agreement
    expected by chance from each rater's own label frequencies. Categories are the labels
    either rater used. NaN when there are no items or p_e = 1 (both gave one and the same
    label throughout: chance explains everything and κ is undefined).
    """
    x, y = pd.Series(list(a), dtype=object), pd.Series(list(b), dtype=object)
    if len(x) != len(y):
        raise ConfigError(f"cohen_kappa needs one label per item from each rater: {len(x)} vs {len(y)}")
    if x.isna().any() or y.isna().any():
        raise ConfigError("cohen_kappa got a missing label: drop the items either rater left unlabelled")
    codes, labels = pd.factorize(pd.concat([x, y], ignore_index=True))
    k, n = len(labels), len(x)
    if n == 0:
        return math.nan
    confusion = np.bincount(codes[:n] * k + codes[n:], minlength=k * k).reshape(k, k) / n
    p_o, p_e = float(np.trace(confusion)), float(confusion.sum(axis=1) @ confusion.sum(axis=0))
    return math.nan if p_e >= 1 else (p_o - p_e) / (1 - p_e)


def agreement(votes: pd.DataFrame) -> pd.DataFrame:
    """Percent agreement and Cohen's κ for every pair of voters, over the battles both voted on.

    Args:
        votes: Columns ``battle``, ``voter`` and ``verdict`` (verdicts relative to the battle's
            own A/B, so voters who saw another order must be mapped back first). Missing
            verdicts are left out. A voter's later row for the same battle replaces the earlier.

    Returns:
        One row per pair of voters (in first-seen order): ``voter_a``, ``voter_b``, ``battles``
        (voted by both), ``agreement`` (share of those with the same verdict, 0..1) and
        ``kappa``; both NaN when the pair shares no battle.
    """
    require_columns(votes, ("battle", "voter", "verdict"), "votes")
    kept = votes.dropna(subset=["verdict"]).drop_duplicates(["battle", "voter"], keep="last")
    table = kept.pivot(index="battle", columns="voter", values="verdict")
    voters = list(pd.unique(votes["voter"]))
    rows = []
    for i, first in enumerate(voters):
        for second in voters[i + 1 :]:
            both = table[[first, second]].dropna() if {first, second} <= set(table.columns) else table.iloc[:0, :0]
            same = both.iloc[:, 0].eq(both.iloc[:, 1]).mean() if len(both) else math.nan
            kappa = cohen_kappa(both.iloc[:, 0], both.iloc[:, 1]) if len(both) else math.nan
            rows.append({"voter_a": first, "voter_b": second, "battles": len(both), "agreement": same, "kappa": kappa})
    return pd.DataFrame(rows, columns=["voter_a", "voter_b", "battles", "agreement", "kappa"])


def combine_swapped(first: str | None, second: str | None) -> tuple[str | None, bool | None]:
    """Combine a judge's verdict on (A, B) with its verdict on (B, A), mapped back to (A, B).

    Equal verdicts stand and are consistent. Any change with the order (a↔b, or a preference
    against a tie) gives "tie" and is inconsistent, as MT-Bench does: position bias must not
    decide a battle. A missing verdict on either side gives ``(None, None)``: missing, never
    a tie, and not counted in `inconsistency_rate`.
    """
    if _is_missing(first) or _is_missing(second):
        return None, None
    for verdict in (first, second):
        if verdict not in VERDICTS:
            raise ConfigError(f"unknown verdict {verdict!r}: use one of {', '.join(VERDICTS)}")
    return (first, True) if first == second else ("tie", False)


def inconsistency_rate(first: Sequence[str | None], second: Sequence[str | None]) -> float:
    """Share of battles, among those with both verdicts present, whose verdict changed with the order."""
    if len(first) != len(second):
        raise ConfigError(f"need one swapped verdict per verdict: {len(first)} vs {len(second)}")
    flags = [combine_swapped(a, b)[1] for a, b in zip(first, second, strict=True)]
    judged = [flag for flag in flags if flag is not None]
    return sum(not flag for flag in judged) / len(judged) if judged else math.nan


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
