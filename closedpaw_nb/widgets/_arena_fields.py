"""The arena panel's widgets: `ArenaFields` renders an `ArenaForm` (the open row, the voter,
the battle labelled only A and B, the vote buttons, the reveal, the ranking). No actions
here: the panel wires the buttons and the keyboard.

Every text that comes from a run (prompts, answers, target names) is escaped before it
becomes HTML, so an answer can never inject markup into the page.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as w
import traitlets
from ipyevents import Event

from ._benchmark_fields import summary_html
from ._state import ArenaForm
from ._views import LABEL_STYLE, button, holding, message, note, row

__all__ = [
    "CHOICE_LABELS",
    "KEYS",
    "RANKING_COLUMNS",
    "ArenaFields",
    "answer_html",
    "progress_text",
    "ranking_html",
    "run_label",
]

KEYS: dict[str, str] = {
    "a": "A",
    "1": "A",
    "b": "B",
    "2": "B",
    "t": "tie",
    "3": "tie",
    "x": "both_bad",
    "4": "both_bad",
    "n": "next",
}
"""Keyboard shortcut -> the vote about the answers as shown (`SHOWN_CHOICES`), or "next"."""

CHOICE_LABELS: dict[str, str] = {"A": "A is better", "tie": "Tie", "B": "B is better", "both_bad": "Both bad"}
"""The vote buttons' labels, in the order they are shown."""

_BUTTONS = {"A": ("cpnb-arena-a", "a or 1"), "tie": ("cpnb-arena-tie", "t or 3")}
_BUTTONS |= {"B": ("cpnb-arena-b", "b or 2"), "both_bad": ("cpnb-arena-bad", "x or 4")}
_KEYS_NOTE = (
    "Keys, with the mouse over this area: a or 1 = A is better · b or 2 = B is better · t or 3 = tie · "
    "x or 4 = both bad · n = next battle"
)

RANKING_COLUMNS = ("target", "elo", "elo_ci_low", "elo_ci_high", "rank", "battles", "win_rate")
"""The ranking columns the panel shows (`Arena.ranking()` has more)."""

# A long answer scrolls inside its box: the two stay side by side and the buttons in view.
_ANSWER_STYLE = (
    "white-space:pre-wrap;overflow-wrap:anywhere;max-height:320px;overflow-y:auto;"
    "border:1px solid #c8c8c8;border-radius:4px;padding:6px 8px;line-height:1.4"
)


def run_label(run: Mapping[str, Any]) -> str:
    """A run in the run list: its id, status and row count (never its targets)."""
    return f"{run['run_id']} · {run.get('status') or '?'} · {run.get('rows', 0)} rows"


def answer_html(text: str) -> str:
    """A prompt or answer as escaped, wrapped, scrollable HTML."""
    return f'<div style="{_ANSWER_STYLE}">{html.escape(text)}</div>'


def progress_text(form: ArenaForm) -> str:
    """ "3 of 36 voted by you", or "All 36 battles voted by you." once none is left."""
    if form.phase == "closed":
        return ""
    if form.total and form.voted >= form.total:
        return f"All {form.total} battles voted by {form.voter}."
    return f"{form.voted} of {form.total} voted by {form.voter}"


def ranking_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """The ranking as an escaped HTML table ('' when there is none)."""
    import pandas as pd

    if not rows:
        return ""
    frame = pd.DataFrame(list(rows)).reindex(columns=list(RANKING_COLUMNS))
    formats = {c: "{:.0f}".format for c in ("elo", "elo_ci_low", "elo_ci_high", "rank", "battles")}
    formats["win_rate"] = "{:.1%}".format
    table = frame.to_html(
        index=False, escape=True, na_rep="—", formatters=formats, classes="cpnb-arena-ranking", border=0
    )
    caption = note("Bradley–Terry on an Elo-like scale with its 95% bootstrap interval; ties and both-bad count half.")
    return summary_html(table) + caption


