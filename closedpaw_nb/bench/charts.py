"""Results DataFrames -> matplotlib Figures. Pure: no I/O, no global state.

Uses `matplotlib.figure.Figure` directly (never pyplot), so charts are safe in threads
and under Agg, and nothing is registered with a global figure manager. So that a returned
Figure renders inline in Jupyter even without `%matplotlib inline`, the first chart made
inside IPython registers a PNG formatter for Figure (the one piece of shared state).
Call rows are filtered here: warm-up rows never enter a chart, and timing charts use ok rows only. Empty input gives a
Figure that says "no data" rather than an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from .frames import add_derived

_LABELS = {
    "latency_ms": "latency (ms)",
    "ttft_ms": "time to first token (ms)",
    "tokens_per_s": "decode rate (tokens/s)",
    "itl_ms": "inter-token latency (ms)",
}
_MARKERS = "osD^vP*Xh<>"
_STATUS_STYLE = {  # status -> (colour, marker) in the health strip
    "ok": ("#8fd1c6", "|"),
    "auth_failed": ("#7b2cbf", "s"),
    "unreachable": ("#d62828", "X"),
    "not_running": ("#adb5bd", "o"),
    "timeout": ("#f77f00", "v"),
    "rate_limited": ("#e9b949", "D"),
    "error": ("#6a040f", "P"),
    "disabled": ("#8d99ae", "_"),
}


def latency_distribution(
    df: pd.DataFrame, kind: str = "box", metric: str = "latency_ms", *, title: str | None = None, ax: Axes | None = None
) -> Figure:
    """Distribution of a timing metric per target, sorted by median (lowest on top).

    Args:
        df: Results rows; warm-up and failed rows are left out.
        kind: ``"box"`` or ``"violin"``.
        metric: latency_ms, ttft_ms, tokens_per_s or itl_ms (or any numeric column).
        title: Overrides the default title.
        ax: Draw into this Axes instead of a new Figure.

    Returns:
        The Figure (the one holding `ax`, if given).
    """
    if kind not in ("box", "violin"):
        raise ValueError(f"kind must be 'box' or 'violin', got {kind!r}")
    calls = _calls(df, ok_only=True)
    if metric not in calls.columns:
        calls = add_derived(calls)
    if metric not in calls.columns and not calls.empty:
        raise ValueError(f"no column {metric!r} in the results")
    groups = {
        t: pd.to_numeric(g[metric]).dropna().to_numpy(dtype=float) for t, g in calls.groupby("target", sort=False)
    }
    groups = dict(sorted(((t, v) for t, v in groups.items() if v.size), key=lambda tv: np.median(tv[1])))
    label = _LABELS.get(metric, metric)
    fig, ax = _canvas(ax, (7.5, 1.4 + 0.6 * max(len(groups), 2)))
    ax.set_title(title or f"{label.split(' (')[0].capitalize()} by target")
    if not groups:
        return _no_data(fig, ax)
    pos = np.arange(1, len(groups) + 1)
    (_boxes if kind == "box" else _violins)(ax, list(groups.values()), pos)
    ax.set_yticks(pos, [f"{t}\nn={v.size}" for t, v in groups.items()])
    ax.set_ylim(len(groups) + 0.6, 0.4)  # inverted: lowest median on top
    ax.set_xlabel(label)
    ax.grid(axis="x", alpha=0.3)
    return fig


def _boxes(ax: Axes, values: list[np.ndarray], pos: np.ndarray) -> None:
    parts = ax.boxplot(values, positions=pos, widths=0.55, patch_artist=True, **_horizontal())
    for box, colour in zip(parts["boxes"], _colours(len(values)), strict=False):
        box.set(facecolor=colour, alpha=0.6)
    for median in parts["medians"]:
        median.set(color="black", linewidth=1.5)


def _violins(ax: Axes, values: list[np.ndarray], pos: np.ndarray) -> None:
    # a violin needs a spread to estimate a density from; single values are drawn as points
    spread = [i for i, v in enumerate(values) if np.unique(v).size > 1]
    colours = _colours(len(values))
    if spread:
        parts = ax.violinplot(
            [values[i] for i in spread], positions=pos[spread], widths=0.7, showmedians=True, **_horizontal()
        )
        bodies = cast(list[PolyCollection], parts["bodies"])  # typed as one Collection; it is a list
        for body, i in zip(bodies, spread, strict=False):
            body.set(facecolor=colours[i], alpha=0.6)
        for key in ("cbars", "cmins", "cmaxes", "cmedians"):
            parts[key].set(color="#333333", linewidth=1.2 if key == "cmedians" else 0.8)
    for i, v in enumerate(values):
        ax.scatter(v, np.full(v.size, pos[i]), s=12, color="black", alpha=0.5, zorder=3)


def ttft_vs_throughput(df: pd.DataFrame, *, title: str | None = None, ax: Axes | None = None) -> Figure:
    """Scatter of time to first token (x) against decode rate (y), one marker per target.

    Only ok, non-warm-up, streamed calls with usage token counts can be placed; the
    decode rate is `rates.derive_timing`'s tokens_per_s. Up and to the left is better.

    Args:
        df: Results rows.
        title: Overrides the default title.
        ax: Draw into this Axes instead of a new Figure.

    Returns:
        The Figure.
    """
    wanted = ["target", "ttft_ms", "latency_ms", "completion_tokens"]
    calls = add_derived(_calls(df, ok_only=True).reindex(columns=wanted))
    calls = calls[calls["ttft_ms"].notna() & calls["tokens_per_s"].notna()]
    fig, ax = _canvas(ax, (7.5, 4.8))
    ax.set_title(title or "Time to first token vs decode rate")
    if calls.empty:
        return _no_data(fig, ax, "no data (needs streamed calls with token usage)")
    groups = list(calls.groupby("target", sort=False))
    for (target, g), colour, marker in zip(groups, _colours(len(groups)), _MARKERS * len(groups), strict=False):
        ax.scatter(
            g["ttft_ms"], g["tokens_per_s"], color=colour, marker=marker, alpha=0.75, label=f"{target} (n={len(g)})"
        )
    ax.set_xlabel(f"{_LABELS['ttft_ms']}, lower is better")
    ax.set_ylabel(f"{_LABELS['tokens_per_s']}, higher is better")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(title="target", fontsize="small", loc="best")
    return fig


def error_rate_bars(df: pd.DataFrame, *, title: str | None = None, ax: Axes | None = None) -> Figure:
    """Error rate per target (warm-up excluded) as bars, each annotated "failed/calls".

    Args:
        df: Results rows.
        title: Overrides the default title.
        ax: Draw into this Axes instead of a new Figure.

    Returns:
        The Figure.
    """
    calls = _calls(df, ok_only=False)
    failed = pd.Series(~_ok(calls), index=calls.index)
    counts = failed.groupby(calls["target"], sort=False).agg(["sum", "size"]) if len(calls) else None
    fig, ax = _canvas(ax, (max(5.0, 1.3 * (0 if counts is None else len(counts)) + 2.5), 4.2))
    ax.set_title(title or "Error rate by target")
    if counts is None:
        return _no_data(fig, ax)
    rates = counts["sum"] / counts["size"]
    colours = ["#d62828" if r > 0 else "#2a9d8f" for r in rates]
    bars = ax.bar(np.arange(len(rates)), rates.to_numpy(), color=colours, alpha=0.8, width=0.6)
    ax.bar_label(
        bars,
        [f"{f}/{n} failed" for f, n in zip(counts["sum"], counts["size"], strict=False)],
        padding=3,
        fontsize="small",
    )
    long_names = max(len(str(t)) for t in rates.index) > 12
    ax.set_xticks(
        np.arange(len(rates)),
        [str(t) for t in rates.index],
        rotation=25 if long_names else 0,
        ha="right" if long_names else "center",
    )
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_ylim(0, min(1.15, max(0.1, 1.25 * rates.max())))
    ax.set_ylabel("error rate (warm-up excluded)")
    ax.grid(axis="y", alpha=0.3)
    return fig


def health_over_time(history: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Probe latency per provider over time, above a strip marking each probe's status.

    The latency line uses ok probes only, so it breaks where a provider was not ok; the
    strip below shows every probe (non-ok statuses as large markers). Uptime in the
    legend is ok probes / probes not "disabled".

    Args:
        history: Columns provider, checked_at (UTC datetime), status
            (ok/auth_failed/unreachable/timeout/rate_limited/error/disabled), latency_ms.
        title: Overrides the default title.

    Returns:
        A two-panel Figure sharing the time axis.
    """
    title = title or "Provider health over time"
    if history is None or history.empty:
        fig, ax = _canvas(None, (8.0, 4.0))
        ax.set_title(title)
        return _no_data(fig, ax)
    h = history.assign(
        checked_at=pd.to_datetime(history["checked_at"], utc=True).dt.tz_convert(None),
        status=history["status"].astype(str),
    ).sort_values("checked_at", kind="stable")
    providers = list(dict.fromkeys(h["provider"]))
    fig = _new_figure((9.0, 4.2 + 0.3 * len(providers)))
    lat_ax, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 0.5 + 0.35 * len(providers)]})
    for row, (provider, colour) in enumerate(zip(providers, _colours(len(providers)), strict=False)):
        g = h[h["provider"] == provider]
        latency = g["latency_ms"].where(g["status"] == "ok")
        lat_ax.plot(
            g["checked_at"].to_numpy(),
            latency.to_numpy(dtype=float, na_value=np.nan),
            marker=".",
            color=colour,
            label=f"{provider} (uptime {_uptime(g['status'])})",
        )
        _status_row(strip, g, row)
    lat_ax.set_title(title)
    lat_ax.set_ylabel("probe latency (ms)")
    peak = pd.to_numeric(h["latency_ms"].where(h["status"] == "ok"), errors="coerce").max()
    lat_ax.set_ylim(0, 1.0 if pd.isna(peak) or peak <= 0 else 1.12 * peak)
    lat_ax.grid(alpha=0.3)
    lat_ax.legend(title="provider", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    first, last = h["checked_at"].min(), h["checked_at"].max()
    if last - first < pd.Timedelta(seconds=1):  # one round of probes: give the instant some room
        lat_ax.set_xlim(first - pd.Timedelta(seconds=30), last + pd.Timedelta(seconds=30))
    _format_strip(strip, providers)
    return fig


def quality_vs_cost(
    board: pd.DataFrame, scorer: str, *, title: str | None = None, axes: Sequence[Axes] | None = None
) -> Figure:
    """A leaderboard's score (with its CI as whiskers) against cost per item and against p50
    latency, side by side; the targets on the Pareto frontier (no other target is at least
    as good and at least as cheap / fast, and better in one) are ringed and joined.

    Args:
        board: `EvalResult.leaderboard()` (target, `<scorer>`, `<scorer>_ci_low`,
            `<scorer>_ci_high`, cost_per_item_usd, latency_p50_ms).
        scorer: The score to plot, higher is better.
        title: Overrides the default title.
        axes: Two Axes to draw into instead of a new Figure.

    Returns:
        The Figure.
    """
    if axes is None:
        fig = _new_figure((11, 4.6))
        panels = list(fig.subplots(1, 2))
    else:
        fig, panels = _canvas(axes[0], (11, 4.6))[0], list(axes)
    fig.suptitle(title or f"{scorer}: quality against cost and speed")
    for ax, column, label in zip(
        panels,
        ("cost_per_item_usd", "latency_p50_ms"),
        ("cost per item (USD), lower is better", "p50 latency (ms), lower is better"),
        strict=True,
    ):
        _quality_panel(ax, board, scorer, column, label)
    return fig


def _quality_panel(ax: Axes, board: pd.DataFrame, scorer: str, column: str, label: str) -> None:
    data = board[board[column].notna() & board[scorer].notna()] if len(board) else board
    if data.empty:
        ax.text(0.5, 0.5, f"no data ({column} unknown)", ha="center", va="center", transform=ax.transAxes, color="grey")
        ax.set_axis_off()
        return
    low = (data[scorer] - data[f"{scorer}_ci_low"]).clip(lower=0).fillna(0)
    high = (data[f"{scorer}_ci_high"] - data[scorer]).clip(lower=0).fillna(0)
    for (_, row), colour, lo, hi in zip(data.iterrows(), _colours(len(data)), low, high, strict=True):
        ax.errorbar(
            row[column], row[scorer], yerr=[[lo], [hi]], fmt="o", color=colour, capsize=4, label=str(row["target"])
        )
    front = data.iloc[pareto_front(data[column].to_numpy(), data[scorer].to_numpy())].sort_values(column)
    ax.plot(front[column], front[scorer], "--", color="grey", linewidth=1, zorder=0)
    ax.scatter(
        front[column],
        front[scorer],
        s=220,
        facecolors="none",
        edgecolors="black",
        linewidths=1.2,
        label="Pareto frontier",
    )
    ax.set_xlabel(label)
    ax.set_ylabel(f"{scorer} (mean, 95% CI), higher is better")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")


def pareto_front(cost: np.ndarray, quality: np.ndarray) -> list[int]:
    """Positions of the points no other point dominates (cost <= and quality >=, one strictly)."""
    keep = []
    for i in range(len(cost)):
        dominated = (cost <= cost[i]) & (quality >= quality[i]) & ((cost < cost[i]) | (quality > quality[i]))
        if not dominated.any():
            keep.append(i)
    return keep


def _status_row(strip: Axes, probes: pd.DataFrame, row: int) -> None:
    for status, g in probes.groupby("status", sort=False):
        colour, marker = _STATUS_STYLE.get(status, ("#444444", "o"))
        size = 60 if status != "ok" else 120
        strip.scatter(
            g["checked_at"].to_numpy(),
            np.full(len(g), row),
            color=colour,
            marker=marker,
            s=size,
            label=status,
            zorder=3 if status != "ok" else 2,
        )


def _format_strip(strip: Axes, providers: list[str]) -> None:
    strip.set_yticks(range(len(providers)), providers)
    strip.set_ylim(len(providers) - 0.5, -0.5)
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]  # matplotlib.dates is unannotated
    formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]  # unannotated too
    strip.xaxis.set_major_locator(locator)
    strip.xaxis.set_major_formatter(formatter)
    strip.set_xlabel("checked at (UTC)")
    handles = dict(zip(*reversed(strip.get_legend_handles_labels()), strict=False))  # one entry per status
    strip.legend(
        handles.values(), handles.keys(), title="status", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )


