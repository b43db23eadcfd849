"""`LeaderboardPanel`: evaluate targets on a question set, then rank them.

The run goes through `evals.run.run_evaluation`: every call is committed to the run store
as it finishes, then every answer is scored. The panel shows the leaderboard (a score with
its confidence interval per scorer, error rate, p50 latency, cost per item and per correct
answer), the quality-against-cost-and-latency chart with its Pareto frontier, and writes
CSV exports.

Scorers. The shipped "basic" set names, per item, the scorer that suits it (its `scorer`
column: exact_match, numeric, choice or json_valid); a single scorer applied to every item
would mark "42" wrong by exact_match's rules on a number question, or a JSON answer wrong by
`choice`. So the default is one scorer, "correct" (`closedpaw_nb.scorers.per_item()`), that scores
each answer with the scorer its item names. The individual scorers can be ticked as well, or instead
(for your own data without a `scorer` column).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .. import datasets
from ..bench.run import Target, new_run_id, resolve_targets
from ..bench.store import RunStore, default_output_dir
from ..errors import ConfigError
from ..evals.datasets import read_items
from ..evals.run import EvalResult, run_evaluation
from ..manager import ProviderManager
from ..scorers import Scorer, choice, exact_match, includes, json_valid, numeric, per_item
from ._jobs import Job
from ._leaderboard_fields import (
    FILE,
    ITEM_SCORER,
    SCORER_CHOICES,
    SORT_COLUMNS,
    LeaderboardFields,
    LeaderboardForm,
    records,
    sort_rows,
)
from ._shared import default_manager
from ._views import RunPanel, holding, set_figure

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LeaderboardPanel", "build_scorers"]


def build_scorers(names: Sequence[str]) -> list[Scorer]:
    """The scorers ticked in the panel, by their names in `SCORER_CHOICES` ("correct" is
    `per_item()`: each item by the scorer its `scorer` column names)."""
    single = {s.kind: s for s in (exact_match(), numeric(), choice(), json_valid(), includes())}
    return [per_item(name=name) if name == ITEM_SCORER else single[name] for name in names]


class LeaderboardPanel(RunPanel):
    """Evaluate targets on a question set: progress, a sortable leaderboard, the Pareto
    chart and CSV exports.

    Args:
        manager: The ProviderManager to use (default: the notebook helpers' one).
        store: A RunStore or the path of its SQLite file (default: the user data directory).
        prices: {"provider:model" or "model": (usd_per_million_input, usd_per_million_output)}.
        export_dir: The directory the export buttons write to (editable in the panel; default
            `default_output_dir()`: $CLOSEDPAW_OUTPUT_DIR, else ~/Documents/closedpaw_nb).

    Attributes:
        form: The `LeaderboardForm` state (inputs, live counts, run_id, the leaderboard rows,
            sort column, exports).
        fields: The panel's widgets (`targets`, `dataset`, `path`, `scorer_boxes`, `trials`,
            `run_button`, `progress`, `sort_by`, `table`, `chart`, ... are also attributes of
            the panel).
        result: The last finished run's `EvalResult` (None during a run and after Cancel).
    """

    def __init__(
        self,
        manager: ProviderManager | None = None,
        store: RunStore | str | None = None,
        prices: dict[str, Any] | None = None,
        export_dir: str | None = None,
    ) -> None:
        self.manager = manager if manager is not None else default_manager()
        self.prices = prices
        self.form = LeaderboardForm(export_dir=export_dir or str(default_output_dir()))
        self.job = Job(self._set_busy, lambda exc: setattr(self.form, "error", f"{type(exc).__name__}: {exc}"))
        self.result: EvalResult | None = None
        self._store: RunStore | None = store if isinstance(store, RunStore) else None
        self._store_path = None if isinstance(store, RunStore) else store  # opened on first use
        self.fields = f = LeaderboardFields(self.form, datasets.names())
        # The inputs and outputs, as attributes of the panel: what a test (or a user) touches.
        self.targets, self.dataset, self.path, self.limit = f.targets, f.dataset, f.path, f.limit
        self.scorer_boxes, self.trials, self.concurrency = f.scorer_boxes, f.trials, f.concurrency
        self.run_button, self.cancel_button, self.progress, self.counts = (
            f.run_button,
            f.cancel_button,
            f.progress,
            f.counts,
        )
        self.status_html, self.sort_by, self.table, self.chart = f.status_html, f.sort_by, f.table, f.chart
        self.export_dir, self.csv_button, self.board_csv_button, self.exported_html = (
            f.export_dir,
            f.csv_button,
            f.board_csv_button,
            f.exported_html,
        )
        actions = (
            (f.run_button, self.start),
            (f.cancel_button, self.cancel),
            (f.csv_button, lambda: self.export("answers")),
            (f.board_csv_button, lambda: self.export("leaderboard")),
        )
        for b, action in actions:
            b.on_click(lambda _b, act=action: act())
        super().__init__([f], layout=w.Layout(padding="6px"))
        self.add_class("cpnb-leaderboard")
        self.refresh_targets()

    # -- running ----------------------------------------------------------------------

    def start(self) -> bool:
        """Validate and start an evaluation; False (with `error` set) if the inputs are invalid.

        Targets, scorers and the dataset choice are checked here; the items are read in the
        background (a file may be large), and checked there before any call is sent.
        """
        try:
            source, targets, scorers = self._inputs()
        except ConfigError as exc:
            self.form.status, self.form.error = "", str(exc)
            return False
        run_id = new_run_id()
        self._reset(run_id)
        options = dict(trials=self.form.trials, concurrency=self.form.concurrency)
        return self.job.start(self._run(source, self.form.limit, targets, scorers, run_id, options))

    def _inputs(self) -> tuple[str | Path, list[Target], list[Scorer]]:
        f = self.form
        if self.job.running:
            raise ConfigError("a run is still going: wait for it or press Cancel.")
        if not f.targets:
            raise ConfigError("pick at least one target (register a provider first if the list is empty).")
        if not f.scorers:
            raise ConfigError("tick at least one scorer: how should the answers be marked?")
        unknown = [name for name in f.scorers if name not in SCORER_CHOICES]
        if unknown:
            raise ConfigError(f"unknown scorer {', '.join(unknown)}; the panel offers {', '.join(SCORER_CHOICES)}")
        if f.trials < 1 or f.concurrency < 1 or f.limit < 0:
            raise ConfigError("trials and concurrency must be at least 1, and 'first N items' 0 (all) or more.")
        source: str | Path = f.dataset
        if f.dataset == FILE:
            if not f.path.strip():
                raise ConfigError("type the path of a CSV, JSONL or Parquet file of items, or pick a shipped set.")
            source = Path(f.path.strip()).expanduser()
        return source, resolve_targets(self.manager, list(f.targets)), build_scorers(f.scorers)

    def _reset(self, run_id: str) -> None:
        self.result = None
        with self.form.hold_trait_notifications():
            self.form.run_id, self.form.error = run_id, ""
            self.form.total = self.form.done = self.form.ok = self.form.errors = 0
            self.form.rows, self.form.scorer_names, self.form.simulated = [], [], []
            self.form.status = f"Starting run {run_id}: reading the items …"
        self.chart.outputs = ()

    async def _run(
        self,
        source: str | Path,
        limit: int,
        targets: list[Target],
        scorers: list[Scorer],
        run_id: str,
        options: dict[str, int],
    ) -> None:
        f = self.form
        try:
            items = await asyncio.to_thread(self._items, source, limit, [s.name for s in scorers])
            f.status = f"Run {run_id}: {len(items)} items x {len(targets)} targets x {options['trials']} trials …"
            result = await run_evaluation(
                self.manager,
                items,
                targets,
                scorers=scorers,
                store=self.store,
                run_id=run_id,
                prices=self.prices,
                on_row=self._on_row,
                on_start=self._on_start,
                trials=options["trials"],
                concurrency=options["concurrency"],
            )
            await self._show(result)
        except asyncio.CancelledError:
            f.status = (
                f"Run {run_id} cancelled after {f.done} of {f.total} calls; the finished calls are kept in "
                f"{self.store.path}. Answers are scored once every call has finished, so this run has no "
                "leaderboard: press Run for a new one."
            )
            return
        except ConfigError as exc:
            f.status, f.error = "", str(exc)
            return
        self.result = result
        best = f.rows[0]["target"] if f.rows else "—"
        f.status = f"Run {run_id} finished: {f.ok} ok, {f.errors} errors. Best by {f.sort_by}: {best}."

    @staticmethod
    def _items(source: str | Path, limit: int, scorers: list[str]) -> pd.DataFrame:
        items = read_items(source) if isinstance(source, Path) else datasets.load(source)
        if limit:
            items = items.head(limit).reset_index(drop=True)
        if ITEM_SCORER in scorers:
            if "scorer" not in items.columns:
                raise ConfigError(
                    "these items have no 'scorer' column, so 'correct' cannot pick each item's scorer: "
                    "untick it and tick the scorers to use."
                )
            named = {v.strip() for v in items["scorer"] if isinstance(v, str)}
            known = per_item().scorers
            unknown = sorted(named - set(known))
            if unknown:
                raise ConfigError(
                    f"the 'scorer' column names {', '.join(map(repr, unknown))}; 'correct' knows "
                    f"{', '.join(known)}: untick it and tick the scorers to use instead."
                )
        return items

    async def _show(self, result: EvalResult) -> None:
        # The bootstrap CIs, the styled table and the PNG are CPU work: keep them off the runner loop.
        board, fig = await asyncio.to_thread(_board_and_chart, result)
        names = result.scorers
        keep = self.form.sort_by in (*names, *SORT_COLUMNS)
        column = self.form.sort_by if keep else names[0]
        rows = sort_rows(records(board), column)
        with self.form.hold_trait_notifications():
            self.form.scorer_names = names
            self.form.sort_by = column
            self.form.rows = rows
            self.form.simulated = list(result.manifest.get("simulated_providers") or [])
        set_figure(self.chart, fig, "quality against cost and latency")

    def _on_start(self, total: int) -> None:
        self.form.total = total

    def _on_row(self, row_: dict[str, Any]) -> None:
        f = self.form
        with f.hold_trait_notifications():
            f.done += 1
            f.ok += bool(row_["ok"])
            f.errors += not row_["ok"]
        if f.done == f.total:
            f.status = f"Run {f.run_id}: every call finished; scoring the answers …"

    # -- exports and state ---------------------------------------------------------------

    def export(self, kind: str = "answers") -> Path | None:
        """Write the last run into the export directory: "answers" writes `<run_id>.csv`
        (`EvalResult.df`: one row per item x target x trial, with every score) and
        `<run_id>.manifest.json`; "leaderboard" writes `<run_id>.leaderboard.csv` (the rows,
        as sorted in the panel). Local file writes take milliseconds: this runs in the callback.
        """
        if self.result is None:
            self.form.error = "nothing to export yet: run an evaluation first."
            return None
        folder = Path(self.form.export_dir or ".").expanduser().resolve()
        run_id = self.result.run_id
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if kind == "leaderboard":
                path = folder / f"{run_id}.leaderboard.csv"
                self.leaderboard.to_csv(path, index=False)
                written = [path]
            else:
                path = folder / f"{run_id}.csv"
                self.result.df.to_csv(path, index=False)
                manifest = path.with_name(f"{run_id}.manifest.json")
                manifest.write_text(json.dumps(self.result.manifest, indent=1, default=str))
                written = [path, manifest]
        except (OSError, ValueError) as exc:
            self.form.error = f"export failed: {exc}"
            return None
        with self.form.hold_trait_notifications():
            self.form.error, self.form.status = "", f"Wrote {path}"
            self.form.exported = list(dict.fromkeys([*self.form.exported, *map(str, written)]))
        return path

    def _set_busy(self, busy: bool) -> None:
        self.form.running = busy
        buttons = (self.run_button, self.cancel_button, self.csv_button, self.board_csv_button)
        with holding(*buttons):
            self.run_button.disabled = self.csv_button.disabled = self.board_csv_button.disabled = busy
            self.cancel_button.disabled = not busy

    @property
    def leaderboard(self) -> pd.DataFrame:
        """The leaderboard shown (one row per target, in the panel's order); empty before a run."""
        import pandas as pd

        return pd.DataFrame(list(self.form.rows))

    @property
    def status(self) -> str:
        """The last status message (run_id, counts, the best target)."""
        return self.form.status

    @property
    def error(self) -> str:
        """The last input, run or export error ('' when there is none)."""
        return self.form.error

    @property
    def exported(self) -> list[str]:
        """Paths written by the export buttons, newest last."""
        return list(self.form.exported)


def _board_and_chart(result: EvalResult) -> tuple[pd.DataFrame, Any]:
    from ..bench.charts import quality_vs_cost

    board = result.leaderboard()
    return board, quality_vs_cost(board, result.scorers[0])
