"""Results as data: the row schema, derived timing, costs and summaries.

Pure: DataFrames in, new DataFrames out; no I/O, no global state, inputs never mutated.
Percentiles use numpy's default linear interpolation: p90 of [100, 200, 300, 400] is
300 + 0.7 * (400 - 300) = 370.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from .prices import CATALOGUE, catalogue_cost, catalogue_knows, provider_id

ROW_COLUMNS: dict[str, str] = {
    "run_id": "object",
    "target": "object",
    "provider": "object",
    "model": "object",
    "prompt_id": "object",
    "prompt": "object",
    "trial": "int64",
    "warmup": "bool",
    "ok": "bool",
    "error_type": "object",
    "error": "object",
    "status_code": "Int64",
    "attempts": "int64",
    "started_at": "datetime64[ns, UTC]",
    "ttft_ms": "float64",
    "latency_ms": "float64",
    "prompt_tokens": "Int64",
    "completion_tokens": "Int64",
    "tokens_per_s": "float64",
    "finish_reason": "object",
    "response": "object",
    "cost_usd": "float64",
    "tool_calls": "object",
    "parsed": "object",
    "schema_valid": "boolean",
    "usage_source": "object",
}
"""Column -> dtype of a results row, in order. String columns hold str or None (object
dtype on every pandas version); NaN in a float column means unknown. `tool_calls` and
`parsed` are JSON text (a list of {id, name, arguments}; the decoded structured answer) so
they export as they are; `schema_valid` is NA when no response_format was asked for;
`usage_source` says where the token counts came from (reported, tokenized or missing)."""

SUMMARY_COLUMNS: tuple[str, ...] = (
    "n",
    "n_ok",
    "error_rate",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "ttft_mean_ms",
    "ttft_p50_ms",
    "ttft_p90_ms",
    "ttft_p99_ms",
    "tokens_per_s_mean",
    "tokens_per_s_p50",
    "itl_p50_ms",
    "latency_p50_ci_low_ms",
    "latency_p50_ci_high_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "cost_per_call_usd",
)
# token sums stay float64 (NaN = unknown): a nullable Int64 column would turn a whole
# `summary.loc[target]` row into Float64 with pd.NA
_SUMMARY_DTYPES = {c: "float64" for c in SUMMARY_COLUMNS} | {"n": "int64", "n_ok": "int64"}
_METRIC_ROWS = {  # metrics_table row label -> summary column
    "calls": "n",
    "errors": "n_errors",
    "latency_ms": "latency_mean_ms",
    "ttft_ms": "ttft_mean_ms",
    "prompt_tokens": "prompt_tokens",
    "completion_tokens": "completion_tokens",
    "tokens_per_s": "tokens_per_s_mean",
    "cost_usd": "cost_usd",
}


def empty_frame() -> pd.DataFrame:
    """Return an empty results frame with the columns and dtypes of `ROW_COLUMNS`."""
    return rows_to_frame([])


def rows_to_frame(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Build a results frame with exactly the `ROW_COLUMNS` columns, in order, and dtypes.

    Args:
        rows: One mapping per call, or a DataFrame to re-normalise. Missing keys become NA,
            extra keys are dropped, `started_at` is parsed as UTC (naive means UTC), and
            a missing `warmup` means False.

    Raises:
        ValueError: If a row lacks `trial`, `ok` or `attempts`, which have no NA value.
    """
    records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
    return pd.DataFrame(
        {name: _column(name, dtype, [r.get(name) for r in records]) for name, dtype in ROW_COLUMNS.items()}
    )


def _column(name: str, dtype: str, values: list[Any]) -> pd.Series:
    values = [(False if name == "warmup" else None) if _missing(v) else v for v in values]
    if dtype in ("bool", "int64") and None in values:
        raise ValueError(f"row {values.index(None)}: {name!r} is required ({dtype}) but missing")
    if dtype == "object":
        return pd.Series([v if v is None else str(v) for v in values], dtype=object)
    if dtype.startswith("datetime64"):
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601").astype(dtype)
    return pd.Series(values, dtype=dtype)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _floats(df: pd.DataFrame, col: str) -> np.ndarray:
    """A column as float64 with NaN for NA; an absent column reads as all-NaN."""
    return (
        pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if col in df
        else np.full(len(df), np.nan)
    )


