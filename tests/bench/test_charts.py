"""charts: every chart is a Figure with the expected artists, draws "no data" when empty, and saves as PNG."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from closedpaw_nb.bench import charts  # noqa: E402
from closedpaw_nb.bench.frames import empty_frame, rows_to_frame  # noqa: E402

T0 = datetime(2025, 1, 1, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n"


def row(target: str, trial: int, latency: float, ttft: float | None = None, ok: bool = True, warmup: bool = False):
    provider, model = target.split(":")
    return dict(
        run_id="r",
        target=target,
        provider=provider,
        model=model,
        prompt_id="p",
        prompt="hi",
        trial=trial,
        warmup=warmup,
        ok=ok,
        attempts=1,
        started_at=T0 + timedelta(seconds=trial),
        ttft_ms=ttft,
        latency_ms=latency,
        prompt_tokens=10,
        completion_tokens=41 if ok else None,
        error_type=None if ok else "ServerError",
        error=None if ok else "boom",
        response="x",
    )


@pytest.fixture
def results() -> pd.DataFrame:
    rows = [row("slow:m", i, 900.0 + 50 * i, 300.0 + 10 * i) for i in range(4)]
    rows += [row("fast:m", i, 200.0 + 20 * i, 50.0 + 5 * i) for i in range(4)]
    rows += [row("plain:m", i, 500.0 + 30 * i) for i in range(3)]  # not streamed: no TTFT
    rows += [row("fast:m", 4, 10.0, ok=False), row("plain:m", 3, 10.0, ok=False), row("plain:m", 4, 10.0, ok=False)]
    rows += [row("slow:m", 9, 9e6, 9e6, warmup=True), row("fast:m", 9, 9e6, warmup=True, ok=False)]
    return rows_to_frame(rows)


@pytest.fixture
def history() -> pd.DataFrame:
    statuses = {
        "openai": ["ok", "ok", "timeout", "ok"],  # 3 of 4 ok
        "ollama": ["ok", "disabled", "disabled", "unreachable"],
    }  # 1 of 2 counted probes ok
    return pd.DataFrame(
        [
            dict(
                provider=p,
                checked_at=T0 + timedelta(minutes=5 * i),
                status=s,
                latency_ms=None if s != "ok" else 100.0 + i,
            )
            for p, seq in statuses.items()
            for i, s in enumerate(seq)
        ]
    )


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_latency_box_has_one_box_per_target_sorted_by_median(results):
    fig = charts.latency_distribution(results)
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and len(ax.patches) == 3
    labels = [t.get_text().split("\n")[0] for t in ax.get_yticklabels()]
    assert labels == ["fast:m", "plain:m", "slow:m"]
    assert "(ms)" in ax.get_xlabel() and ax.get_title()
    assert ax.get_xlim()[1] < 1e4  # the absurd warm-up latency was left out


def test_latency_violin_draws_a_body_per_target_with_spread(results):
    lone = rows_to_frame([row("one:m", 0, 123.0)])
    fig = charts.latency_distribution(pd.concat([results, lone]), kind="violin", metric="ttft_ms", title="TTFT")
    ax = fig.axes[0]
    bodies = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bodies) == 2  # fast and slow; plain has no TTFT, one:m a single value drawn as a point
    assert ax.get_title() == "TTFT" and ax.get_xlabel() == "time to first token (ms)"
    with pytest.raises(ValueError, match="kind"):
        charts.latency_distribution(results, kind="pie")


def test_ttft_vs_throughput_has_a_legend_entry_per_streamed_target(results):
    fig = charts.ttft_vs_throughput(results)
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("fast:m" in t for t in legend) and any("slow:m" in t for t in legend)
    assert not any("plain:m" in t for t in legend)  # not streamed: no TTFT to place
    assert "(ms)" in ax.get_xlabel() and "tokens/s" in ax.get_ylabel()
    assert len(ax.collections) == 2


def test_error_rate_bars_one_bar_per_target_as_percent_with_counts(results):
    fig = charts.error_rate_bars(results)
    ax = fig.axes[0]
    heights = {t.get_text(): p.get_height() for t, p in zip(ax.get_xticklabels(), ax.patches, strict=False)}
    assert heights == pytest.approx({"slow:m": 0.0, "fast:m": 0.2, "plain:m": 0.4})  # 0/4, 1/5, 2/5
    assert {"0/4 failed", "1/5 failed", "2/5 failed"} <= set(texts(fig))  # warm-up failure not counted
    assert isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)


def test_health_over_time_shows_uptime_and_statuses(history):
    fig = charts.health_over_time(history)
    latency_ax, strip = fig.axes
    legend = [t.get_text() for t in latency_ax.get_legend().get_texts()]
    assert legend == ["openai (uptime 75.0%)", "ollama (uptime 50.0%)"]
    statuses = {t.get_text() for t in strip.get_legend().get_texts()}
    assert statuses == {"ok", "timeout", "disabled", "unreachable"}
    assert "(ms)" in latency_ax.get_ylabel() and "UTC" in strip.get_xlabel()


@pytest.mark.parametrize(
    "draw",
    [
        lambda df: charts.latency_distribution(df),
        lambda df: charts.latency_distribution(df, kind="violin"),
        lambda df: charts.ttft_vs_throughput(df),
        lambda df: charts.error_rate_bars(df),
        lambda df: charts.health_over_time(df),
    ],
)
@pytest.mark.parametrize("empty", [empty_frame(), pd.DataFrame()])
def test_empty_input_gives_a_no_data_figure(draw, empty):
    fig = draw(empty)
    assert isinstance(fig, Figure) and any(t.startswith("no data") for t in texts(fig))
    assert png_bytes(fig).startswith(PNG)


def test_draws_into_a_given_axes(results):
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert charts.error_rate_bars(results, ax=right) is fig
    assert charts.ttft_vs_throughput(results, ax=left) is fig
    assert len(right.patches) == 3 and left.get_legend() is not None


def test_every_chart_saves_as_png(results, history, tmp_path):
    figures = {
        "box": charts.latency_distribution(results),
        "violin": charts.latency_distribution(results, kind="violin"),
        "scatter": charts.ttft_vs_throughput(results),
        "errors": charts.error_rate_bars(results),
        "health": charts.health_over_time(history),
    }
    for name, fig in figures.items():
        data = png_bytes(fig)
        assert data.startswith(PNG) and len(data) > 5_000
        (tmp_path / f"{name}.png").write_bytes(data)


def test_charts_leave_no_pyplot_state(results, history):
    # matplotlib may import pyplot internally (boxplot resolves the rc backend), but no chart
    # may register a figure with pyplot's global manager
    before = set(sys.modules["matplotlib.pyplot"].get_fignums()) if "matplotlib.pyplot" in sys.modules else set()
    for fig in (
        charts.latency_distribution(results),
        charts.latency_distribution(results, kind="violin"),
        charts.ttft_vs_throughput(results),
        charts.error_rate_bars(results),
        charts.health_over_time(history),
    ):
        png_bytes(fig)
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or set(pyplot.get_fignums()) == before


def test_health_chart_of_a_single_round_has_a_readable_time_axis():
    from datetime import datetime

    from closedpaw_nb.bench.charts import health_over_time

    t = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
    history = pd.DataFrame(
        [
            dict(provider="a", checked_at=t, status="ok", latency_ms=12.0),
            dict(provider="b", checked_at=t, status="unreachable", latency_ms=None),
        ]
    )
    fig = health_over_time(history)
    low, high = fig.axes[0].get_xlim()
    assert (high - low) * 24 * 3600 >= 59  # a minute around the instant (matplotlib dates are days)


def test_pareto_front_keeps_exactly_the_undominated_points():
    import numpy as np

    cost = np.array([1.0, 2.0, 2.0, 3.0, 0.5, 3.0])
    quality = np.array([0.5, 0.7, 0.6, 0.7, 0.2, 0.9])
    # 2 is dominated by 1 (same cost, lower quality), 3 by 1 (dearer, same quality)
    assert charts.pareto_front(cost, quality) == [0, 1, 4, 5]


def test_quality_vs_cost_draws_whiskers_and_rings_the_frontier():
    board = pd.DataFrame(
        {
            "target": ["a:m", "b:m", "c:m"],
            "acc": [0.9, 0.6, 0.5],
            "acc_ci_low": [0.8, 0.5, 0.4],
            "acc_ci_high": [0.95, 0.7, 0.6],
            "cost_per_item_usd": [0.02, 0.001, 0.005],
            "latency_p50_ms": [900.0, 300.0, 100.0],
        }
    )
    fig = charts.quality_vs_cost(board, "acc")
    cost_ax, speed_ax = fig.axes
    assert len(cost_ax.containers) == 3 and len(speed_ax.containers) == 3  # one errorbar per target
    ringed = {tuple(p) for p in cost_ax.collections[-1].get_offsets().tolist()}
    assert ringed == {(0.02, 0.9), (0.001, 0.6)}  # c is dearer and worse than b
    assert {tuple(p) for p in speed_ax.collections[-1].get_offsets().tolist()} == {
        (900.0, 0.9),
        (300.0, 0.6),
        (100.0, 0.5),
    }
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(PNG)


def test_quality_vs_cost_without_costs_says_so():
    board = pd.DataFrame(
        {
            "target": ["a:m"],
            "acc": [0.9],
            "acc_ci_low": [0.8],
            "acc_ci_high": [1.0],
            "cost_per_item_usd": [float("nan")],
            "latency_p50_ms": [10.0],
        }
    )
    fig = charts.quality_vs_cost(board, "acc")
    assert "no data" in fig.axes[0].texts[0].get_text()
