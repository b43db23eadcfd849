"""The leaderboard panel's state, widgets and table: `LeaderboardForm` (traitlets, no widgets),
`LeaderboardFields` (inputs linked to it, progress, status, table, chart, exports) and the
pure helpers that sort and render the rows. No actions here: the panel wires the buttons."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import traitlets
from traitlets import Dict, Int, List, Unicode

from ._benchmark_fields import summary_html
from ._state import RunForm
from ._views import LABEL_STYLE, button, cancel_button, exported_list, holding, message, note, render_progress, row

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FILE",
    "ITEM_SCORER",
    "SCORER_CHOICES",
    "SORT_COLUMNS",
    "LeaderboardFields",
    "LeaderboardForm",
    "board_html",
    "records",
    "sort_rows",
    "sorted_by",
]

FILE = "file"
"""The dataset choice that reads `LeaderboardForm.path` instead of a shipped set."""

ITEM_SCORER = "correct"
"""The scorer that applies, to each item, the scorer named in the item's `scorer` column."""

SCORER_CHOICES: dict[str, str] = {
    ITEM_SCORER: "correct: by the item's scorer column",
    "exact_match": "exact_match: same text (case, punctuation, articles ignored)",
    "numeric": "numeric: the answer's last number",
    "choice": "choice: the letter picked (A-D)",
    "json_valid": "json_valid: JSON equal to the expected value",
    "includes": "includes: the expected text appears in the answer",
}
"""Scorer name -> checkbox label, in the order they are offered (and run)."""

# Lower is better for these; every score (and n_items) sorts best-first descending.
_ASCENDING = frozenset({"target", "error_rate", "latency_p50_ms", "cost_per_item_usd", "cost_per_correct_usd"})
SORT_COLUMNS = ("error_rate", "latency_p50_ms", "cost_per_item_usd", "cost_per_correct_usd", "n_items", "target")
_SORT_LABELS = {
    "error_rate": "error rate (lowest first)",
    "latency_p50_ms": "p50 latency (fastest first)",
    "cost_per_item_usd": "cost per item (cheapest first)",
    "cost_per_correct_usd": "cost per correct answer (cheapest first)",
    "n_items": "items (most first)",
    "target": "target (A-Z)",
}


class LeaderboardForm(RunForm):
    """The leaderboard's inputs, live progress, the last run's rows and the exports."""

    dataset = Unicode("basic", help='A shipped set\'s name, or "file" to read `path`.')
    path = Unicode("", help="A CSV, JSONL or Parquet file of items (when dataset is 'file').")
    limit = Int(0, help="Evaluate only the first N items; 0: all of them.")
    scorers = List(Unicode(), default_value=[ITEM_SCORER], help="Names from SCORER_CHOICES.")
    trials = Int(1)
    concurrency = Int(8)
    scorer_names = List(Unicode(), help="The scorers of the run shown (its score columns).")
    rows = List(Dict(), help="The leaderboard, one dict per target in the shown order; NaN is None.")
    sort_by = Unicode("", help="The column `rows` are sorted by, best first.")
    simulated = List(Unicode(), help="Providers of the run shown that are closedpaw_nb's simulator.")

    @traitlets.observe("sort_by")
    def _resort(self, change: dict[str, Any]) -> None:
        self.rows = sort_rows(self.rows, change["new"])


def sort_rows(rows: Sequence[Mapping[str, Any]], column: str) -> list[dict[str, Any]]:
    """`rows` best first by `column` (scores and items: highest; error rate, latency, cost:
    lowest; target: A-Z), unknown values last, ties in their previous order."""
    known = [dict(r) for r in rows if r.get(column) is not None]
    unknown = [dict(r) for r in rows if r.get(column) is None]
    known.sort(key=lambda r: r[column], reverse=column not in _ASCENDING)
    return known + unknown


def sorted_by(column: str) -> str:
    """The label of `column` in the Sort by list (which way is best)."""
    return _SORT_LABELS.get(column, f"{column} (best first)")


def records(board: pd.DataFrame) -> list[dict[str, Any]]:
    """A leaderboard as plain dicts (Python numbers, None for NaN): safe in a traitlets List."""
    out: list[dict[str, Any]] = []
    for record in board.astype(object).to_dict(orient="records"):
        out.append({str(k): _plain(v) for k, v in record.items()})
    return out


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float | int) and not isinstance(value, bool):
        return None if isinstance(value, float) and math.isnan(value) else value
    if hasattr(value, "item"):  # a numpy scalar that survived astype(object)
        return _plain(value.item())
    return value


