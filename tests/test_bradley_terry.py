"""Arena statistics, proven by simulation and by hand: Bradley–Terry fit, bootstrap CIs, rank,
win matrices, Cohen's kappa, voter agreement and swapped-order judge verdicts.

What the coverage test compares: the fit is anchored at the average target (strengths centred
to mean zero), so the truth is centred the same way before checking whether the CIs hold it.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy.special import expit

from closedpaw_nb.bench.charts import win_matrix_heatmap
from closedpaw_nb.errors import ConfigError
from closedpaw_nb.evals.agreement import agreement, cohen_kappa, combine_swapped, inconsistency_rate
from closedpaw_nb.evals.bradley_terry import (
    ELO_ANCHOR,
    ELO_SCALE,
    _aggregate,
    _fit,
    bootstrap_ci,
    fit_bradley_terry,
    ranking,
    win_matrix,
)

NAMES = ["best", "good", "fair", "poor"]
TRUTH = np.array([1.5, 1.0, 0.5, -1.0])  # mean 0.5, not 0: the anchor matters


def simulate(rng: np.random.Generator, strengths: np.ndarray, n: int, names: list[str] = NAMES) -> pd.DataFrame:
    """`n` decisive battles between random distinct pairs, won with P = σ(θa − θb)."""
    k = len(strengths)
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    a_wins = rng.random(n) < expit(strengths[a] - strengths[b])
    labels = np.asarray(names, dtype=object)
    return pd.DataFrame({"model_a": labels[a], "model_b": labels[b], "winner": np.where(a_wins, "a", "b")})


def inside(ci: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    return (ci["ci_low"].to_numpy() <= values) & (values <= ci["ci_high"].to_numpy())


def battles(*rows: tuple[str, str, str, int]) -> pd.DataFrame:
    """Battles from (model_a, model_b, winner, count) rows."""
    records = [(a, b, w) for a, b, w, count in rows for _ in range(count)]
    return pd.DataFrame(records, columns=["model_a", "model_b", "winner"])


# --- the fit ----------------------------------------------------------------------------


def test_fitted_order_is_the_true_order_from_2000_battles():
    for seed in range(10):
        fitted = fit_bradley_terry(simulate(np.random.default_rng(seed), TRUTH, 2000))
        assert list(fitted.index) == NAMES, (seed, fitted)
        assert fitted.mean() == pytest.approx(0, abs=1e-9)  # the anchor: the average target


def test_many_battles_recover_the_centred_strengths():
    fitted = fit_bradley_terry(simulate(np.random.default_rng(1), TRUTH, 50_000))
    assert fitted[NAMES].to_numpy() == pytest.approx(TRUTH - TRUTH.mean(), abs=0.05)


def test_fit_solves_the_likelihood_equations():
    # At the maximum, each target's score (wins + half its ties) equals its expected score
    # Σ_j n_ij·σ(θi − θj): a check that does not depend on how the optimum was found.
    df = simulate(np.random.default_rng(2), TRUTH, 3000)
    df.loc[df.index[::7], "winner"] = "tie"
    df.loc[df.index[3::11], "winner"] = "both_bad"
    theta = fit_bradley_terry(df)
    observed, expected = pd.Series(0.0, index=NAMES), pd.Series(0.0, index=NAMES)
    half = {"a": (1.0, 0.0), "b": (0.0, 1.0), "tie": (0.5, 0.5), "both_bad": (0.5, 0.5)}
    for a, b, winner in df.itertuples(index=False):
        observed[a] += half[winner][0]
        observed[b] += half[winner][1]
        expected[a] += expit(theta[a] - theta[b])
        expected[b] += expit(theta[b] - theta[a])
    assert observed.to_numpy() == pytest.approx(expected.to_numpy(), abs=0.01)


def test_which_side_was_shown_first_does_not_matter():
    df = simulate(np.random.default_rng(3), TRUTH, 1000)
    swapped = pd.DataFrame(
        {"model_a": df["model_b"], "model_b": df["model_a"], "winner": df["winner"].map({"a": "b", "b": "a"})}
    )
    pd.testing.assert_series_equal(fit_bradley_terry(df), fit_bradley_terry(swapped), atol=1e-6)


def test_resamples_fitted_together_equal_each_fitted_alone():
    counts = _aggregate(simulate(np.random.default_rng(4), TRUTH, 800))
    other = counts.table[:, [1, 0, 2, 3]] + 1  # a different, still connected data set
    together = _fit(counts, np.stack([counts.table, other]), 1e-4)
    assert together[0] == pytest.approx(_fit(counts, counts.table[None], 1e-4)[0], abs=1e-5)
    assert together[1] == pytest.approx(_fit(counts, other[None], 1e-4)[0], abs=1e-5)


# --- ties and both_bad ------------------------------------------------------------------


def test_a_tie_is_half_a_win_each_way():
    # x beats y 3 times, loses once, ties twice: x scores 3 + 1 = 4 of 6, so P(x beats y) = 2/3
    # and θx − θy = log(2), the same as 4 wins and 2 losses.
    with_ties = fit_bradley_terry(battles(("x", "y", "a", 3), ("x", "y", "b", 1), ("x", "y", "tie", 2)))
    as_wins = fit_bradley_terry(battles(("x", "y", "a", 4), ("y", "x", "a", 2)))
    assert with_ties["x"] - with_ties["y"] == pytest.approx(math.log(2), rel=1e-3)
    pd.testing.assert_series_equal(with_ties, as_wins, atol=1e-6)


def test_both_bad_ranks_as_a_tie_but_is_counted_apart():
    tie = battles(("x", "y", "a", 3), ("x", "z", "b", 2), ("y", "z", "tie", 2), ("x", "y", "tie", 1))
    bad = tie.replace({"winner": {"tie": "both_bad"}})
    ranked_tie, ranked_bad = ranking(tie, rounds=50), ranking(bad, rounds=50)
    cols = ["target", "strength", "ci_low", "ci_high", "win_rate", "battles", "wins"]
    pd.testing.assert_frame_equal(ranked_tie[cols], ranked_bad[cols])
    row = ranked_bad.set_index("target").loc["y"]
    # y: lost 3 to x, tied 1 with x and 2 with z (as both_bad here): 6 battles, no wins
    assert (row.battles, row.wins, row.ties, row.both_bad) == (6, 0, 0, 3)
    assert row.win_rate == pytest.approx(1.5 / 6)
    assert ranked_tie.set_index("target").loc["y", "ties"] == 3


def test_a_target_that_never_lost_gets_a_finite_strength_set_by_the_prior():
    df = battles(("champ", "x", "a", 6), ("y", "champ", "b", 4), ("x", "y", "a", 6), ("x", "y", "b", 4))
    ranked = ranking(df, rounds=200).set_index("target")
    assert np.isfinite(ranked.drop(columns="rank").to_numpy(dtype=float)).all()
    assert ranked.index[0] == "champ" and ranked.loc["champ", "strength"] > 3
    # its height comes from the prior (the likelihood alone would send it to infinity) ...
    assert fit_bradley_terry(df, l2=1e-2)["champ"] < ranked.loc["champ", "strength"] - 1
    # ... while the others keep their data-driven gap: x beat y 6 to 4, log(6/4) apart
    assert ranked.loc["x", "strength"] - ranked.loc["y", "strength"] == pytest.approx(math.log(1.5), abs=0.01)


def test_targets_that_never_met_raise_and_name_the_groups():
    df = battles(("a1", "a2", "a", 3), ("a2", "a1", "a", 2), ("b1", "b2", "tie", 2))
    with pytest.raises(ConfigError, match=r"\[a1, a2\] \| \[b1, b2\].*Add battles between the groups"):
        fit_bradley_terry(df)


# --- bootstrap, rank, Elo ---------------------------------------------------------------


@pytest.mark.slow  # 500 simulated arenas, each bootstrapped 1,000 times (~15 s)
def test_95_percent_cis_cover_the_true_strengths_93_to_97_percent_of_the_time():
    rng = np.random.default_rng(2024)
    centred = TRUTH - TRUTH.mean()
    covered = np.zeros(4)
    uncentred = 0
    for rep in range(500):
        ci = bootstrap_ci(simulate(rng, TRUTH, 2000), seed=rep).loc[NAMES]
        covered += inside(ci, centred)
        uncentred += int(inside(ci, TRUTH).sum())
    # 2,000 intervals in all (binomial SE of the pooled rate about 0.5 points)
    assert 0.93 <= covered.sum() / 2000 <= 0.97, covered / 500
    assert all(0.90 <= rate <= 0.99 for rate in covered / 500), covered / 500
    # without the shared anchor the same intervals miss most of the time: the check can fail
    assert uncentred / 2000 < 0.5, uncentred


def test_targets_whose_intervals_overlap_share_a_rank():
    df = simulate(np.random.default_rng(5), np.array([2.0, 0.0, 0.0]), 3000, ["top", "twin1", "twin2"])
    ranked = ranking(df, rounds=300).set_index("target")
    assert ranked.loc["top", "rank"] == 1
    assert ranked.loc["twin1", "rank"] == ranked.loc["twin2", "rank"] == 2
    # the rule, spelled out: 1 + targets whose ci_low is above this one's ci_high
    for target, row in ranked.iterrows():
        assert row["rank"] == 1 + int((ranked["ci_low"] > row["ci_high"]).sum()), target


def test_ranking_columns_order_and_elo_scale():
    ranked = ranking(simulate(np.random.default_rng(6), TRUTH, 2000), rounds=200)
    assert list(ranked["target"]) == NAMES
    assert list(ranked.columns[:8]) == [
        "target", "strength", "ci_low", "ci_high", "elo", "elo_ci_low", "elo_ci_high", "rank",
    ]  # fmt: skip
    assert ranked["elo"].mean() == pytest.approx(ELO_ANCHOR)
    assert ranked["elo_ci_low"].to_numpy() == pytest.approx(ELO_ANCHOR + ELO_SCALE * ranked["ci_low"].to_numpy())
    assert (ranked["ci_low"] < ranked["strength"]).all() and (ranked["strength"] < ranked["ci_high"]).all()
    # Elo's meaning: a 400-point gap is 10:1 odds
    gap = ranked["elo"].iloc[0] - ranked["elo"].iloc[-1]
    p = expit(ranked["strength"].iloc[0] - ranked["strength"].iloc[-1])
    assert p / (1 - p) == pytest.approx(10 ** (gap / 400))


def test_bootstrap_is_seeded_and_the_seed_matters():
    df = simulate(np.random.default_rng(7), TRUTH, 500)
    pd.testing.assert_frame_equal(bootstrap_ci(df, rounds=100), bootstrap_ci(df, rounds=100))
    assert not bootstrap_ci(df, rounds=100, seed=1).equals(bootstrap_ci(df, rounds=100, seed=2))
    wide, narrow = bootstrap_ci(df, rounds=300), bootstrap_ci(df, rounds=300, confidence=0.5)
    assert ((wide["ci_high"] - wide["ci_low"]) > (narrow["ci_high"] - narrow["ci_low"])).all()


def test_no_battles_give_empty_results():
    empty = battles()
    assert ranking(empty).empty and "elo" in ranking(empty).columns
    assert fit_bradley_terry(empty).empty and bootstrap_ci(empty).empty


# --- win matrix and heatmap -------------------------------------------------------------


def test_win_matrix_observed_by_hand_and_predicted_by_the_bt_formula():
    df = battles(("x", "y", "a", 3), ("y", "x", "a", 1), ("x", "y", "tie", 2), ("y", "z", "b", 1), ("z", "y", "a", 1))
    strengths = pd.Series({"x": 0.7, "y": 0.1, "z": -0.8})
    observed, predicted = win_matrix(df, strengths)
    assert list(observed.index) == list(predicted.columns) == ["x", "y", "z"]
    assert observed.loc["x", "y"] == pytest.approx((3 + 1) / 6)
    assert observed.loc["y", "x"] == pytest.approx((1 + 1) / 6)
    assert observed.loc["z", "y"] == 1.0 and observed.loc["y", "z"] == 0.0
    assert math.isnan(observed.loc["x", "z"]) and math.isnan(observed.loc["x", "x"])
    for i in "xyz":
        for j in "xyz":
            want = math.nan if i == j else 1 / (1 + math.exp(strengths[j] - strengths[i]))
            assert predicted.loc[i, j] == pytest.approx(want, nan_ok=True)


def test_win_matrix_fits_when_no_strengths_are_given_and_checks_given_ones():
    df = simulate(np.random.default_rng(8), TRUTH, 4000)
    observed, predicted = win_matrix(df)
    assert list(predicted.index) == NAMES
    assert np.nanmax(np.abs(observed.to_numpy() - predicted.to_numpy())) < 0.06
    with pytest.raises(ConfigError, match="no value for poor"):
        win_matrix(df, pd.Series({"best": 1.0, "good": 0.0, "fair": -1.0}))


def test_heatmap_draws_every_met_pair_and_greys_the_rest():
    df = battles(("x", "y", "a", 3), ("y", "z", "tie", 1), ("x", "y", "b", 1))
    observed, _ = win_matrix(df)
    fig = win_matrix_heatmap(observed, title="arena")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title() == "arena"
    assert [t.get_text() for t in ax.get_yticklabels()] == list(observed.index)
    assert sorted(t.get_text() for t in ax.texts) == ["25%", "50%", "50%", "75%"]  # four met cells
    assert ax.images[0].get_array().mask.sum() == 5  # diagonal + x/z both ways
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")


def test_heatmap_edge_cases():
    assert win_matrix_heatmap(pd.DataFrame()).axes[0].texts[0].get_text() == "no data"
    with pytest.raises(ValueError, match="square"):
        win_matrix_heatmap(pd.DataFrame([[0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        win_matrix_heatmap(pd.DataFrame([[math.nan, 3.0], [0.2, math.nan]]))
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert win_matrix_heatmap(pd.DataFrame([[math.nan, 0.6], [0.4, math.nan]]), ax=right) is fig


# --- kappa and agreement ----------------------------------------------------------------


def test_cohen_kappa_matches_the_hand_computation():
    first = ["a"] * 5 + ["b"] * 3 + ["tie"] * 2
    second = ["a", "a", "a", "b", "tie", "b", "b", "a", "tie", "tie"]
    # p_o = (3 + 2 + 2) / 10 = 0.7; marginals (a, b, tie): first .5 .3 .2, second .4 .3 .3
    # p_e = .5*.4 + .3*.3 + .2*.3 = 0.35; kappa = (0.7 - 0.35) / (1 - 0.35) = 7/13
    assert cohen_kappa(first, second) == pytest.approx(7 / 13)
    assert cohen_kappa(first, first) == pytest.approx(1.0)
    # opposite labels every time, equal marginals: kappa = (0 - 0.5) / 0.5 = -1
    assert cohen_kappa(["a", "b"] * 3, ["b", "a"] * 3) == pytest.approx(-1.0)


def test_cohen_kappa_undefined_cases_and_errors():
    assert math.isnan(cohen_kappa(["tie"] * 4, ["tie"] * 4))  # p_e = 1
    assert math.isnan(cohen_kappa([], []))
    with pytest.raises(ConfigError, match="one label per item"):
        cohen_kappa(["a"], ["a", "b"])
    with pytest.raises(ConfigError, match="missing label"):
        cohen_kappa(["a", None], ["a", "b"])


def test_agreement_per_pair_of_voters():
    votes = pd.DataFrame(
        [
            (1, "ann", "a"), (1, "bob", "a"), (1, "judge", "b"),
            (2, "ann", "b"), (2, "bob", "b"), (2, "judge", "b"),
            (3, "ann", "tie"), (3, "bob", "a"), (3, "judge", None),  # the judge's verdict was unparseable
            (4, "ann", "a"), (4, "bob", "b"), (4, "bob", "a"),  # bob changed his mind: the later vote counts
            (5, "carl", "a"),
        ],
        columns=["battle", "voter", "verdict"],
    )  # fmt: skip
    table = agreement(votes).set_index(["voter_a", "voter_b"])
    ann_bob = table.loc[("ann", "bob")]
    assert ann_bob["battles"] == 4 and ann_bob["agreement"] == pytest.approx(3 / 4)
    assert ann_bob["kappa"] == pytest.approx(cohen_kappa(["a", "b", "tie", "a"], ["a", "b", "a", "a"]))
    assert table.loc[("ann", "judge"), "battles"] == 2 and table.loc[("ann", "judge"), "agreement"] == 0.5
    assert table.loc[("ann", "carl"), "battles"] == 0 and math.isnan(table.loc[("ann", "carl"), "kappa"])
    assert len(table) == 6  # every pair of the four voters
    with pytest.raises(ConfigError, match="needs the column"):
        agreement(votes.drop(columns="voter"))


# --- swapped-order judging --------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("a", "a", ("a", True)),
        ("b", "b", ("b", True)),
        ("tie", "tie", ("tie", True)),
        ("both_bad", "both_bad", ("both_bad", True)),
        ("a", "b", ("tie", False)),  # the preference followed the slot, not the answer
        ("tie", "a", ("tie", False)),
        ("both_bad", "tie", ("tie", False)),
        (None, "a", (None, None)),  # missing stays missing, never a tie
        ("b", math.nan, (None, None)),
    ],
)
def test_combine_swapped(first, second, expected):
    assert combine_swapped(first, second) == expected


def test_a_judge_that_always_picks_the_first_slot_is_caught():
    rng = np.random.default_rng(9)
    truth = rng.choice(["a", "b"], 40)
    # it answers "a" in both orders; in the swapped order "a" means the original B
    first, second = ["a"] * 40, ["b"] * 40
    assert inconsistency_rate(first, second) == 1.0
    assert {combine_swapped(f, s)[0] for f, s in zip(first, second, strict=True)} == {"tie"}
    # a judge that sees the truth in both orders is consistent
    assert inconsistency_rate(list(truth), list(truth)) == 0.0
    assert inconsistency_rate(["a", "a", "b", None], ["a", "b", "b", "a"]) == pytest.approx(1 / 3)
    assert math.isnan(inconsistency_rate([None], ["a"]))
    with pytest.raises(ConfigError, match="unknown verdict 'A'"):
        combine_swapped("A", "a")


# --- bad input --------------------------------------------------------------------------


def test_bad_battles_say_what_to_fix():
    good = battles(("x", "y", "a", 2), ("y", "x", "tie", 1))
    with pytest.raises(ConfigError, match=r"needs the column\(s\) winner \(it has: model_a, model_b\)"):
        ranking(good.drop(columns="winner"))
    with pytest.raises(ConfigError, match="winner must be one of a, b, tie, both_bad; found 'A', 'draw'"):
        fit_bradley_terry(good.assign(winner=["A", "draw", "a"]))
    with pytest.raises(ConfigError, match="two different targets.*rows 1"):
        fit_bradley_terry(good.assign(model_b=["y", "x", "x"]))
    with pytest.raises(ConfigError, match="must be a pandas DataFrame"):
        fit_bradley_terry([("x", "y", "a")])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="l2 must be > 0"):
        fit_bradley_terry(good, l2=0)
    with pytest.raises(ConfigError, match="rounds"):
        bootstrap_ci(good, rounds=0)
    with pytest.raises(ConfigError, match="confidence"):
        ranking(good, confidence=95)
