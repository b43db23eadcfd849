"""HTML for results in a notebook: a comparison's answers, scores and numbers as separate
tables that read well. Pure (strings in, a string out); everything shown is escaped.

- answers keep their line breaks (shown as breaks, not collapsed into one line);
- the numbers are a table of their own under the answers, counts as whole numbers;
- a simulated target says "simulated" in its header and its cost cell (not "$0.000000");
  a target on a local endpoint costs "$0 (local)"; an unknown price is "— (no price)".
"""

from __future__ import annotations

import html
import math
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["compare_html"]

_STYLE = (
    "<style>.cpnb-compare td,.cpnb-compare th{text-align:left;vertical-align:top;padding:4px 8px}"
    ".cpnb-compare td.cpnb-text{white-space:pre-wrap;max-width:44em}.cpnb-compare td.cpnb-num"
    "{text-align:right;font-variant-numeric:tabular-nums}.cpnb-compare caption{text-align:left;"
    "font-weight:bold;padding:6px 0 2px}</style>"
)
_COUNTS = {"calls", "errors", "prompt_tokens", "completion_tokens"}


def compare_html(
    answers: pd.DataFrame,
    scores: pd.DataFrame,
    metrics: pd.DataFrame,
    *,
    simulated: Collection[str] = (),
    local: Collection[str] = (),
) -> str:
    """Answers (index prompt_id, one column per target), scores (index (prompt_id, scorer))
    and metrics (index metric, one column per target) as three captioned tables. `simulated`
    and `local` name targets ("provider:model")."""
    targets = [str(t) for t in answers.columns]
    head = _header("prompt", targets, simulated)
    rows = [[_cell(pid), *(_cell(text, "cpnb-text") for text in row)] for pid, row in answers.iterrows()]
    parts = [_STYLE, _table("Answers", head, rows)]
    if len(scores):
        score_rows = [
            [_cell(f"{pid} · {name}"), *(_cell(_score(v), "cpnb-num") for v in row)]
            for (pid, name), row in scores.iterrows()
        ]
        parts.append(_table("Scores (1 = correct)", _header("prompt · scorer", targets, simulated), score_rows))
    metric_rows = [
        [_cell(str(name)), *(_cell(_metric(str(name), v, t, simulated, local), "cpnb-num") for t, v in row.items())]
        for name, row in metrics.iterrows()
    ]
    parts.append(_table("Numbers per target", _header("metric", targets, simulated), metric_rows))
    return "".join(parts)


def _header(first: str, targets: list[str], simulated: Collection[str]) -> str:
    labels = [f"{html.escape(t)}<br><i>simulated</i>" if t in simulated else html.escape(t) for t in targets]
    return "<tr>" + "".join(f"<th>{label}</th>" for label in [html.escape(first), *labels]) + "</tr>"


def _table(caption: str, head: str, rows: list[list[str]]) -> str:
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f'<table class="cpnb-compare"><caption>{html.escape(caption)}</caption>{head}{body}</table>'


def _cell(value: Any, cls: str = "") -> str:
    text = "—" if _missing(value) else html.escape(str(value))
    return f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("<NA>", "NaT")


def _score(value: Any) -> str:
    if _missing(value):
        return "— (missing)"
    return f"{float(value):.2f}" if 0 < float(value) < 1 else f"{float(value):.0f}"


def _metric(name: str, value: Any, target: str, simulated: Collection[str], local: Collection[str]) -> str:
    if name == "cost_usd":
        if target in simulated:
            return "simulated"
        if _missing(value):
            return "— (no price)"
        return "$0 (local)" if target in local and float(value) == 0 else f"${float(value):.6f}"
    if _missing(value):
        return "—"
    return f"{float(value):,.0f}" if name in _COUNTS else f"{float(value):,.1f}"