def board_html(rows: Sequence[Mapping[str, Any]], scorers: Sequence[str]) -> str:
    """The rows as the benchmark summary's styled table: scores (and their CI) as percentages
    with a bar, latency bars and error-rate tint as in `style_summary`, NaN as "—"."""
    import pandas as pd

    from ..bench.frames import style_summary

    if not rows:
        return ""
    frame = pd.DataFrame(list(rows)).set_index("target")
    frame = frame.apply(pd.to_numeric, errors="coerce")  # None -> NaN, so the formats apply
    styler = style_summary(frame)
    score_columns = [c for name in scorers for c in (name, f"{name}_ci_low", f"{name}_ci_high") if c in frame]
    styler = styler.format("{:.1%}", subset=score_columns, na_rep="—")
    means = [name for name in scorers if name in frame and frame[name].notna().any()]
    if means:
        styler = styler.bar(subset=means, axis=None, vmin=0, vmax=1, color="#a1d99b")
    styler = styler.format("{:,.0f}", subset=["n_items"], na_rep="—")
    styler = styler.set_caption("scores: mean with its 95% CI (bootstrap over items)")
    return summary_html(styler.to_html())


class LeaderboardFields(w.VBox):  # type: ignore[misc]  # ipywidgets ships no types
    """Every widget of the leaderboard panel, rendering the form's progress, rows and exports.

    Args:
        form: The state the inputs are linked to (the state's values win at start).
        datasets: The shipped question sets offered besides a file.
    """

    def __init__(self, form: LeaderboardForm, datasets: Sequence[str]) -> None:
        self.form = form
        self._syncing = False  # set while the state is copied into widgets that write it back
        self._inputs(datasets)
        self._outputs()
        for widget, trait in (
            (self.targets, "targets"),
            (self.dataset, "dataset"),
            (self.path, "path"),
            (self.limit, "limit"),
            (self.trials, "trials"),
            (self.concurrency, "concurrency"),
            (self.export_dir, "export_dir"),
        ):
            traitlets.link((form, trait), (widget, "value"))  # the state wins at start
        for box in self.scorer_boxes.values():
            box.observe(self._scorers_from_boxes, names="value")
        numbers = w.VBox([self.trials, self.concurrency, self.limit])
        super().__init__(
            [
                row(self.targets, numbers, gap="24px"),
                row(self.dataset, self.path),
                w.HTML("<b>Scorers</b>"),
                w.GridBox(
                    list(self.scorer_boxes.values()),
                    layout=w.Layout(grid_template_columns="repeat(2, 460px)", grid_gap="0 24px"),
                ),
                row(self.run_button, self.cancel_button),
                row(self.progress, self.counts),
                self.status_html,
                self.sort_by,
                self.table,
                self.simulated_html,
                self.chart,
                row(self.export_dir, self.csv_button, self.board_csv_button),
                self.exported_html,
            ]
        )
        form.observe(self._render_status, names=["status", "error"])
        form.observe(self._render_counts, names=["total", "done", "ok", "errors"])
        form.observe(self._render_exports, names="exported")
        form.observe(self._show_path, names="dataset")
        form.observe(self._boxes_from_scorers, names="scorers")
        form.observe(self._render_sort_options, names="scorer_names")
        form.observe(self._render_table, names=["rows", "scorer_names"])
        form.observe(self._render_sort, names="sort_by")
        form.observe(self._render_simulated, names="simulated")
        self._show_path()
        self._boxes_from_scorers()
        self._render_counts()

    def _inputs(self, datasets: Sequence[str]) -> None:
        f = self.form
        self.targets = w.SelectMultiple(
            description="Targets", rows=5, style=LABEL_STYLE, layout=w.Layout(width="460px")
        )
        options = [(f"{name} (shipped with closedpaw_nb)", name) for name in datasets]
        self.dataset = w.Dropdown(
            options=[*options, ("a file: CSV, JSONL or Parquet", FILE)],
            value=f.dataset,
            description="Dataset",
            style=LABEL_STYLE,
            layout=w.Layout(width="460px"),
        )
        self.path = w.Text(f.path, placeholder="path/to/items.csv", layout=w.Layout(width="360px"))
        number = dict(style=LABEL_STYLE, layout=w.Layout(width="240px"))
        self.trials = w.BoundedIntText(f.trials, min=1, max=1_000, description="Trials", **number)
        self.concurrency = w.BoundedIntText(f.concurrency, min=1, max=256, description="Concurrency", **number)
        self.limit = w.BoundedIntText(
            f.limit, min=0, max=10_000_000, description="First N items", tooltip="0: every item", **number
        )
        self.scorer_boxes = {
            name: w.Checkbox(name in f.scorers, description=label, indent=False, layout=w.Layout(width="auto"))
            for name, label in SCORER_CHOICES.items()
        }
        self.export_dir = w.Text(
            f.export_dir, description="Export to", style=LABEL_STYLE, layout=w.Layout(width="420px")
        )
        for widget, cls in (
            (self.targets, "cpnb-lb-targets"),
            (self.dataset, "cpnb-lb-dataset"),
            (self.path, "cpnb-lb-path"),
            (self.limit, "cpnb-lb-limit"),
            (self.trials, "cpnb-lb-trials"),
        ):
            widget.add_class(cls)
        for name, box in self.scorer_boxes.items():
            box.add_class(f"cpnb-lb-scorer-{name}")

    def _outputs(self) -> None:
        self.run_button = button("Run", "primary", "play", cls="cpnb-lb-run")
        self.cancel_button = cancel_button("cpnb-lb-cancel")
        self.cancel_button.disabled = True
        self.progress = w.IntProgress(
            0, min=0, max=1, description="0/0", style=LABEL_STYLE, layout=w.Layout(width="420px")
        )
        self.counts, self.status_html, self.table, self.simulated_html = w.HTML(), w.HTML(), w.HTML(), w.HTML()
        self.sort_by = w.Dropdown(
            options=[], description="Sort by", style=LABEL_STYLE, layout=w.Layout(width="460px", display="none")
        )
        self.sort_by.observe(self._sort_from_dropdown, names="value")
        self.chart = w.Output()
        self.csv_button = button(
            "Answers CSV", icon="download", cls="cpnb-lb-csv", tooltip="One row per item x target x trial, scored"
        )
        self.board_csv_button = button(
            "Leaderboard CSV", icon="download", cls="cpnb-lb-board-csv", tooltip="One row per target, as sorted"
        )
        self.csv_button.layout.width = self.board_csv_button.layout.width = "auto"
        self.exported_html = w.HTML()
        for widget, cls in (
            (self.counts, "cpnb-lb-counts"),
            (self.status_html, "cpnb-status"),
            (self.sort_by, "cpnb-lb-sort"),
            (self.table, "cpnb-lb-table"),
            (self.chart, "cpnb-lb-chart"),
        ):
            widget.add_class(cls)

    # -- state -> widgets -------------------------------------------------------------------

    def _scorers_from_boxes(self, _change: Any = None) -> None:
        if not self._syncing:
            self.form.scorers = [name for name, box in self.scorer_boxes.items() if box.value]

    def _boxes_from_scorers(self, _change: Any = None) -> None:
        chosen = set(self.form.scorers)
        with self._sync(), holding(*self.scorer_boxes.values()):
            for name, box in self.scorer_boxes.items():
                box.value = name in chosen

    @contextlib.contextmanager
    def _sync(self) -> Iterator[None]:
        self._syncing = True
        try:
            yield
        finally:
            self._syncing = False

    def _show_path(self, _change: Any = None) -> None:
        self.path.layout.display = "" if self.form.dataset == FILE else "none"

    def _render_counts(self, _change: Any = None) -> None:
        render_progress(self.progress, self.counts, self.form)

    def _render_status(self, _change: Any = None) -> None:
        self.status_html.value = message(self.form.error, "error") or message(self.form.status)

    def _render_sort_options(self, _change: Any = None) -> None:
        names = list(self.form.scorer_names)
        options = [(sorted_by(column), column) for column in (*names, *SORT_COLUMNS)]
        with self._sync(), holding(self.sort_by):
            self.sort_by.options = options if names else []
            self.sort_by.layout.display = "" if names else "none"
        self._render_sort()

    def _render_sort(self, _change: Any = None) -> None:
        wanted = self.form.sort_by
        values = [value for _label, value in self.sort_by.options]
        if wanted in values and self.sort_by.value != wanted:
            with self._sync():
                self.sort_by.value = wanted

    def _sort_from_dropdown(self, change: dict[str, Any]) -> None:
        if change["new"] and not self._syncing:
            self.form.sort_by = change["new"]

    def _render_table(self, _change: Any = None) -> None:
        self.table.value = board_html(self.form.rows, self.form.scorer_names)

    def _render_simulated(self, _change: Any = None) -> None:
        names = ", ".join(self.form.simulated)
        text = f"Simulated output ({names}): closedpaw_nb's simulator, not a real model." if names else ""
        self.simulated_html.value = note(text)

    def _render_exports(self, _change: Any = None) -> None:
        self.exported_html.value = exported_list(self.form.exported, "cpnb-lb-exported")
