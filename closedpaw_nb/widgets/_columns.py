"""One column of a live comparison: a target's streaming answer and its numbers.

The view only renders its `TargetColumn` state; the comparison's background task writes
that state (at most every `TICK` seconds while streaming), so the browser gets a few
updates per second rather than one per token.
"""

from __future__ import annotations

import html
import math

import ipywidgets as w

from ._state import TargetColumn
from ._views import STATUS_COLOURS, shortened

__all__ = ["ColumnView", "metrics_text"]

_PHASE_COLOURS = {
    "waiting": "#e5e8e8",
    "streaming": STATUS_COLOURS["checking"],
    "done": STATUS_COLOURS["ok"],
    "error": STATUS_COLOURS["error"],
    "cancelled": STATUS_COLOURS["disabled"],
}
_METRICS = ["phase", "elapsed_ms", "chunks", "ttft_ms", "latency_ms", "tokens", "tokens_per_s", "cost_usd", "error"]


def _known(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def metrics_text(col: TargetColumn, local: bool = False, simulated: bool = False) -> str:
    """The column's numbers as one line: a running timer while streaming, then the final
    latency, TTFT, tokens, tokens/s and cost ("simulated" for the simulator, whose cost means
    nothing; "$0 (local)" for a local endpoint)."""
    ttft = f"TTFT {col.ttft_ms:.0f} ms" if _known(col.ttft_ms) else "TTFT —"
    if col.phase in ("waiting", "streaming"):
        return f"running {col.elapsed_ms / 1000:.2f} s · {ttft} · {col.chunks} chunks so far"
    if col.phase == "cancelled":
        return f"cancelled after {col.elapsed_ms / 1000:.2f} s · {ttft}"
    if col.phase == "error":
        return f"failed after {col.latency_ms or col.elapsed_ms:.0f} ms"
    parts = [
        f"latency {col.latency_ms:.0f} ms" if _known(col.latency_ms) else "latency —",
        ttft,
        f"{col.tokens} tokens" if col.tokens is not None else "tokens —",
        f"{col.tokens_per_s:.1f} tok/s" if _known(col.tokens_per_s) else "tok/s —",
    ]
    if simulated:
        parts.append("cost: simulated")
    elif _known(col.cost_usd):
        parts.append("$0 (local)" if local and col.cost_usd == 0 else f"${col.cost_usd:.6f}")
    else:
        parts.append("cost — (no price)")
    return " · ".join(parts)


class ColumnView(w.VBox):  # type: ignore[misc]  # ipywidgets ships no types
    """Header, numbers and answer of one target, re-rendered when its state changes.

    Args:
        state: The column's state.
        local: The target is on a loopback address (its cost shows as local).
        simulated: The target is closedpaw_nb's simulator, not a real model (said in the header).
    """

    def __init__(self, state: TargetColumn, local: bool = False, simulated: bool = False) -> None:
        self.state, self.local, self.simulated = state, local, simulated
        label = " <i style='opacity:0.7'>(simulated output)</i>" if simulated else ""
        self.header = w.HTML(f"<b>{html.escape(state.target)}</b>{label}")
        self.metrics = w.HTML()
        self.score = w.HTML()
        self.score.add_class("cpnb-score")
        self.answer = w.HTML(layout=w.Layout(max_height="340px", overflow="auto"))
        self.answer.add_class("cpnb-answer")
        super().__init__(
            [self.header, self.metrics, self.score, self.answer],
            layout=w.Layout(
                flex="1 1 260px", min_width="240px", border="1px solid #c8c8c8", padding="6px", margin="0 6px 6px 0"
            ),
        )
        self.add_class("cpnb-column")
        state.observe(self._render_metrics, names=_METRICS)
        state.observe(self._render_answer, names=["text", "error", "tool_calls", "parsed"])
        state.observe(self._render_score, names=["score", "score_note"])
        self._render_metrics()
        self._render_answer()
        self._render_score()

    def _render_metrics(self, _change: object = None) -> None:
        s = self.state
        colour = _PHASE_COLOURS.get(s.phase, "#e5e8e8")
        style = f"background:{colour};color:#1b1b1b;padding:2px 6px;border-radius:4px;font-size:90%;line-height:1.5"
        text = html.escape(metrics_text(s, self.local, self.simulated))
        self.metrics.value = f'<div class="cpnb-metrics cpnb-{s.phase}" style="{style}">{text}</div>'

    def _render_answer(self, _change: object = None) -> None:
        s = self.state
        error = f'<div style="color:#a4161a;white-space:pre-wrap">⚠ {shortened(s.error)}</div>' if s.error else ""
        body = html.escape(s.text) if s.text else ("<i>waiting…</i>" if s.phase in ("waiting", "streaming") else "")
        mono = "font-family:var(--jp-code-font-family,monospace);font-size:90%;white-space:pre-wrap"
        extras = "".join(
            f'<div class="{cls}" style="{mono};margin-top:4px"><b>{label}</b>\n{html.escape(value)}</div>'
            for cls, label, value in (
                ("cpnb-tool-calls", "tool calls", s.tool_calls),
                ("cpnb-parsed", "parsed", s.parsed),
            )
            if value
        )
        self.answer.value = f'{error}<div style="white-space:pre-wrap;line-height:1.45">{body}</div>{extras}'

    def _render_score(self, _change: object = None) -> None:
        s = self.state
        if not s.score_note:
            self.score.value = ""
            return
        if s.score is None:
            mark, colour, value = "—", "#6c757d", "missing"
        else:
            mark, colour = ("✓", "#1b7a3a") if s.score >= 1 else ("✗", "#a4161a") if s.score <= 0 else ("≈", "#8a6d00")
            value = f"{s.score:g}"
        text = html.escape(f"{mark} {value} · {s.score_note}")
        self.score.value = f'<div class="cpnb-score-{value}" style="color:{colour};font-size:90%">{text}</div>'
