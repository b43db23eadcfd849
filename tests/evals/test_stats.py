"""Evaluation statistics, proven by simulation: coverage, clustering, pairing, McNemar."""

from __future__ import annotations

import math

import numpy as np
import pytest

from closedpaw_nb.evals.stats import (
    Interval,
    _log_two_sided_sign_p,
    _two_sided_sign_p,
    mcnemar_exact,
    mean_ci,
    paired_difference,
)


def _covers(ci: Interval, truth: float) -> bool:
    return ci.low <= truth <= ci.high


# --- mean_ci ---------------------------------------------------------------------------


@pytest.mark.slow  # a thousand simulated evaluations
def test_95_percent_ci_covers_a_known_accuracy_95_percent_of_the_time():
    # 1,000 simulated evaluations of 125 items, each correct with p = 0.7. (125 rather than
    # 100 keeps 0.7 off the 1/n grid of possible accuracies, so bounds that land exactly on
    # the truth do not inflate the count.) A 95% interval should cover 0.7 in 93-97% of
    # them (the binomial SE of the coverage over 1,000 runs is 0.7 points).
    rng = np.random.default_rng(2024)
    scores = rng.random((1000, 125)) < 0.7
    covered = sum(_covers(mean_ci(row, n_boot=1000, seed=i), 0.7) for i, row in enumerate(scores))
    assert 930 <= covered <= 970, covered


def _correlated_trials(rng: np.random.Generator, n_items: int, trials: int) -> tuple[np.ndarray, np.ndarray]:
    """Item difficulty p_i ~ Beta(0.35, 0.15) (mean 0.7, most p_i near 0 or 1), so the
    trials of one item are almost identical (intra-item correlation 1 / (0.5 + 1) = 2/3)."""
    p = rng.beta(0.35, 0.15, size=n_items)
    scores = rng.random((n_items, trials)) < p[:, None]
    return scores.ravel().astype(float), np.repeat(np.arange(n_items), trials)


def test_clustering_by_item_widens_the_ci_when_trials_are_correlated():
    rng = np.random.default_rng(7)
    ratios = []
    for i in range(20):
        scores, items = _correlated_trials(rng, 100, 5)
        clustered, naive = mean_ci(scores, items, seed=i), mean_ci(scores, seed=i)
        ratios.append((clustered.high - clustered.low) / (naive.high - naive.low))
    # design effect 1 + (5 - 1) * 2/3 = 3.7, so the width ratio should be near sqrt(3.7) = 1.9
    assert 1.6 < np.mean(ratios) < 2.2, np.mean(ratios)


def test_clustering_changes_little_when_trials_are_independent():
    rng = np.random.default_rng(8)
    ratios = []
    for i in range(20):
        scores = (rng.random(200 * 5) < 0.7).astype(float)
        items = np.repeat(np.arange(200), 5)
        clustered, naive = mean_ci(scores, items, seed=i), mean_ci(scores, seed=i)
        ratios.append((clustered.high - clustered.low) / (naive.high - naive.low))
    assert abs(np.mean(ratios) - 1) < 0.1, np.mean(ratios)


@pytest.mark.slow  # a thousand simulated evaluations
def test_clustered_ci_keeps_its_coverage_when_trials_are_correlated_and_the_naive_one_does_not():
    rng = np.random.default_rng(9)
    clustered = naive = 0
    for i in range(400):
        scores, items = _correlated_trials(rng, 100, 5)
        clustered += _covers(mean_ci(scores, items, n_boot=1000, seed=i), 0.7)
        naive += _covers(mean_ci(scores, n_boot=1000, seed=i), 0.7)
    assert 0.92 <= clustered / 400 <= 0.98, clustered
    assert naive / 400 < 0.80, naive