def _flag(df: pd.DataFrame, col: str, default: bool) -> np.ndarray:
    """A boolean column where only True counts; an absent column reads as `default`."""
    return df[col].eq(True).to_numpy() if col in df else np.full(len(df), default)


def _rates(ttft: np.ndarray, latency: np.ndarray, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    decode_ms = latency - ttft
    with np.errstate(divide="ignore", invalid="ignore"):
        streamed = ~np.isnan(ttft) & (tokens > 1) & (decode_ms > 0)
        plain = np.isnan(ttft) & (latency > 0) & (tokens >= 0)
        tps = np.where(
            streamed, (tokens - 1) / (decode_ms / 1000.0), np.where(plain, tokens / (latency / 1000.0), np.nan)
        )
        itl = np.where(streamed, decode_ms / (tokens - 1), np.nan)
    return tps, itl


def add_derived(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with `tokens_per_s` recomputed and `itl_ms` added, as `rates.derive_timing`
    defines them; failed rows (`ok` False) get NaN for both."""
    out = df.copy()
    tps, itl = _rates(_floats(df, "ttft_ms"), _floats(df, "latency_ms"), _floats(df, "completion_tokens"))
    failed = ~_flag(df, "ok", default=True)
    out["tokens_per_s"] = np.where(failed, np.nan, tps)
    out["itl_ms"] = np.where(failed, np.nan, itl)
    return out


def add_costs(
    df: pd.DataFrame,
    prices: Mapping[str, Any] | pd.DataFrame | None,
    local_providers: Iterable[str] = (),
    providers: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Return a copy with cost_usd for every call, in this order (see `bench.prices`):

    1. the `prices` table: prompt_tokens * input / 1e6 + completion_tokens * output / 1e6; a
       string value ("openai:gpt-4o") prices the calls *as* that catalogue model;
    2. 0.0 for a provider in `local_providers` (loopback/local endpoints);
    3. the genai-prices catalogue, for providers described in `providers`;
    4. NaN, never 0: an unknown price or token count.

    Args:
        df: Results rows.
        prices: USD per million tokens keyed by target ``"provider:model"`` or bare model
            name (target wins), as ``(input, output)`` or ``{"input": .., "output": ..}``, or a
            catalogue model to price as; or a DataFrame with columns target and/or model,
            input, output.
        local_providers: Providers whose calls cost 0.0 unless the table prices them.
        providers: {provider name: its public config} (a run manifest's "providers"): lets
            calls without a table price be priced from the catalogue by provider type and model.

    Raises:
        ValueError: If a price entry is malformed, negative, non-finite or non-numeric, or
            names a model the catalogue does not have.
    """
    table, aliases = _price_table(prices)
    keys = list(zip(df.get("target", [None] * len(df)), df.get("model", [None] * len(df)), strict=False))
    per_m = np.array([table.get(t, table.get(m, (np.nan, np.nan))) for t, m in keys], dtype=float).reshape(-1, 2)
    prompt, completion = _floats(df, "prompt_tokens"), _floats(df, "completion_tokens")
    cost = (prompt * per_m[:, 0] + completion * per_m[:, 1]) / 1e6
    names = df["provider"].tolist() if "provider" in df else [None] * len(df)
    local = set(local_providers)
    groups: dict[tuple[Any, Any, Any], list[int]] = {}
    for i in np.flatnonzero(np.isnan(per_m).any(axis=1)):  # the rows the table did not price
        (target, model), name = keys[i], names[i]
        alias = aliases.get(target, aliases.get(model))
        if alias is None and name in local:
            cost[i] = 0.0  # free, whatever its token counts
        else:
            groups.setdefault((alias, model, name), []).append(int(i))
    for (alias, model, name), rows in groups.items():
        at = np.array(rows)
        cost[at] = _catalogue_prices(alias, model, (providers or {}).get(name), prompt[at], completion[at])
    out = df.copy()
    out["cost_usd"] = cost
    return out


def _catalogue_prices(
    alias: str | None, model: Any, config: Mapping[str, Any] | None, prompt: np.ndarray, completion: np.ndarray
) -> np.ndarray:
    """The catalogue price of calls to one model (as `alias`, else by the provider's type or
    URL); NaN where the model is unknown or a token count is. Linear prices are applied to all
    calls at once; a model whose price has tiers is looked up per distinct call."""
    if alias is not None:
        provider, _, name = alias.rpartition(":")
        where: tuple[str, str | None, str | None] = (name, provider or None, None)
    elif config is None or not isinstance(model, str) or provider_id(config) == (None, None):
        return np.full(len(prompt), np.nan)
    else:
        where = (model, *provider_id(config))
    known = ~np.isnan(prompt) & ~np.isnan(completion)
    out = np.full(len(prompt), np.nan)
    per_input, per_output = (
        catalogue_cost(where[0], 1_000_000, 0, *where[1:]),
        catalogue_cost(where[0], 0, 1_000_000, *where[1:]),
    )
    if per_input is None or per_output is None or not known.any():
        return out
    linear = (prompt * per_input + completion * per_output) / 1e6
    most = int(prompt[known].max()), int(completion[known].max())
    at_most = catalogue_cost(where[0], *most, *where[1:])
    if at_most is not None and math.isclose(at_most, (most[0] * per_input + most[1] * per_output) / 1e6, rel_tol=1e-9):
        return np.where(known, linear, np.nan)  # no call reaches a higher tier
    for i in np.flatnonzero(known):
        found = catalogue_cost(where[0], int(prompt[i]), int(completion[i]), *where[1:])
        out[i] = np.nan if found is None else found
    return out


def _price_table(
    prices: Mapping[str, Any] | pd.DataFrame | None,
) -> tuple[dict[Any, tuple[float, float]], dict[Any, str]]:
    if isinstance(prices, pd.DataFrame):
        prices = _prices_from_frame(prices)
    if not isinstance(prices, Mapping | None):
        raise TypeError(f"prices must be a mapping or a DataFrame, got {type(prices).__name__}")
    numbers = {key: _price(key, value) for key, value in (prices or {}).items() if not isinstance(value, str)}
    aliases = {key: _alias(key, value) for key, value in (prices or {}).items() if isinstance(value, str)}
    return numbers, aliases


def _alias(key: Any, value: str) -> str:
    provider, _, model = value.strip().rpartition(":")
    if not model or not catalogue_knows(model, provider or None):
        raise ValueError(
            f"price for {key!r}: {value!r} is not a model the {CATALOGUE} catalogue prices; give "
            '"provider:model" as it lists them (e.g. "openai:gpt-4o") or (input, output) USD per million'
        )
    return value.strip()


def _prices_from_frame(frame: pd.DataFrame) -> dict[Any, dict[str, Any]]:
    keys = [c for c in ("target", "model") if c in frame.columns]
    if not keys or not {"input", "output"} <= set(frame.columns):
        raise ValueError("price DataFrame needs a 'target' or 'model' column plus 'input' and 'output'")
    prices = {}
    for i, r in enumerate(frame.to_dict("records")):
        key = next((r[c] for c in keys if not _missing(r[c])), None)
        if key is None:
            raise ValueError(f"price DataFrame row {i}: give a target or a model")
        prices[key] = r
    return prices


def _price(key: Any, value: Any) -> tuple[float, float]:
    pair = (value.get("input"), value.get("output")) if isinstance(value, Mapping) else value
    if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
        raise ValueError(
            f"price for {key!r}: expected (input_usd_per_million, output_usd_per_million) "
            f"or {{'input': ..., 'output': ...}}, got {value!r}"
        )
    for side, p in zip(("input", "output"), pair, strict=False):
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not math.isfinite(p) or p < 0:
            raise ValueError(
                f"price for {key!r}: {side} must be a finite number >= 0 (USD per million tokens), got {p!r}"
            )
    return float(pair[0]), float(pair[1])


def summarize(
    df: pd.DataFrame, by: str | list[str] = "target", ci: float | None = 0.95, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """One row per group (first-seen order): call counts, timing, tokens and cost.

    - Warm-up rows are always excluded, ok or failed.
    - Timing statistics use ok rows, skipping NaN; tokens_per_s and itl_ms are recomputed
      from usage tokens (`add_derived`); percentiles interpolate linearly.
    - `latency_p50_ci_low_ms`/`_high_ms`: the exact distribution-free (order-statistic)
      CI of the median ok latency (see `_median_ci`); NaN with fewer than 2 ok rows.
    - Token and cost totals sum all rows, a failed row's unknown value counting as
      unbilled; a total is NaN if any ok row's value is unknown (a partial sum would
      understate) or none is known. `cost_per_call_usd` is the mean cost of an ok call.

    Args:
        df: Results rows.
        by: Column(s) to group by; they become the index.
        ci: Confidence level in (0, 1), or None to skip the bootstrap.
        n_boot: Kept for compatibility (the median's CI no longer resamples).
        seed: Kept for compatibility.

    Returns:
        A DataFrame with the columns of `SUMMARY_COLUMNS`.
    """
    if ci is not None and not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci!r}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot!r}")
    groups = add_derived(df[~_flag(df, "warmup", default=False)]).groupby(by, sort=False, dropna=False)
    stats = [_group_stats(g, ci) for _, g in groups]
    out = pd.DataFrame(stats, index=groups.size().index, columns=list(SUMMARY_COLUMNS))
    return out.astype(_SUMMARY_DTYPES)


def _group_stats(g: pd.DataFrame, ci: float | None) -> dict[str, Any]:
    ok = _flag(g, "ok", default=True)
    lat, ttft = _floats(g, "latency_ms")[ok], _floats(g, "ttft_ms")[ok]
    tps, itl = _floats(g, "tokens_per_s")[ok], _floats(g, "itl_ms")[ok]
    n, n_ok = len(g), int(ok.sum())
    row: dict[str, Any] = {"n": n, "n_ok": n_ok, "error_rate": (n - n_ok) / n}
    for name, x in (("latency", lat), ("ttft", ttft)):
        row[f"{name}_mean_ms"] = _stat(np.mean, x)
        row |= {f"{name}_p{q}_ms": _stat(np.percentile, x, q) for q in (50, 90, 99)}
    row |= {
        "tokens_per_s_mean": _stat(np.mean, tps),
        "tokens_per_s_p50": _stat(np.percentile, tps, 50),
        "itl_p50_ms": _stat(np.percentile, itl, 50),
    }
    row["latency_p50_ci_low_ms"], row["latency_p50_ci_high_ms"] = _median_ci(lat, ci)
    for col in ("prompt_tokens", "completion_tokens", "cost_usd"):
        values = _floats(g, col)
        unknown = np.isnan(values[ok]).any() or np.isnan(values).all()
        row[col] = math.nan if unknown else float(np.nansum(values))
    cost = _floats(g, "cost_usd")[ok]
    row["cost_per_call_usd"] = float(np.mean(cost)) if cost.size else math.nan
    return row


def _stat(fn: Any, x: np.ndarray, *args: Any) -> float:
    x = x[~np.isnan(x)]
    return float(fn(x, *args)) if x.size else math.nan


def _median_ci(x: np.ndarray, ci: float | None) -> tuple[float, float]:
    """Distribution-free CI of the median from order statistics: [x_(l), x_(n+1-l)] with the
    largest l such that P(Binomial(n, 1/2) <= l - 1) <= (1 - ci) / 2 (exact up to n = 1,000,
    the normal approximation above). No resampling, so a million rows cost one sort. When n
    is too small for the level (n = 4 at 95%), the widest interval [min, max] is given."""
    x = np.sort(x[~np.isnan(x)])
    if ci is None or x.size < 2:
        return math.nan, math.nan
    lower = _median_rank(x.size, (1 - ci) / 2)
    return float(x[lower]), float(x[x.size - 1 - lower])


def _median_rank(n: int, tail: float) -> int:
    """0-based index of the lower order statistic (see `_median_ci`)."""
    if n > 1000:
        z = NormalDist().inv_cdf(1 - tail)
        return max(0, min(n // 2, math.floor(n / 2 - z * math.sqrt(n) / 2)))
    cumulative, rank = 0.0, 0
    for k in range(n // 2 + 1):
        cumulative += math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2))
        if cumulative > tail:
            break
        rank = k  # P(B <= k) <= tail: coverage of [x[k], x[n-1-k]] is 1 - 2 P(B <= k) >= ci
    return min(rank, n // 2)


def wide_answers(df: pd.DataFrame) -> pd.DataFrame:
    """Answers side by side: index prompt_id, one column per target in first-seen order.

    A cell is the response text, ``"⚠ {error_type}: {error}"`` for a failed call, or None
    where no call was made. Warm-up rows are skipped; of several trials the lowest wins.
    """
    live = df[~_flag(df, "warmup", default=False)]
    targets, prompts = list(dict.fromkeys(live["target"])), list(dict.fromkeys(live["prompt_id"]))
    cells: dict[tuple[Any, Any], str] = {}
    for row in live.sort_values("trial", kind="stable").to_dict("records"):
        cells.setdefault((row["prompt_id"], row["target"]), _answer(row))
    data = {t: [cells.get((p, t)) for p in prompts] for t in targets}
    out = pd.DataFrame(data, index=pd.Index(prompts, name="prompt_id"), columns=targets, dtype=object)
    out.columns.name = "target"
    return out


def _answer(row: Mapping[str, Any]) -> str:
    if row.get("ok") in (True, np.True_):
        text = "" if _missing(row.get("response")) else str(row["response"])
        calls = tool_call_lines(row.get("tool_calls"))
        return "\n".join(part for part in (text, calls) if part)
    kind = row.get("error_type") or "error"
    return f"⚠ {kind}" if _missing(row.get("error")) else f"⚠ {kind}: {row['error']}"


def tool_call_lines(tool_calls: Any) -> str:
    """A row's tool calls (its JSON column) as readable lines, `→ name({"arg": ...})`."""
    if _missing(tool_calls) or not tool_calls:
        return ""
    try:
        calls = json.loads(tool_calls) if isinstance(tool_calls, str) else tool_calls
    except ValueError:
        return str(tool_calls)
    return "\n".join(f"→ {c.get('name')}({json.dumps(c.get('arguments') or {}, ensure_ascii=False)})" for c in calls)


def metrics_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per-target metrics of a compare: one row per metric, one column per target.

    Rows: calls, errors, latency_ms and ttft_ms (means over ok calls), prompt_tokens and
    completion_tokens (sums), tokens_per_s (mean), cost_usd (total); warm-up excluded.
    """
    s = summarize(df, ci=None).eval("n_errors = n - n_ok")
    table = s[list(_METRIC_ROWS.values())].set_axis(list(_METRIC_ROWS), axis=1).T
    table.index.name, table.columns.name = "metric", "target"
    return table


def style_summary(summary: pd.DataFrame) -> pd.io.formats.style.Styler:
    """Style a `summarize` result for display (needs jinja2).

    Bars on latency and TTFT columns (one scale per family, from 0), a red tint growing
    with error_rate; ms to 1 decimal, rates as %, cost in $ (4 decimals, 6 below a cent),
    NaN as "—"."""
    cols = [c for c in summary.columns if isinstance(c, str)]
    formats = {
        "{:.1f}": [c for c in cols if c.endswith("_ms") or c.startswith("tokens_per_s")],
        "{:.1%}": [c for c in cols if c == "error_rate"],
        _dollars: [c for c in cols if c.startswith("cost_")],
        "{:,.0f}": [c for c in cols if c in ("n", "n_ok", "prompt_tokens", "completion_tokens")],
    }
    styler = summary.style.format(precision=2, na_rep="—")
    for fmt, subset in formats.items():
        styler = styler.format(fmt, subset=subset, na_rep="—")
    for family in ("latency_", "ttft_"):
        bars = [c for c in cols if c.startswith(family) and c.endswith("_ms") and "_ci_" not in c]
        if bars and summary[bars].notna().to_numpy().any():
            styler = styler.bar(subset=bars, axis=None, vmin=0, color="#9ecae1")
    if "error_rate" in cols:
        styler = styler.apply(
            lambda rates: [
                "" if _missing(r) else f"background-color: rgba(214, 40, 40, {0.1 + 0.6 * min(r, 1.0):.2f})"
                for r in rates
            ],
            subset=["error_rate"],
        )
    return styler


def _dollars(value: float) -> str:
    return f"${value:,.{4 if abs(value) >= 0.01 else 6}f}"
