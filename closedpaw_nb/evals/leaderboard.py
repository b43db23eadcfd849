"""Scores as DataFrames: the scored call table, the leaderboard and paired comparisons.

Pure (no I/O). Every aggregate carries its uncertainty: a score's mean comes with a
bootstrap confidence interval over **items** (the trials of one item resampled together,
`stats.mean_ci`), and two targets are compared on the items both answered
(`stats.paired_difference`, plus McNemar's exact test when the scores are 0/1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from .stats import mcnemar_exact, mean_ci, paired_difference

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["join_scores", "leaderboard", "paired_comparison"]

CALL_KEY = ["target", "prompt_id", "trial"]


def join_scores(
    calls: pd.DataFrame, scores: Sequence[Mapping[str, Any]], items: pd.DataFrame, scorers: Sequence[str]
) -> pd.DataFrame:
    """Measured calls with one column per scorer (its value; NaN when missing), the score's
    `<scorer>_answer` and `<scorer>_explanation`, and the item's expected answer and metadata."""
    import pandas as pd

    measured = calls[~calls["warmup"].astype(bool)].copy() if len(calls) else calls.copy()
    measured["trial"] = measured["trial"].astype("int64")
    table = pd.DataFrame(
        list(scores), columns=["target", "prompt_id", "trial", "scorer", "value", "answer", "explanation"]
    )
    for name in scorers:
        mine = table[table["scorer"] == name].drop(columns="scorer")
        mine = mine.rename(columns={"value": name, "answer": f"{name}_answer", "explanation": f"{name}_explanation"})
        mine["trial"] = mine["trial"].astype("int64")
        mine[name] = pd.to_numeric(mine[name], errors="coerce").astype("float64")
        measured = measured.merge(mine, on=CALL_KEY, how="left")
    if len(items):
        meta = items.drop(columns=[c for c in ("input",) if c in items.columns]).rename(columns={"id": "prompt_id"})
        meta["prompt_id"] = meta["prompt_id"].astype(str)
        clash = [c for c in meta.columns if c != "prompt_id" and c in measured.columns]
        measured = measured.merge(meta.drop(columns=clash), on="prompt_id", how="left")
    return measured.reset_index(drop=True)


def leaderboard(
    df: pd.DataFrame,
    scorers: Sequence[str],
    *,
    by: str | Sequence[str] = "target",
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per target (or per `by` group, e.g. ["target", "category"]), best first by the
    first scorer.

    Columns: the `by` columns, `n_items`; for each scorer `<name>` (mean over answered calls),
    `<name>_ci_low`, `<name>_ci_high` (bootstrap over items, trials kept together);
    `error_rate` (failed calls / calls), `latency_p50_ms` (ok calls),
    `cost_per_item_usd` (total cost / items; NaN when any cost is unknown) and
    `cost_per_correct_usd` (total cost / sum of the first scorer's values).
    """
    import pandas as pd

    keys = [by] if isinstance(by, str) else list(by)
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise ConfigError(f"cannot group by {', '.join(missing)}: the columns are {', '.join(map(str, df.columns))}")
    groups = df.groupby(keys, sort=False, dropna=False)
    rows = [dict(zip(keys, key, strict=True)) | _group_row(g, scorers, confidence, seed) for key, g in groups]
    columns = [*keys, "n_items"]
    for name in scorers:
        columns += [name, f"{name}_ci_low", f"{name}_ci_high"]
    columns += ["error_rate", "latency_p50_ms", "cost_per_item_usd", "cost_per_correct_usd"]
    board = pd.DataFrame(rows, columns=columns)
    if scorers and len(board):
        board = board.sort_values(scorers[0], ascending=False, na_position="last", kind="stable")
    return board.reset_index(drop=True)


def _group_row(g: pd.DataFrame, scorers: Sequence[str], confidence: float, seed: int) -> dict[str, Any]:
    row: dict[str, Any] = {"n_items": int(g["prompt_id"].nunique())}
    for name in scorers:
        values = g[name].to_numpy(dtype="float64") if name in g else np.full(len(g), np.nan)
        interval = mean_ci(values, g["prompt_id"].to_numpy(), confidence=confidence, seed=seed)
        row.update({name: interval.estimate, f"{name}_ci_low": interval.low, f"{name}_ci_high": interval.high})
    ok = g["ok"].astype(bool).to_numpy()
    row["error_rate"] = float(1 - ok.mean()) if len(ok) else np.nan
    latency = g.loc[ok, "latency_ms"].to_numpy(dtype="float64")
    row["latency_p50_ms"] = float(np.nanmedian(latency)) if np.isfinite(latency).any() else np.nan
    cost = g["cost_usd"].to_numpy(dtype="float64") if "cost_usd" in g else np.full(len(g), np.nan)
    total = float(cost.sum()) if len(cost) and np.isfinite(cost).all() else np.nan
    row["cost_per_item_usd"] = total / row["n_items"] if row["n_items"] else np.nan
    correct = float(np.nansum(g[scorers[0]].to_numpy(dtype="float64"))) if scorers and scorers[0] in g else 0.0
    row["cost_per_correct_usd"] = total / correct if correct > 0 else np.nan
    return row


def paired_comparison(
    df: pd.DataFrame, a: str, b: str, scorers: Sequence[str], *, confidence: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """`a` minus `b` per scorer on the items both answered: the mean difference and its CI
    (bootstrap over items); for 0/1 scores also McNemar's discordant counts and exact p."""
    import pandas as pd

    known = set(df["target"])
    missing = [t for t in (a, b) if t not in known]
    if missing:
        raise ConfigError(
            f"no target {', '.join(map(repr, missing))} in this run (targets: {', '.join(sorted(known))})"
        )
    rows = [_paired_row(df, a, b, name, confidence, seed) for name in scorers]
    return pd.DataFrame(
        rows,
        columns=["scorer", "a", "b", "n_items", "difference", "ci_low", "ci_high", "a_better", "b_better", "mcnemar_p"],
    )


def _paired_row(df: pd.DataFrame, a: str, b: str, name: str, confidence: float, seed: int) -> dict[str, Any]:
    per_item = df.groupby(["target", "prompt_id"])[name].mean().unstack("target")
    both = per_item[[a, b]].dropna()
    interval = paired_difference(
        both[a].to_numpy(), both[b].to_numpy(), both.index.to_numpy(), confidence=confidence, seed=seed
    )
    row: dict[str, Any] = {
        "scorer": name,
        "a": a,
        "b": b,
        "n_items": len(both),
        "difference": interval.estimate,
        "ci_low": interval.low,
        "ci_high": interval.high,
        "a_better": np.nan,
        "b_better": np.nan,
        "mcnemar_p": np.nan,
    }
    if len(both) and both.isin([0.0, 1.0]).all().all():
        test = mcnemar_exact(both[a].to_numpy(), both[b].to_numpy())
        row.update(a_better=test.b10, b_better=test.b01, mcnemar_p=test.p_value)
    return row