def _uptime(status: pd.Series) -> str:
    counted = status[status != "disabled"]
    return "n/a: disabled" if counted.empty else f"{(counted == 'ok').mean():.1%}"


def _calls(df: pd.DataFrame | None, ok_only: bool) -> pd.DataFrame:
    if df is None or "target" not in df:
        return pd.DataFrame({"target": pd.Series(dtype=object)})
    keep = ~df["warmup"].eq(True) if "warmup" in df else pd.Series(True, index=df.index)
    if ok_only:
        keep &= _ok(df)
    return df[keep]


def _ok(df: pd.DataFrame) -> np.ndarray:
    return df["ok"].eq(True).to_numpy() if "ok" in df else np.ones(len(df), dtype=bool)


def _new_figure(size: tuple[float, float]) -> Figure:
    _render_inline_in_ipython()
    return Figure(figsize=size, layout="constrained")


def _render_inline_in_ipython() -> None:
    """Register a PNG formatter for Figure with a running IPython, unless one exists."""
    try:
        from IPython.core.getipython import get_ipython
    except ImportError:
        return
    shell = get_ipython()  # type: ignore[no-untyped-call]  # IPython leaves it unannotated
    if shell is None:
        return
    png = shell.display_formatter.formatters["image/png"]
    try:
        png.lookup_by_type(Figure)
    except KeyError:
        png.for_type(Figure, _png_bytes)


