"""The benchmark panel's widgets: inputs linked to `BenchmarkForm`, the progress bar with
live counts, the status line, summary, chart and export row. No actions here."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import traitlets

from ._shared import SCORERS
from ._state import BenchmarkForm
from ._views import LABEL_STYLE, button, cancel_button, exported_list, message, render_progress, row

__all__ = ["BenchmarkFields", "summary_html"]

# The summary has ~20 columns: scroll it sideways, keep its cells on one line.
SUMMARY_CSS = (
    "<style>.cpnb-scroll{overflow-x:auto;max-width:100%}.cpnb-scroll th,.cpnb-scroll td"
    "{padding:2px 8px;white-space:nowrap;line-height:1.4}</style>"
)


def summary_html(table_html: str) -> str:
    """A styled summary table, scrollable sideways."""
    return f"{SUMMARY_CSS}<div class='cpnb-scroll'>{table_html}</div>"


class BenchmarkFields(w.VBox):  # type: ignore[misc]  # ipywidgets ships no types
    """Every widget of the benchmark panel, rendering the form's counts, status and exports.

    Args:
        form: The state the inputs are linked to (the state's values win at start).
        source_count: How many prompts were passed to the panel (0: the option is hidden).
    """

    def __init__(self, form: BenchmarkForm, source_count: int) -> None:
        self.form = form
        self._inputs(source_count)
        self._outputs()
        for widget, trait in (
            (self.prompts, "prompts_text"),
            (self.use_source, "use_source"),
            (self.targets, "targets"),
            (self.trials, "trials"),
            (self.concurrency, "concurrency"),
            (self.warmup, "warmup"),
            (self.export_dir, "export_dir"),
            (self.expected, "expected_text"),
            (self.all_columns, "all_columns"),
            (self.scorer, "scorer"),
        ):
            traitlets.link((form, trait), (widget, "value"))  # the state wins at start
        numbers = w.VBox([self.trials, self.concurrency, self.warmup, self.max_tokens])
        super().__init__(
            [
                w.VBox([self.use_source, self.prompts]),
                row(self.targets, numbers, gap="24px"),
                row(self.run_button, self.cancel_button, self.resume_button),
                row(self.progress, self.counts),
                self.status_html,
                self.all_columns,
                self.summary,
                self.chart,
                self.expected,
                row(self.scorer, self.score_button),
                self.scores,
                row(self.export_dir, self.csv_button, self.parquet_button),
                self.exported_html,
            ]
        )
        form.observe(self._render_status, names=["status", "error"])
        form.observe(self._render_counts, names=["total", "done", "ok", "errors"])
        form.observe(self._render_exports, names="exported")
        form.observe(self._show_prompts, names="use_source")
        self._show_prompts()
        self._render_counts()

    def _inputs(self, source_count: int) -> None:
        f = self.form
        self.prompts = w.Textarea(placeholder="One prompt per line", rows=5, layout=w.Layout(width="100%"))
        self.use_source = w.Checkbox(
            f.use_source,
            description=f"use the {source_count} prompts passed to the panel",
            indent=False,
            layout=w.Layout(display="" if source_count else "none"),
        )
        self.targets = w.SelectMultiple(
            description="Targets", rows=5, style=LABEL_STYLE, layout=w.Layout(width="460px")
        )
        number = dict(style=LABEL_STYLE, layout=w.Layout(width="240px"))
        self.trials = w.BoundedIntText(f.trials, min=1, max=10_000, description="Trials", **number)
        self.concurrency = w.BoundedIntText(f.concurrency, min=1, max=256, description="Concurrency", **number)
        self.warmup = w.BoundedIntText(f.warmup, min=0, max=100, description="Warm-up calls", **number)
        self.max_tokens = w.BoundedIntText(256, min=1, max=200_000, description="Max tokens", **number)
        self.export_dir = w.Text(
            f.export_dir, description="Export to", style=LABEL_STYLE, layout=w.Layout(width="420px")
        )
        self.expected = w.Textarea(
            placeholder="Expected answers to score the run by: one line per prompt, in order (blank: none)",
            rows=3,
            layout=w.Layout(width="100%"),
        )
        self.scorer = w.Dropdown(options=list(SCORERS), description="Scored by", style=LABEL_STYLE)
        self.all_columns = w.Checkbox(f.all_columns, description="all summary columns", indent=False)
        self.all_columns.add_class("cpnb-bench-all-columns")
        self.prompts.add_class("cpnb-bench-prompts")
        self.expected.add_class("cpnb-bench-expected")
        self.scorer.add_class("cpnb-bench-scorer")
        self.targets.add_class("cpnb-bench-targets")

    def _outputs(self) -> None:
        self.run_button = button("Run", "primary", "play", cls="cpnb-bench-run")
        self.cancel_button = cancel_button("cpnb-bench-cancel")
        self.resume_button = button(
            "Resume",
            icon="forward",
            cls="cpnb-bench-resume",
            tooltip="Run only the calls of the last run that have no row yet",
        )
        self.score_button = button(
            "Score run", icon="check", cls="cpnb-bench-score", tooltip="Score the last run's answers (no new calls)"
        )
        self.cancel_button.disabled = self.resume_button.disabled = True
        self.progress = w.IntProgress(
            0, min=0, max=1, description="0/0", style=LABEL_STYLE, layout=w.Layout(width="420px")
        )
        self.counts, self.status_html, self.summary, self.scores = w.HTML(), w.HTML(), w.HTML(), w.HTML()
        self.chart = w.Output()
        self.csv_button = button("CSV", icon="download", cls="cpnb-csv")
        self.parquet_button = button("Parquet", icon="download", cls="cpnb-parquet")
        self.exported_html = w.HTML()
        for widget, cls in (
            (self.summary, "cpnb-summary"),
            (self.scores, "cpnb-bench-scores"),
            (self.status_html, "cpnb-status"),
            (self.counts, "cpnb-counts"),
        ):
            widget.add_class(cls)

    def _show_prompts(self, _change: Any = None) -> None:
        self.prompts.layout.display = "none" if self.form.use_source else ""

    def _render_counts(self, _change: Any = None) -> None:
        render_progress(self.progress, self.counts, self.form)

    def _render_status(self, _change: Any = None) -> None:
        self.status_html.value = message(self.form.error, "error") or message(self.form.status)

    def _render_exports(self, _change: Any = None) -> None:
        self.exported_html.value = exported_list(self.form.exported, "cpnb-exported")
