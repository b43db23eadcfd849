"""`BenchmarkPanel`: prompts x targets x trials with a live progress bar, then the summary.

The run goes through `bench.run_benchmark`, so every row is committed to the run store
as it finishes: Cancel keeps the finished rows, and Resume (or `closedpaw_nb.resume`)
runs only the missing calls of the same run_id. "Score run" scores the last run's answers
against expected answers typed one per prompt (`EvalResult.from_benchmark`: no new calls)
and shows each target's score with its confidence interval.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..bench.run import BenchmarkResult, new_run_id, normalize_prompts, resolve_targets, resume_benchmark, run_benchmark
from ..bench.store import RunStore, default_output_dir
from ..errors import ConfigError
from ..evals.run import EvalResult, score_benchmark
from ..manager import ProviderManager
from ._benchmark_fields import BenchmarkFields, summary_html
from ._jobs import Job
from ._shared import SCORERS, default_manager
from ._state import BenchmarkForm
from ._views import RunPanel, holding, set_figure

__all__ = ["BenchmarkPanel"]


class BenchmarkPanel(RunPanel):
    """Benchmark targets on your prompts, with progress, summary, chart and exports.

    Args:
        manager: The ProviderManager to use (default: the notebook helpers' one).
        prompts: Prompts to offer instead of typing them: a list, a dict {id: prompt} or a
            DataFrame column (its index becomes the prompt ids).
        store: A RunStore or the path of its SQLite file (default: the user data directory).
        prices: {"provider:model" or "model": (usd_per_million_input, usd_per_million_output)}.
        export_dir: The directory the export buttons write to (editable in the panel; default
            `default_output_dir()`: $CLOSEDPAW_OUTPUT_DIR, else ~/Documents/closedpaw_nb).

    Attributes:
        form: The `BenchmarkForm` state (inputs, live counts, run_id, exports).
        fields: The panel's widgets (`prompts`, `targets`, `trials`, `run_button`, `progress`,
            `summary`, `chart`, ... are also attributes of the panel).
        run: The last run's `BenchmarkResult` (also after Cancel), or None.
        evaluation: The last run's scores as an `EvalResult` (after "Score run"), or None.
    """

    def __init__(
        self,
        manager: ProviderManager | None = None,
        prompts: Any = None,
        store: RunStore | str | None = None,
        prices: dict[str, Any] | None = None,
        export_dir: str | None = None,
    ) -> None:
        self.manager = manager if manager is not None else default_manager()
        self.prices, self._source = prices, prompts
        self.form = BenchmarkForm(export_dir=export_dir or str(default_output_dir()), use_source=prompts is not None)
        self.job = Job(self._set_busy, lambda exc: setattr(self.form, "error", f"{type(exc).__name__}: {exc}"))
        self.run: BenchmarkResult | None = None
        self._summaries = ("", "")  # (everyday columns, all columns) of the last run
        self.evaluation: EvalResult | None = None
        self._store: RunStore | None = store if isinstance(store, RunStore) else None
        self._store_path = None if isinstance(store, RunStore) else store  # opened on first use
        count = len(normalize_prompts(prompts)) if prompts is not None else 0
        self.fields = f = BenchmarkFields(self.form, count)
        # The inputs and outputs, as attributes of the panel: what a test (or a user) touches.
        self.prompts, self.use_source, self.targets = f.prompts, f.use_source, f.targets
        self.trials, self.concurrency, self.warmup, self.max_tokens = f.trials, f.concurrency, f.warmup, f.max_tokens
        self.run_button, self.cancel_button, self.resume_button = f.run_button, f.cancel_button, f.resume_button
        self.progress, self.counts, self.status_html, self.summary, self.chart = (
            f.progress,
            f.counts,
            f.status_html,
            f.summary,
            f.chart,
        )
        self.all_columns = f.all_columns
        self.form.observe(self._show_summary, names="all_columns")
        self.expected, self.scorer, self.score_button, self.scores = f.expected, f.scorer, f.score_button, f.scores
        self.export_dir, self.csv_button, self.parquet_button, self.exported_html = (
            f.export_dir,
            f.csv_button,
            f.parquet_button,
            f.exported_html,
        )
        actions = (
            (f.run_button, self.start),
            (f.cancel_button, self.cancel),
            (f.resume_button, self.resume),
            (f.score_button, self.score),
            (f.csv_button, lambda: self.export("csv")),
            (f.parquet_button, lambda: self.export("parquet")),
        )
        for b, action in actions:
            b.on_click(lambda _b, act=action: act())
        super().__init__([f], layout=w.Layout(padding="6px"))
        self.add_class("cpnb-benchmark")
        self.refresh_targets()

    # -- running ----------------------------------------------------------------------

    def start(self) -> bool:
        """Validate and start a new run; False (with `error` set) if the inputs are invalid."""
        try:
            prompts, targets = self._inputs()
        except ConfigError as exc:
            self.form.status, self.form.error = "", str(exc)
            return False
        run_id = new_run_id()
        self._reset(run_id)
        options = dict(
            trials=self.form.trials,
            warmup=self.form.warmup,
            concurrency=self.form.concurrency,
            prices=self.prices,
            max_tokens=self.max_tokens.value,
        )
        coro = run_benchmark(
            self.manager,
            prompts,
            targets,
            store=self.store,
            run_id=run_id,
            on_start=self._on_start,
            on_row=self._on_row,
            **options,
        )
        return self.job.start(self._run(coro, run_id))

    def _inputs(self) -> tuple[Any, list[Any]]:
        if self.job.running:
            raise ConfigError("a run is still going: wait for it or press Cancel.")
        if self.form.use_source and self._source is not None:
            prompts = self._source
        else:
            prompts = [line.strip() for line in self.form.prompts_text.splitlines() if line.strip()]
        if not len(prompts):
            raise ConfigError("type at least one prompt (one per line).")
        if not self.form.targets:
            raise ConfigError("pick at least one target (register a provider first if the list is empty).")
        normalize_prompts(prompts)
        return prompts, resolve_targets(self.manager, list(self.form.targets))

    def _reset(self, run_id: str) -> None:
        with self.form.hold_trait_notifications():
            self.form.run_id, self.form.error = run_id, ""
            self.form.total = self.form.done = self.form.ok = self.form.errors = 0
            self.form.status = f"Starting run {run_id} …"
        self.summary.value = self.scores.value = ""
        self.chart.outputs = ()
        self.evaluation = None

    def resume(self) -> bool:
        """Run the missing calls of the last run (after Cancel or an error)."""
        if not self.form.run_id or self.job.running:
            self.form.error = "nothing to resume: start a run first." if not self.form.run_id else "a run is going."
            return False
        with self.form.hold_trait_notifications():
            self.form.error, self.form.status = "", f"Resuming run {self.form.run_id} …"
        coro = resume_benchmark(
            self.manager, self.form.run_id, self.store, on_start=self._on_start, on_row=self._on_row
        )
        return self.job.start(self._run(coro, self.form.run_id))

    async def _run(self, coro: Any, run_id: str) -> None:
        try:
            self.run = await coro
            self.form.status = f"Run {run_id} finished: {self.form.ok} ok, {self.form.errors} errors."
        except asyncio.CancelledError:
            # The store already holds every finished row; show what there is.
            self.run = BenchmarkResult(run_id, self.store, self.store.manifest(run_id) or {})
            self.form.status = (
                f"Run {run_id} cancelled: {self.form.done} finished calls are kept in "
                f"{self.store.path}. Press Resume, or in code: "
                f"closedpaw_nb.resume({run_id!r}, store={self.store.path!r})"
            )
        except ConfigError as exc:
            self.form.error = str(exc)
            return
        await self._show(self.run)

    async def _show(self, result: BenchmarkResult) -> None:
        if result.df.empty:
            self.summary.value = "<i>no finished calls yet</i>"
            return
        # Statistics (with a bootstrap) and PNG rendering are CPU work: keep them off the runner loop.
        self._summaries = await asyncio.to_thread(_summaries, result)
        self._show_summary()
        set_figure(self.chart, await asyncio.to_thread(result.latency_chart), "latency by target")

    # -- scoring ------------------------------------------------------------------------

    def score(self) -> bool:
        """Score the last run's answers against the expected answers (one line per prompt, in
        order; a blank line: none) with the chosen scorer; False (with `error` set) if it cannot."""
        try:
            expected = self._expected()
        except ConfigError as exc:
            self.form.error = str(exc)
            return False
        assert self.run is not None  # _expected checked it
        self.form.error, self.form.status = "", f"Scoring run {self.run.run_id} …"
        return self.job.start(self._score(self.run, expected, SCORERS[self.form.scorer]))

    def _expected(self) -> list[str | None]:
        if self.job.running:
            raise ConfigError("a run is still going: wait for it or press Cancel.")
        if self.run is None:
            raise ConfigError("nothing to score yet: run a benchmark first.")
        prompts = list(self.run.manifest.get("prompts") or {})
        lines = [line.strip() or None for line in self.form.expected_text.splitlines()]
        if not any(lines):
            raise ConfigError("type the expected answers first: one line per prompt, in the prompts' order.")
        if len(lines) > len(prompts):
            raise ConfigError(f"{len(lines)} expected answers for {len(prompts)} prompts: one line per prompt.")
        return lines + [None] * (len(prompts) - len(lines))

    async def _score(self, run: BenchmarkResult, expected: list[str | None], scorer: Any) -> None:
        answers: Any = expected if len(expected) > 1 else expected[0]  # one prompt: the answer itself
        self.evaluation = await score_benchmark(run, expected=answers, scorers=[scorer])
        board = await asyncio.to_thread(self.evaluation.leaderboard)
        self.scores.value = summary_html(board.to_html(index=False, na_rep="—", float_format=lambda v: f"{v:.3g}"))
        best, name = board.iloc[0], scorer.name
        low, high = best[f"{name}_ci_low"], best[f"{name}_ci_high"]
        self.form.status = (
            f"Scored run {run.run_id} by {name}: best {best['target']} ({best[name]:.2f}, 95% CI {low:.2f}–{high:.2f})."
        )

    def _show_summary(self, _change: Any = None) -> None:
        short, full = self._summaries
        self.summary.value = full if self.form.all_columns else short

    def _on_start(self, total: int) -> None:
        self.form.total = self.form.done + total

    def _on_row(self, row_: dict[str, Any]) -> None:
        with self.form.hold_trait_notifications():
            self.form.done += 1
            self.form.ok += bool(row_["ok"])
            self.form.errors += not row_["ok"]

    # -- exports and rendering -----------------------------------------------------------

    def export(self, kind: str) -> Path | None:
        """Write the last run as CSV or Parquet (plus its manifest) into the export directory.

        Local file writes take milliseconds, so this runs in the callback itself.
        """
        if self.run is None:
            self.form.error = "nothing to export yet: run a benchmark first."
            return None
        target = Path(self.form.export_dir or ".").expanduser().resolve() / f"{self.run.run_id}.{kind}"
        try:
            path = self.run.to_csv(target) if kind == "csv" else self.run.to_parquet(target)
        except (ConfigError, OSError, ValueError) as exc:
            self.form.error = f"export failed: {exc}"
            return None
        written = [str(path), str(path.with_name(path.stem + ".manifest.json"))]
        with self.form.hold_trait_notifications():
            self.form.error, self.form.status = "", f"Wrote {path}"
            self.form.exported = list(dict.fromkeys([*self.form.exported, *written]))
        return path

    def _set_busy(self, busy: bool) -> None:
        self.form.running = busy
        buttons = (self.run_button, self.cancel_button, self.resume_button, self.csv_button, self.parquet_button)
        with holding(*buttons, self.score_button):
            self.run_button.disabled = self.csv_button.disabled = self.parquet_button.disabled = busy
            self.score_button.disabled = busy
            self.cancel_button.disabled = not busy
            self.resume_button.disabled = busy or not self.form.run_id

    @property
    def status(self) -> str:
        """The last status message (run_id, and how to resume after Cancel)."""
        return self.form.status

    @property
    def error(self) -> str:
        """The last input, run or export error ('' when there is none)."""
        return self.form.error

    @property
    def exported(self) -> list[str]:
        """Paths written by the export buttons, newest last."""
        return list(self.form.exported)


def _summaries(result: BenchmarkResult) -> tuple[str, str]:
    """(the everyday numbers with friendly names, every summary column) as HTML tables."""
    from ..bench.frames import style_summary

    summary = result.summary()
    return summary_html(_everyday(summary).to_html(na_rep="—")), summary_html(style_summary(summary).to_html())


def _everyday(summary: Any) -> Any:
    """Calls, errors, p50 latency with its 95% CI, p90, TTFT, tokens/s and cost per call."""
    import pandas as pd

    def ms(value: float) -> str:
        return "—" if pd.isna(value) else f"{value:,.0f}"

    s = summary
    ci = [
        f"{ms(p)} ({ms(lo)}–{ms(hi)})"
        for p, lo, hi in zip(s.latency_p50_ms, s.latency_p50_ci_low_ms, s.latency_p50_ci_high_ms, strict=True)
    ]
    table = pd.DataFrame(
        {
            "calls": s.n,
            "errors": [f"{r:.0%}" for r in s.error_rate],
            "latency p50 (95% CI), ms": ci,
            "p90, ms": [ms(v) for v in s.latency_p90_ms],
            "TTFT p50, ms": [ms(v) for v in s.ttft_p50_ms],
            "tokens/s": [ms(v) for v in s.tokens_per_s_p50],
            "cost per call": [
                "—" if pd.isna(v) else f"${v:.6f}" if 0 < v < 0.01 else f"${v:.4f}" for v in s.cost_per_call_usd
            ],
        },
        index=s.index,
    )
    return table