def _png_bytes(fig: Figure) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _canvas(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig = _new_figure(size)
        return fig, fig.add_subplot()
    # `.figure` is the whole Figure for an Axes in a SubFigure, and the Figure itself otherwise.
    return ax.figure.figure, ax


def _no_data(fig: Figure, ax: Axes, text: str = "no data") -> Figure:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize="large", color="grey")
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def _colours(n: int) -> list[Any]:
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    return [cycle[i % len(cycle)] for i in range(n)]


def _horizontal() -> dict[str, Any]:
    # matplotlib 3.10 replaced vert=False by orientation="horizontal" (and warns on vert)
    version = tuple(int(p) for p in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if version >= (3, 10) else {"vert": False}


# -- arena -------------------------------------------------------------------------------

_NEVER_MET = "#e6e6e6"  # cells with no battles (NaN) and the diagonal


def win_matrix_heatmap(
    matrix: pd.DataFrame, *, title: str | None = None, annotate: bool = True, ax: Axes | None = None
) -> Figure:
    """Heatmap of the rate at which each row target beats each column target.

    Blue above 50%, red below, white at 50%; NaN cells (a pair that never met, the
    diagonal) are light grey and left blank. Rows and columns keep the matrix's order, so
    pass one of `bradley_terry.win_matrix`'s frames (best first) as is.

    Args:
        matrix: Square DataFrame of rates in [0, 1], index = row target, columns = opponent.
        title: Overrides the default title.
        annotate: Write each rate (as a percentage) in its cell.
        ax: Draw into this Axes instead of a new Figure.

    Returns:
        The Figure (the one holding `ax`, if given).

    Raises:
        ValueError: If `matrix` is not square or holds values outside [0, 1].
    """
    values = matrix.to_numpy(dtype=float)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(f"the win matrix must be square (targets x targets), not shape {values.shape}")
    if np.any((values < 0) | (values > 1)):  # NaN compares False: allowed
        raise ValueError("the win matrix holds rates outside [0, 1]; pass a win_matrix() frame")
    n = values.shape[0]
    fig, ax = _canvas(ax, (2.8 + 0.75 * max(n, 2), 1.8 + 0.6 * max(n, 2)))
    ax.set_title(title or "Win rate: row beats column")
    if n == 0:
        return _no_data(fig, ax)
    cmap = matplotlib.colormaps["RdBu"].with_extremes(bad=_NEVER_MET)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    fig.colorbar(image, ax=ax, format=PercentFormatter(xmax=1.0), label="win rate (ties count half)")
    rows, columns = [str(t) for t in matrix.index], [str(t) for t in matrix.columns]
    long_names = max(len(c) for c in columns) > 8
    ax.set_xticks(np.arange(n), columns, rotation=30 if long_names else 0, ha="right" if long_names else "center")
    ax.set_yticks(np.arange(n), rows)
    ax.set_xlabel("opponent")
    ax.set_ylabel("target")
    if annotate:
        _annotate(ax, values)
    return fig


def _annotate(ax: Axes, values: np.ndarray) -> None:
    for (i, j), rate in np.ndenumerate(values):
        if np.isfinite(rate):
            # the colour map is dark at both ends: white text there, black near 50%
            colour = "white" if abs(rate - 0.5) > 0.3 else "black"
            ax.text(j, i, f"{rate:.0%}", ha="center", va="center", fontsize="small", color=colour)