class ArenaFields(w.VBox):  # type: ignore[misc]  # ipywidgets ships no types
    """Every widget of the arena panel, rendering the form's battle, progress, reveal and ranking.

    Args:
        form: The state the inputs are linked to (the state's values win at start).

    Attributes:
        shortcuts: The ipyevents `Event` watching keydown on `voting` (the handler is the panel's).
    """

    def __init__(self, form: ArenaForm) -> None:
        self.form = form
        self._syncing = False  # set while the run list is rebuilt (the dropdown writes back)
        self._open_row()
        self._voting_area()
        self._results()
        traitlets.link((form, "pairs"), (self.pairs, "value"))
        traitlets.link((form, "voter"), (self.voter, "value"))
        self.run.observe(self._run_from_dropdown, names="value")
        super().__init__(
            [
                self.open_row,
                self.voter,
                self.status_html,
                self.progress_html,
                self.voting,
                row(self.rank_button),
                self.table,
                self.chart,
            ]
        )
        form.observe(self._render_runs, names="runs")
        form.observe(self._render_status, names=["status", "error"])
        form.observe(self._render_progress, names=["phase", "voted", "total", "voter"])
        form.observe(self._render_battle, names=["prompt", "answer_a", "answer_b"])
        form.observe(self._render_phase, names=["phase", "busy", "prompt"])
        form.observe(self._render_reveal, names="reveal")
        form.observe(self._render_table, names="rows")
        for render in (self._render_runs, self._render_battle, self._render_phase, self._render_progress):
            render()

    def _open_row(self) -> None:
        self.run = w.Dropdown(description="Run", style=LABEL_STYLE, layout=w.Layout(width="520px"))
        self.refresh_button = button(
            "", icon="refresh", tooltip="List the store's runs again", cls="cpnb-arena-refresh"
        )
        self.refresh_button.layout.width = "40px"
        self.pairs = w.Dropdown(
            options=[("all pairs of targets", "all"), ("adjacent targets only", "adjacent")],
            value=self.form.pairs,
            description="Pairs",
            style={"description_width": "50px"},
            layout=w.Layout(width="240px"),
        )
        self.open_button = button("Open", "primary", "folder-open", "Open an arena on this run", cls="cpnb-arena-open")
        self.open_row = row(self.run, self.refresh_button, self.pairs, self.open_button)
        self.voter = w.Text(
            self.form.voter,
            description="Voter",
            continuous_update=False,  # a new name applies on Enter or blur, not per keystroke
            style=LABEL_STYLE,
            layout=w.Layout(width="360px"),
        )
        for widget, cls in ((self.run, "cpnb-arena-run"), (self.pairs, "cpnb-arena-pairs")):
            widget.add_class(cls)
        self.voter.add_class("cpnb-arena-voter")

    def _voting_area(self) -> None:
        self.status_html, self.progress_html = w.HTML(), w.HTML()
        self.prompt_html, self.answer_a_html, self.answer_b_html = w.HTML(), w.HTML(), w.HTML()
        self.vote_buttons = {
            choice: button(label, tooltip=f"{label} (key: {_BUTTONS[choice][1]})", cls=_BUTTONS[choice][0])
            for choice, label in CHOICE_LABELS.items()
        }
        self.next_button = button("Next", "info", "forward", "The next battle (key: n)", cls="cpnb-arena-next")
        self.reveal_html = w.HTML()
        columns = [
            w.VBox([w.HTML(f"<b>{label}</b>"), answer], layout=w.Layout(width="50%", min_width="0"))
            for label, answer in (("A", self.answer_a_html), ("B", self.answer_b_html))
        ]
        self.voting = w.VBox(
            [
                w.HTML("<b>Prompt</b>"),
                self.prompt_html,
                w.HBox(columns, layout=w.Layout(grid_gap="12px", width="100%")),
                row(*self.vote_buttons.values()),
                row(self.reveal_html, self.next_button),
                w.HTML(note(_KEYS_NOTE)),
            ],
            layout=w.Layout(border="1px solid #d0d0d0", padding="6px 10px", max_width="1100px"),
        )
        # ipyevents listens while the mouse is over the area, and keeps those keys from JupyterLab.
        self.shortcuts = Event(source=self.voting, watched_events=["keydown"], ignore_modifier_key_events=True)
        for widget, cls in (
            (self.status_html, "cpnb-status"),
            (self.progress_html, "cpnb-arena-progress"),
            (self.prompt_html, "cpnb-arena-prompt"),
            (self.answer_a_html, "cpnb-arena-answer-a"),
            (self.answer_b_html, "cpnb-arena-answer-b"),
            (self.reveal_html, "cpnb-arena-reveal"),
            (self.voting, "cpnb-arena-voting"),
        ):
            widget.add_class(cls)

    def _results(self) -> None:
        self.rank_button = button(
            "Ranking", icon="trophy", tooltip="Rank the targets from the votes so far", cls="cpnb-arena-rank"
        )
        self.table, self.chart = w.HTML(), w.Output()
        self.table.add_class("cpnb-arena-table")
        self.chart.add_class("cpnb-arena-chart")

    # -- state -> widgets -------------------------------------------------------------------

    def _render_runs(self, _change: Any = None) -> None:
        options = [(run_label(r), r["run_id"]) for r in self.form.runs]
        ids = [value for _label, value in options]
        self._syncing = True
        try:
            with holding(self.run):
                self.run.options = options
                self.run.value = self.form.run_id if self.form.run_id in ids else (ids[0] if ids else None)
        finally:
            self._syncing = False
        self.form.run_id = self.run.value or ""

    def _run_from_dropdown(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self.form.run_id = change["new"] or ""

    def _render_status(self, _change: Any = None) -> None:
        self.status_html.value = message(self.form.error, "error") or message(self.form.status)

    def _render_progress(self, _change: Any = None) -> None:
        text = progress_text(self.form)
        self.progress_html.value = f"<b>{html.escape(text)}</b>" if text else ""

    def _render_battle(self, _change: Any = None) -> None:
        f = self.form
        with holding(self.prompt_html, self.answer_a_html, self.answer_b_html):
            self.prompt_html.value = answer_html(f.prompt) if f.prompt else ""
            self.answer_a_html.value = answer_html(f.answer_a) if f.prompt else ""
            self.answer_b_html.value = answer_html(f.answer_b) if f.prompt else ""

    def _render_phase(self, _change: Any = None) -> None:
        f = self.form
        buttons = (*self.vote_buttons.values(), self.next_button, self.open_button, self.rank_button)
        with holding(*buttons, self.voting):
            for b in self.vote_buttons.values():
                b.disabled = f.phase != "voting" or f.busy
            self.next_button.disabled = f.phase != "revealed" or f.busy
            self.open_button.disabled = f.busy
            # The ranking names the targets: not beside a battle that still waits for its vote.
            self.rank_button.disabled = f.busy or f.phase in ("closed", "voting")
            self.voting.layout.display = "none" if f.phase == "closed" or not f.prompt else ""

    def _render_reveal(self, _change: Any = None) -> None:
        self.reveal_html.value = message(self.form.reveal, "ok")

    def _render_table(self, _change: Any = None) -> None:
        self.table.value = ranking_html(self.form.rows)