def test_unequal_cluster_sizes_resample_sum_over_count():
    # Same draws as mean_ci makes (one batch, clusters in first-seen order), computed the
    # slow way: concatenate every drawn cluster's scores and take their mean.
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 6, size=30)
    groups = [rng.random(k) for k in sizes]
    values, clusters = np.concatenate(groups), np.repeat(np.arange(30), sizes)
    draws = np.random.default_rng(11).integers(0, 30, size=(500, 30))
    slow = [np.concatenate([groups[j] for j in row]).mean() for row in draws]
    expected = np.quantile(slow, [0.05, 0.95])
    ci = mean_ci(values, clusters, confidence=0.90, n_boot=500, seed=11)
    assert ci.estimate == pytest.approx(values.mean())
    assert (ci.low, ci.high) == pytest.approx(tuple(expected))


def test_weight_cluster_averages_items_first():
    # item x: three correct trials; item y: one wrong trial
    values, clusters = [1, 1, 1, 0], ["x", "x", "x", "y"]
    assert mean_ci(values, clusters).estimate == pytest.approx(3 / 4)
    assert mean_ci(values, clusters, weight="cluster").estimate == pytest.approx((1 + 0) / 2)


def test_nan_scores_are_left_out_and_an_all_nan_cluster_disappears():
    with_nan = mean_ci([1, 0, math.nan, 1, math.nan], ["a", "b", "b", "c", "d"])
    without = mean_ci([1, 0, 1], ["a", "b", "c"])
    assert with_nan == without


def test_no_scores_or_a_single_cluster_give_nan_bounds_not_an_error():
    assert all(math.isnan(x) for x in mean_ci([]))
    assert all(math.isnan(x) for x in mean_ci([math.nan, math.nan]))
    single = mean_ci([1, 0, 1], ["q1", "q1", "q1"])
    assert single.estimate == pytest.approx(2 / 3) and math.isnan(single.low) and math.isnan(single.high)


def test_seeded_by_default_and_the_seed_matters():
    values = np.random.default_rng(0).random(50)
    assert mean_ci(values) == mean_ci(values)
    assert mean_ci(values, seed=1) != mean_ci(values, seed=2)
    assert mean_ci(values, seed=np.random.default_rng(5)) == mean_ci(values, seed=5)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="one id per score"):
        mean_ci([1, 0], ["a"])
    with pytest.raises(ValueError, match="missing id"):
        mean_ci([1, 0], ["a", None])
    with pytest.raises(ValueError, match="confidence"):
        mean_ci([1, 0], confidence=95)
    with pytest.raises(ValueError, match="weight"):
        mean_ci([1, 0], weight="item")  # type: ignore[arg-type]


# --- paired_difference -----------------------------------------------------------------


def test_identical_targets_differ_by_zero():
    rng = np.random.default_rng(1)
    scores = (rng.random(300) < 0.6).astype(float)
    items = np.repeat(np.arange(100), 3)
    diff = paired_difference(scores, scores.copy(), items)
    assert diff.estimate == 0 and _covers(diff, 0.0)


