"""frames: the row schema, timing from usage tokens, costs and summaries, against hand-computed numbers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from closedpaw_nb.bench.frames import (
    ROW_COLUMNS,
    SUMMARY_COLUMNS,
    add_costs,
    add_derived,
    empty_frame,
    metrics_table,
    rows_to_frame,
    style_summary,
    summarize,
    wide_answers,
)
from closedpaw_nb.bench.rates import derive_timing

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def row(target: str = "a:x", trial: int = 0, **fields):
    provider, model = target.split(":")
    base = dict(
        run_id="r1",
        target=target,
        provider=provider,
        model=model,
        prompt_id="p1",
        prompt="hi",
        trial=trial,
        warmup=False,
        ok=True,
        attempts=1,
        started_at=T0 + timedelta(seconds=trial),
        response=f"answer from {target}",
    )
    return base | fields


@pytest.fixture
def results() -> pd.DataFrame:
    """Target a:x: four ok streamed calls, one failure, and two absurd warm-up calls.
    Target b:y: one ok non-streamed call and one failure."""
    rows = [
        # (N - 1) / (D / 1000) with D = latency - ttft, from usage tokens; `chunks` must be ignored
        row(
            trial=0, ttft_ms=50.0, latency_ms=100.0, prompt_tokens=10, completion_tokens=11, chunks=3
        ),  # 10/0.05 = 200/s, itl 5
        row(
            trial=1, ttft_ms=60.0, latency_ms=200.0, prompt_tokens=10, completion_tokens=15, chunks=3
        ),  # 14/0.14 = 100/s, itl 10
        row(
            trial=2, ttft_ms=70.0, latency_ms=300.0, prompt_tokens=10, completion_tokens=24, chunks=3
        ),  # 23/0.23 = 100/s, itl 10
        row(
            trial=3, ttft_ms=80.0, latency_ms=400.0, prompt_tokens=10, completion_tokens=17, chunks=3
        ),  # 16/0.32 = 50/s, itl 20
        row(
            trial=4,
            ok=False,
            latency_ms=30.0,
            error_type="RateLimitError",
            error="slow down",
            status_code=429,
            attempts=3,
            response="",
        ),
        row(trial=0, warmup=True, ok=False, latency_ms=9e9, error_type="TimeoutError", error="warm-up"),
        row(trial=1, warmup=True, ttft_ms=9e9, latency_ms=9e9, prompt_tokens=10**6, completion_tokens=10**6),
        row("b:y", trial=0, latency_ms=1000.0, prompt_tokens=20, completion_tokens=50),  # not streamed: 50/1.0 s = 50/s
        row("b:y", trial=1, ok=False, latency_ms=5.0, error_type="ServerError", error="boom", response=""),
    ]
    return rows_to_frame(rows)


# -- schema ------------------------------------------------------------------------------------


def test_rows_to_frame_has_exact_columns_dtypes_and_drops_extra_keys(results):
    assert list(results.columns) == list(ROW_COLUMNS)
    assert {c: str(t) for c, t in results.dtypes.items()} == ROW_COLUMNS
    assert "chunks" not in results
    first_failure = results.iloc[4]
    assert first_failure["status_code"] == 429 and pd.isna(first_failure["prompt_tokens"])
    assert math.isnan(first_failure["ttft_ms"]) and first_failure["finish_reason"] is None


def test_empty_frame_has_the_schema():
    frame = empty_frame()
    assert frame.empty and list(frame.columns) == list(ROW_COLUMNS)
    assert {c: str(t) for c, t in frame.dtypes.items()} == ROW_COLUMNS


def test_rows_to_frame_parses_utc_times_and_defaults_warmup():
    frame = rows_to_frame(
        [
            {"trial": 0, "ok": True, "attempts": 1, "started_at": "2025-01-01T00:00:00+00:00"},
            {"trial": 1, "ok": 0, "attempts": 1, "started_at": "2025-01-01T01:00:00.250000+01:00"},
        ]
    )
    assert frame["started_at"].tolist() == [
        pd.Timestamp("2025-01-01T00:00:00Z"),
        pd.Timestamp("2025-01-01T00:00:00.25Z"),
    ]
    assert frame["warmup"].tolist() == [False, False] and frame["ok"].tolist() == [True, False]
    assert frame["target"].tolist() == [None, None]


def test_rows_to_frame_refuses_rows_without_required_fields():
    with pytest.raises(ValueError, match="row 1: 'ok'"):
        rows_to_frame([{"trial": 0, "ok": True, "attempts": 1}, {"trial": 1, "attempts": 1}])


# -- timing ------------------------------------------------------------------------------------


def test_derive_timing_streamed_uses_decode_time_after_first_token():
    # 21 tokens, first at 200 ms, last at 1200 ms: 20 tokens in 1.0 s = 20/s, 1000/20 = 50 ms apart
    assert derive_timing(200.0, 1200.0, 21) == {"tokens_per_s": 20.0, "itl_ms": 50.0}


def test_derive_timing_not_streamed_uses_whole_call():
    out = derive_timing(None, 2000.0, 100)  # 100 tokens / 2.0 s
    assert out["tokens_per_s"] == 50.0 and math.isnan(out["itl_ms"])


@pytest.mark.parametrize(
    "ttft, latency, tokens",
    [
        (100.0, 500.0, 1),  # one token: no gap to measure
        (100.0, 100.0, 10),  # latency <= ttft
        (100.0, 500.0, None),  # usage unknown
        (100.0, 500.0, pd.NA),
        (None, None, 10),
    ],
)
def test_derive_timing_is_nan_when_undefined(ttft, latency, tokens):
    out = derive_timing(ttft, latency, tokens)
    assert math.isnan(out["tokens_per_s"]) and math.isnan(out["itl_ms"])


def test_derive_timing_agrees_with_add_derived_on_every_case():
    """The per-row function and the vectorised DataFrame one implement one rule."""
    values = [None, math.nan, -5.0, 0.0, 1.0, 2.0, 150.0, 900.0]
    cases = [(t, lat, n) for t in values for lat in values for n in (None, 0, 1, 2, 40)]
    frame = pd.DataFrame(cases, columns=["ttft_ms", "latency_ms", "completion_tokens"]).assign(ok=True)
    derived = add_derived(frame)
    for i, case in enumerate(cases):
        one = derive_timing(*case)
        for column in ("tokens_per_s", "itl_ms"):
            assert one[column] == pytest.approx(derived[column].iloc[i], nan_ok=True), (case, column)


def test_add_derived_uses_usage_tokens_not_chunks(results):
    derived = add_derived(results.assign(chunks=3))
    assert derived["tokens_per_s"].iloc[:4].tolist() == pytest.approx([200.0, 100.0, 100.0, 50.0])
    assert derived["itl_ms"].iloc[:4].tolist() == pytest.approx([5.0, 10.0, 10.0, 20.0])
    # a chunk count would have said (3 - 1) / 0.05 s = 40/s for the first row
    assert np.isnan(derived["tokens_per_s"].iloc[4])  # failed
    assert derived["tokens_per_s"].iloc[7] == 50.0 and np.isnan(derived["itl_ms"].iloc[7])
    assert "itl_ms" not in results  # input untouched


# -- cost --------------------------------------------------------------------------------------


def cost_rows() -> pd.DataFrame:
    return rows_to_frame(
        [
            row("a:x", prompt_tokens=1000, completion_tokens=500),
            row("b:x", prompt_tokens=1000, completion_tokens=500),
            row("ollama:llama", prompt_tokens=1000, completion_tokens=500),
            row("ollama:llama", trial=1),  # local, counts unknown: still free
            row("c:z", prompt_tokens=1000, completion_tokens=500),  # no price
            row("a:x", trial=1, prompt_tokens=1000),  # completion tokens unknown
        ]
    )


def test_add_costs_target_beats_model_local_is_free_unknown_is_nan():
    prices = {"a:x": (1.0, 2.0), "x": {"input": 10.0, "output": 20.0}}
    frame = cost_rows()
    cost = add_costs(frame, prices, local_providers=["ollama"])["cost_usd"]
    assert cost[0] == pytest.approx(0.002)  # 1000 * 1.0/1e6 + 500 * 2.0/1e6 = 0.001 + 0.001
    assert cost[1] == pytest.approx(0.02)  # model price: 1000 * 10/1e6 + 500 * 20/1e6 = 0.01 + 0.01
    assert cost[2] == 0.0 and cost[3] == 0.0
    assert pd.isna(cost[4]) and pd.isna(cost[5])
    assert frame["cost_usd"].isna().all()  # input untouched


def test_add_costs_an_explicit_price_beats_local():
    cost = add_costs(cost_rows(), {"ollama:llama": (1.0, 1.0)}, local_providers=["ollama"])["cost_usd"]
    assert cost[2] == pytest.approx(0.0015)  # (1000 + 500) * 1.0/1e6
    assert pd.isna(cost[3])  # priced, but its token counts are unknown


def test_add_costs_accepts_a_price_dataframe():
    table = pd.DataFrame({"target": ["a:x", None], "model": [None, "x"], "input": [1.0, 10.0], "output": [2.0, 20.0]})
    cost = add_costs(cost_rows(), table)["cost_usd"]
    assert cost[:2].tolist() == pytest.approx([0.002, 0.02])
    assert pd.isna(cost[2])  # not local this time, and no price


@pytest.mark.parametrize(
    "prices, culprit",
    [
        ({"a:x": (-1.0, 2.0)}, "'a:x': input"),
        ({"gpt": ("cheap", 2.0)}, "'gpt': input"),
        ({"gpt": {"input": 1.0, "output": float("nan")}}, "'gpt': output"),
        ({"gpt": (1.0, True)}, "'gpt': output"),
        ({"gpt": (1.0,)}, "'gpt'"),
        ({"gpt": 3.0}, "'gpt'"),
        (pd.DataFrame({"model": ["gpt"], "price": [1.0]}), "input"),
        (pd.DataFrame({"model": [None], "input": [1.0], "output": [2.0]}), "row 0"),
    ],
)
def test_add_costs_rejects_bad_prices_naming_the_entry(prices, culprit):
    with pytest.raises(ValueError, match=culprit):
        add_costs(cost_rows(), prices)


# -- summary -----------------------------------------------------------------------------------


def test_summarize_matches_hand_computed_statistics(results):
    s = summarize(add_costs(results, {"a:x": (1.0, 2.0)}))
    assert list(s.columns) == list(SUMMARY_COLUMNS) and list(s.index) == ["a:x", "b:y"] and s.index.name == "target"
    a = s.loc["a:x"]
    assert (a["n"], a["n_ok"], a["error_rate"]) == (5, 4, 0.2)  # the two warm-up rows are not counted
    # latency of ok rows [100, 200, 300, 400]; linear interpolation at (n - 1) * q = 3q
    assert a["latency_mean_ms"] == 250.0
    assert a["latency_p50_ms"] == 250.0  # 200 + 0.5 * 100
    assert a["latency_p90_ms"] == pytest.approx(370.0)  # 300 + 0.7 * 100
    assert a["latency_p99_ms"] == pytest.approx(397.0)  # 300 + 0.97 * 100
    # ttft [50, 60, 70, 80]
    assert a["ttft_mean_ms"] == 65.0 and a["ttft_p50_ms"] == 65.0
    assert a["ttft_p90_ms"] == pytest.approx(77.0) and a["ttft_p99_ms"] == pytest.approx(79.7)
    # tokens/s [200, 100, 100, 50]: mean 450/4 = 112.5, p50 100; itl [5, 10, 10, 20]: p50 10
    assert a["tokens_per_s_mean"] == pytest.approx(112.5) and a["tokens_per_s_p50"] == pytest.approx(100.0)
    assert a["itl_p50_ms"] == pytest.approx(10.0)
    # tokens: prompt 4 * 10 = 40, completion 11 + 15 + 24 + 17 = 67 (the failure's are unknown: unbilled)
    assert (a["prompt_tokens"], a["completion_tokens"]) == (40, 67)
    # cost: 40 * 1.0/1e6 + 67 * 2.0/1e6 = 0.000040 + 0.000134
    assert a["cost_usd"] == pytest.approx(0.000174) and a["cost_per_call_usd"] == pytest.approx(0.000174 / 4)


def test_summarize_non_streamed_target_and_unknown_cost(results):
    b = summarize(results).loc["b:y"]
    assert (b["n"], b["n_ok"], b["error_rate"]) == (2, 1, 0.5)
    assert b["latency_p50_ms"] == 1000.0 and math.isnan(b["ttft_p50_ms"])
    assert b["tokens_per_s_p50"] == 50.0 and math.isnan(b["itl_p50_ms"])
    assert math.isnan(b["latency_p50_ci_low_ms"])  # fewer than 2 ok rows
    assert pd.isna(b["cost_usd"]) and pd.isna(b["cost_per_call_usd"])  # unknown, not 0


def test_summarize_never_lets_warmup_in(results):
    only_warmup = results[results["warmup"]]
    assert summarize(only_warmup).empty
    s = summarize(results)
    assert s["latency_p99_ms"].max() < 1e4 and s["ttft_p99_ms"].max() < 1e4
    assert s.loc["a:x", "prompt_tokens"] == 40


def test_bootstrap_ci_is_deterministic_and_brackets_the_median(results):
    first, again = summarize(results, seed=7), summarize(results, seed=7)
    low, high = first.loc["a:x", ["latency_p50_ci_low_ms", "latency_p50_ci_high_ms"]]
    assert (low, high) == tuple(again.loc["a:x", ["latency_p50_ci_low_ms", "latency_p50_ci_high_ms"]])
    assert 100.0 <= low <= 250.0 <= high <= 400.0
    assert summarize(results, ci=None)[["latency_p50_ci_low_ms", "latency_p50_ci_high_ms"]].isna().all().all()
    wide = summarize(pd.concat([results] * 25, ignore_index=True), seed=7).loc["a:x"]
    assert wide["latency_p50_ci_high_ms"] - wide["latency_p50_ci_low_ms"] < high - low  # more data, narrower


def test_summarize_validates_arguments_and_handles_empty_and_multi_key(results):
    with pytest.raises(ValueError, match="ci"):
        summarize(results, ci=1.5)
    empty = summarize(empty_frame())
    assert empty.empty and list(empty.columns) == list(SUMMARY_COLUMNS)
    by_two = summarize(results, by=["provider", "model"])
    assert by_two.index.names == ["provider", "model"] and ("a", "x") in by_two.index


# -- compare views -----------------------------------------------------------------------------


def test_wide_answers_one_column_per_target_with_failures_marked():
    frame = rows_to_frame(
        [
            row("b:y", prompt_id="p1", response="B1"),
            row("a:x", prompt_id="p1", response="A1"),
            row("a:x", prompt_id="p1", warmup=True, response="warm"),
            row("b:y", prompt_id="p2", ok=False, error_type="RateLimitError", error="slow down", response=""),
            row("a:x", prompt_id="p2", response="A2"),
            row("c:z", prompt_id="p2", response="C2"),
        ]
    )
    wide = wide_answers(frame)
    assert list(wide.columns) == ["b:y", "a:x", "c:z"] and list(wide.index) == ["p1", "p2"]
    assert wide.loc["p1", "a:x"] == "A1"
    assert wide.loc["p2", "b:y"] == "⚠ RateLimitError: slow down"
    assert wide.loc["p1", "c:z"] is None  # no call was made


def test_metrics_table_has_a_row_per_metric_and_a_column_per_target(results):
    table = metrics_table(results)
    assert table.shape == (8, 2) and list(table.columns) == ["a:x", "b:y"]
    assert list(table.index) == [
        "calls",
        "errors",
        "latency_ms",
        "ttft_ms",
        "prompt_tokens",
        "completion_tokens",
        "tokens_per_s",
        "cost_usd",
    ]
    assert table.loc["errors", "a:x"] == 1 and table.loc["latency_ms", "a:x"] == 250.0


def test_style_summary_renders_html(results):
    html = style_summary(summarize(add_costs(results, {"a:x": (1.0, 2.0)}))).to_html()
    assert "20.0%" in html and "$0.000174" in html and "$0.000044" in html  # rate, total, per call (< 1 cent)
    assert "$1.2346" in style_summary(pd.DataFrame({"cost_usd": [1.23456]})).to_html()
    assert "250.0" in html and "—" in html  # ms to one decimal, NaN shown as a dash
    assert "linear-gradient" in html  # latency bars
    assert style_summary(summarize(empty_frame())).to_html()


@pytest.mark.parametrize("n", [10, 30, 200, 2000])
def test_median_ci_covers_the_true_median_at_least_as_often_as_promised(n):
    import numpy as np

    from closedpaw_nb.bench.frames import _median_ci

    rng = np.random.default_rng(n)
    samples = rng.exponential(size=(1000, n))  # skewed, median ln 2
    hits = sum(low <= math.log(2) <= high for low, high in (_median_ci(x, 0.95) for x in samples))
    assert 0.94 <= hits / 1000 <= 0.99  # exact order statistics are conservative, never far below
