"""Statistics for evaluation scores: bootstrap CIs over items, paired differences, McNemar.

Pure: arrays in, numbers out; no I/O, no global state, inputs never mutated. Every random
draw comes from ``numpy.random.default_rng(seed)`` with ``seed=0`` by default, so the same
call gives the same interval.

The unit of resampling is the **item** (the cluster), never the call: the trials of one
item are correlated (an item one model finds hard stays hard on every trial), so treating
them as independent observations makes intervals too narrow. `mean_ci` resamples whole
clusters with replacement; with one trial per item, or ``clusters=None``, this is the
ordinary bootstrap of the mean.

Missing scores are NaN (a grader that could not decide, a call that failed). They are
left out of every estimate here and are not counted in it; count and report them next to
the interval, e.g. ``int(np.isnan(scores).sum())``.

Cost. Grouping is O(rows) (``pandas.factorize`` + ``numpy.bincount``). The bootstrap then
draws an (n_boot x n_clusters) matrix of cluster indices, in batches of about 4 million
entries (~32 MB) so memory stays bounded, and gathers per-cluster sums (and per-cluster
counts when clusters hold unequal numbers of scores): O(n_boot x n_clusters), about 10 ns
per draw while the per-cluster arrays fit in cache and about 20 ns beyond. Measured on one
core with n_boot=2000: 1,000 items ~0.02 s, 10,000 items ~0.2 s, 1,000,000 items ~22 s.
Only the grouping sees rows, so 1,000,000 rows over 1,000 items take ~0.05 s in all; lower
`n_boot` when every row is its own item.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

__all__ = ["Interval", "McNemar", "mcnemar_exact", "mean_ci", "paired_difference"]

_BATCH_ENTRIES = 4_000_000  # resampled indices held in memory at once
_EXACT_MAX_N = 10_000  # McNemar: exact integer sums up to this many discordant pairs

Seed = int | np.random.Generator | None


class Interval(NamedTuple):
    """A point estimate with its confidence interval; bounds are NaN when undefined."""

    estimate: float
    low: float
    high: float


class McNemar(NamedTuple):
    """Discordant counts of two paired binary outcomes and the exact two-sided p-value."""

    b01: int
    """Pairs where `a` failed (0) and `b` succeeded (1)."""
    b10: int
    """Pairs where `a` succeeded (1) and `b` failed (0)."""
    p_value: float


def mean_ci(
    values: Sequence[float] | np.ndarray | pd.Series,
    clusters: Sequence[Any] | np.ndarray | pd.Series | None = None,
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: Seed = 0,
    weight: Literal["value", "cluster"] = "value",
) -> Interval:
    """Mean of `values` with a percentile bootstrap CI that resamples whole clusters.

    Each resample draws as many clusters as there are, with replacement; a drawn cluster
    brings all its scores (trials of one item go in or out together). The resampled mean
    is (sum of the drawn clusters' scores) / (number of those scores), so clusters holding
    unequal numbers of scores are weighted correctly. The interval is the
    ((1 - confidence) / 2, (1 + confidence) / 2) quantiles of the `n_boot` resampled means
    (numpy's linear interpolation). Percentile rather than BCa: scores are bounded means
    whose bootstrap distribution is close to symmetric for the item counts evals use, and
    the simulation tests show 95% intervals covering the true mean about 95% of the time;
    BCa's jackknife would add an O(n_clusters^2) step.

    Args:
        values: Scores, one per row (bools count as 0/1). NaN = missing: left out of the
            mean and of the resampling, and not counted (count them yourself).
        clusters: Cluster (item) id of each row, same length as `values`; rows sharing an
            id are resampled together. None: every row is its own cluster.
        confidence: Confidence level in (0, 1).
        n_boot: Number of bootstrap resamples.
        seed: Seed (or a ``numpy.random.Generator``) for the resampling; None draws fresh
            entropy (not reproducible).
        weight: "value" weights every score equally (mean of all scores); "cluster" first
            averages each cluster's scores, then weights every cluster equally (mean of
            item means). The two agree when every cluster holds the same number of scores.

    Returns:
        ``Interval(estimate, low, high)``. No scores: all three NaN. A single cluster: the
        mean with NaN bounds (nothing to resample).

    Raises:
        ValueError: On mismatched lengths, a missing cluster id, or bad parameters.
    """
    _check_params(confidence, n_boot)
    if weight not in ("value", "cluster"):
        raise ValueError(f"weight must be 'value' or 'cluster', not {weight!r}")
    v = _as_scores(values, "values")
    counts: np.ndarray | None = None  # None: `sums` holds one score (or cluster mean) per cluster
    if clusters is None:
        sums = v[~np.isnan(v)]
    else:
        codes, uniques = _cluster_codes(clusters, v.size, "clusters")
        sums, sizes, _ = _cluster_totals(v, codes, uniques.size)
        if weight == "cluster" or np.all(sizes == sizes[:1]):
            sums = sums / sizes  # equal sizes: the mean of all scores is the mean of cluster means
        else:
            counts = sizes
    if sums.size == 0:
        return Interval(math.nan, math.nan, math.nan)
    estimate = float(sums.sum() / (counts.sum() if counts is not None else sums.size))
    return _interval(estimate, sums, counts, confidence, n_boot, seed)


def paired_difference(
    a: Sequence[float] | np.ndarray | pd.Series,
    b: Sequence[float] | np.ndarray | pd.Series,
    items: Sequence[Any] | np.ndarray | pd.Series,
    *,
    items_b: Sequence[Any] | np.ndarray | pd.Series | None = None,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: Seed = 0,
) -> Interval:
    """Mean difference a - b over the items both were scored on, with a bootstrap CI over items.

    Per item, each side's scores are first averaged over its trials (NaN left out); the
    sides are then joined on item id, and d_i = mean_a(i) - mean_b(i). The estimate is the
    mean of d_i (every shared item weighted equally) and the CI a percentile bootstrap of
    that mean, resampling items. Pairing removes the item-difficulty variance the two
    targets share, so this interval is narrower than comparing two separate `mean_ci`
    intervals whenever the targets find the same items hard.

    Args:
        a: Scores of the first target, one per row.
        b: Scores of the second target, one per row.
        items: Item id of each row of `a` (and of `b` when `items_b` is None, in which case
            `a` and `b` must have the same length).
        items_b: Item id of each row of `b`, when `b`'s rows differ from `a`'s (other
            trials, another order, missing items). Items present on one side only, or
            whose scores are all NaN on a side, are left out.
        confidence: Confidence level in (0, 1).
        n_boot: Number of bootstrap resamples.
        seed: Seed (or a ``numpy.random.Generator``) for the resampling.

    Returns:
        ``Interval(estimate, low, high)``: the difference a - b and its CI. No shared item:
        all NaN; one shared item: NaN bounds.

    Raises:
        ValueError: On mismatched lengths, a missing item id, or bad parameters.
    """
    _check_params(confidence, n_boot)
    mean_a = _item_means(a, items, "a")
    mean_b = _item_means(b, items if items_b is None else items_b, "b")
    joined = pd.concat([mean_a, mean_b], axis=1, join="inner").dropna()
    d = (joined.iloc[:, 0] - joined.iloc[:, 1]).to_numpy(dtype=float)
    if d.size == 0:
        return Interval(math.nan, math.nan, math.nan)
    return _interval(float(d.mean()), d, None, confidence, n_boot, seed)


def mcnemar_exact(a: Sequence[float] | np.ndarray | pd.Series, b: Sequence[float] | np.ndarray | pd.Series) -> McNemar:
    """Exact two-sided McNemar test for paired binary outcomes (one per item, same order).

    Only discordant pairs carry information: b01 = #(a 0, b 1), b10 = #(a 1, b 0). Under
    the null of equal success rates each discordant pair is a fair coin, so with
    n = b01 + b10 and m = min(b01, b10):

        p = min(1, 2 * sum_{k=0..m} C(n, k) / 2^n)

    computed with exact integers up to n = 10,000 and in log space (with `math.lgamma`)
    beyond. n = 0 gives p = 1. With several trials per item, compare item means with
    `paired_difference` instead: McNemar assumes one observation per item.

    Args:
        a: Outcomes of the first target: 0/1 or bools; NaN = missing.
        b: Outcomes of the second target on the same items, in the same order. A pair
            with either side missing is left out.

    Raises:
        ValueError: On mismatched lengths or a value other than 0, 1 or NaN.
    """
    x, y = _as_scores(a, "a"), _as_scores(b, "b")
    if x.size != y.size:
        raise ValueError(f"a and b must be paired: {x.size} vs {y.size} outcomes")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    bad = ~np.isin(x, (0.0, 1.0)) | ~np.isin(y, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"McNemar needs binary outcomes (0/1 or bool); found {sorted(set(x[bad]) | set(y[bad]))[:5]}")
    b01 = int(np.count_nonzero((x == 0) & (y == 1)))
    b10 = int(np.count_nonzero((x == 1) & (y == 0)))
    return McNemar(b01, b10, _two_sided_sign_p(b01, b10))


def _two_sided_sign_p(b: int, c: int) -> float:
    n, m = b + c, min(b, c)
    if n == 0:
        return 1.0
    if n <= _EXACT_MAX_N:
        term, tail = 1, 1  # C(n, 0); term(k+1) = term(k) * (n - k) / (k + 1), exact
        for k in range(m):
            term = term * (n - k) // (k + 1)
            tail += term
        return min(1.0, 2 * tail / (1 << n))  # int / int is correctly rounded
    return _log_two_sided_sign_p(n, m)


def _log_two_sided_sign_p(n: int, m: int) -> float:
    """The same tail for large n: log C(n, m) / 2^n from lgamma, then the smaller terms by
    the ratio C(n, k-1) / C(n, k) = k / (n - k + 1), summed with log-sum-exp."""
    log_top = math.lgamma(n + 1) - math.lgamma(m + 1) - math.lgamma(n - m + 1) - n * math.log(2)
    k = np.arange(m, 0, -1, dtype=float)
    logs = log_top + np.concatenate(([0.0], np.cumsum(np.log(k) - np.log(n - k + 1))))
    log_tail = logs.max() + math.log(float(np.exp(logs - logs.max()).sum()))
    return min(1.0, 2 * math.exp(log_tail))


def _check_params(confidence: float, n_boot: int) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence!r}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, not {n_boot!r}")


def _as_scores(values: Sequence[float] | np.ndarray | pd.Series, name: str) -> np.ndarray:
    arr: np.ndarray
    if isinstance(values, pd.Series):
        arr = pd.to_numeric(values, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    else:
        arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, not shape {arr.shape}")
    return arr


def _cluster_codes(ids: Sequence[Any] | np.ndarray | pd.Series, n: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer code of each row's id (0..k-1, first-seen order) and the k distinct ids."""
    arr = ids if isinstance(ids, (np.ndarray, pd.Series)) else np.asarray(ids, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, not shape {arr.shape}")
    codes, uniques = pd.factorize(arr)
    if codes.size != n:
        raise ValueError(f"{name} must have one id per score: {codes.size} ids for {n} scores")
    if codes.size and codes.min() < 0:
        raise ValueError(f"{name} has a missing id (None/NaN) at row {int(np.argmin(codes))}")
    return codes, np.asarray(uniques, dtype=object)


def _cluster_totals(v: np.ndarray, codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-cluster sum and count of the non-NaN scores, and the mask of clusters that have any."""
    keep = ~np.isnan(v)
    counts = np.bincount(codes[keep], minlength=size).astype(float)
    sums = np.bincount(codes[keep], weights=v[keep], minlength=size)
    present = counts > 0
    return sums[present], counts[present], present


def _item_means(
    scores: Sequence[float] | np.ndarray | pd.Series, items: Sequence[Any] | np.ndarray | pd.Series, name: str
) -> pd.Series:
    v = _as_scores(scores, name)
    codes, uniques = _cluster_codes(items, v.size, f"items of {name}")
    sums, counts, present = _cluster_totals(v, codes, uniques.size)
    return pd.Series(sums / counts, index=pd.Index(uniques[present], dtype=object))


def _interval(
    estimate: float, sums: np.ndarray, counts: np.ndarray | None, confidence: float, n_boot: int, seed: Seed
) -> Interval:
    if sums.size < 2:
        return Interval(estimate, math.nan, math.nan)
    means = _bootstrap_means(sums, counts, n_boot, np.random.default_rng(seed))
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Interval(estimate, float(low), float(high))


def _bootstrap_means(sums: np.ndarray, counts: np.ndarray | None, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """`n_boot` resampled means: each draws len(sums) clusters with replacement and divides
    the drawn sums by the drawn counts (or by the number of clusters when `counts` is None,
    i.e. `sums` already holds one mean per cluster)."""
    c = sums.size
    batch = max(1, _BATCH_ENTRIES // c)
    out = np.empty(n_boot)
    for start in range(0, n_boot, batch):
        stop = min(n_boot, start + batch)
        idx = rng.integers(0, c, size=(stop - start, c))
        total = sums[idx].sum(axis=1)
        out[start:stop] = total / (counts[idx].sum(axis=1) if counts is not None else c)
    return out