def _shared_difficulty(rng: np.random.Generator, delta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """300 items x 3 trials; B is right with p_i ~ U(0.1, 0.8), A with p_i + delta."""
    p = np.repeat(rng.uniform(0.1, 0.8, size=300), 3)
    a = (rng.random(p.size) < p + delta).astype(float)
    b = (rng.random(p.size) < p).astype(float)
    return a, b, np.repeat(np.arange(300), 3)


def test_a_better_target_by_delta_gets_a_ci_covering_delta_and_narrower_than_unpaired():
    a, b, items = _shared_difficulty(np.random.default_rng(2), 0.1)
    diff = paired_difference(a, b, items)
    assert _covers(diff, 0.1) and diff.low > 0, diff
    assert diff.estimate == pytest.approx(a.mean() - b.mean())
    # pairing removes the shared item difficulty: narrower than two separate intervals combined
    ca, cb = mean_ci(a, items), mean_ci(b, items)
    assert diff.high - diff.low < 0.8 * math.hypot(ca.high - ca.low, cb.high - cb.low)


@pytest.mark.slow  # a thousand simulated evaluations
def test_paired_difference_covers_delta_about_95_percent_of_the_time():
    rng = np.random.default_rng(4)
    covered = sum(
        _covers(paired_difference(*_shared_difficulty(rng, 0.1), n_boot=1000, seed=i), 0.1) for i in range(300)
    )
    assert 0.91 <= covered / 300 <= 0.99, covered


def test_paired_difference_joins_on_item_ids():
    a, b, items = _shared_difficulty(np.random.default_rng(5), 0.1)
    aligned = paired_difference(a, b, items)
    # b's rows shuffled, plus an item only b has: the join must give the same answer
    order = np.random.default_rng(6).permutation(b.size)
    b_rows, b_items = np.append(b[order], 1.0), np.append(items[order], 9999)
    assert paired_difference(a, b_rows, items, items_b=b_items) == aligned
    # a side whose scores for an item are all NaN drops that item
    a_nan = a.copy()
    a_nan[items == 0] = math.nan
    keep = items != 0
    assert paired_difference(a_nan, b, items) == paired_difference(a[keep], b[keep], items[keep])


def test_paired_difference_averages_trials_before_differencing():
    # item q1: a 2/2, b 1/2 -> +0.5; item q2: a 0/1, b 0/3 -> 0; mean over items 0.25
    diff = paired_difference([1, 1, 0], [1, 0, 0, 0, 0], ["q1", "q1", "q2"], items_b=["q1", "q1", "q2", "q2", "q2"])
    assert diff.estimate == pytest.approx(0.25)
    assert all(math.isnan(x) for x in paired_difference([1], [0], ["x"], items_b=["y"]))


# --- mcnemar_exact ---------------------------------------------------------------------


def test_mcnemar_matches_the_hand_computation():
    # b01 = 8 (a wrong, b right), b10 = 2; n = 10 discordant pairs, m = min = 2:
    # p = 2 * (C(10,0) + C(10,1) + C(10,2)) / 2^10 = 2 * (1 + 10 + 45) / 1024 = 112 / 1024 = 0.109375
    a = [0] * 8 + [1] * 2 + [1] * 30 + [0] * 5  # 30 both right and 5 both wrong carry no information
    b = [1] * 8 + [0] * 2 + [1] * 30 + [0] * 5
    result = mcnemar_exact(a, b)
    assert (result.b01, result.b10) == (8, 2)
    assert result.p_value == pytest.approx(0.109375, abs=1e-15)
    # 6 vs 0: p = 2 * C(6,0) / 2^6 = 2 / 64 = 0.03125
    assert mcnemar_exact([0] * 6, [1] * 6).p_value == pytest.approx(0.03125, abs=1e-15)


def test_mcnemar_edge_cases_and_missing_pairs():
    assert mcnemar_exact([1, 0], [1, 0]) == (0, 0, 1.0)  # no discordant pair
    assert mcnemar_exact([0, 1, 0, 1], [1, 0, 1, 0]).p_value == 1.0  # balanced: capped at 1
    assert mcnemar_exact([True, False, math.nan], [False, False, True]) == (0, 1, 1.0)  # NaN pair dropped
    with pytest.raises(ValueError, match="binary"):
        mcnemar_exact([0.5, 1], [1, 1])
    with pytest.raises(ValueError, match="paired"):
        mcnemar_exact([0, 1], [1])


@pytest.mark.parametrize(("n", "m"), [(10, 2), (101, 40), (2000, 950), (10_000, 4_900)])
def test_mcnemar_log_form_agrees_with_exact_integers(n, m):
    assert _log_two_sided_sign_p(n, m) == pytest.approx(_two_sided_sign_p(m, n - m), rel=1e-8)


def test_mcnemar_large_n_uses_the_log_form_and_stays_near_the_normal_approximation():
    b01, b10 = 60_000, 59_000  # n = 119,000 > the exact-integer limit
    z = (abs(b01 - b10) - 1) / math.sqrt(b01 + b10)  # continuity-corrected
    assert _two_sided_sign_p(b01, b10) == pytest.approx(math.erfc(z / math.sqrt(2)), rel=0.02)
