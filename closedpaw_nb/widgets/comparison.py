"""`ComparisonPanel`: one prompt, several targets, answers streaming side by side.

Each target streams in its own task on the runner loop (so the rate limiter sees real
concurrency and one failure stops nothing else); each call is made by `bench.call_once`,
so every run adds rows with exactly the columns `compare()` returns. With an expected
answer, each finished answer is scored (`SCORERS`, `includes` by default, as in
`compare(expected=...)`) and its pane shows the score and why.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ipywidgets as w
import traitlets

from ..bench.frames import add_costs, rows_to_frame
from ..bench.run import WorkItem, call_once, new_run_id, public_configs, resolve_targets
from ..errors import ConfigError
from ..evals.run import score_call
from ..evals.scorers import Scorer
from ..manager import ProviderManager
from ._columns import ColumnView
from ._jobs import Job
from ._shared import SCORERS, default_manager, local_providers, simulated_providers, target_options
from ._state import CompareForm, TargetColumn
from ._streaming import Live, Tap, tick
from ._views import LABEL_STYLE, JobPanel, button, cancel_button, close_tree, holding, message, row

__all__ = ["ComparisonPanel"]


class ComparisonPanel(JobPanel):
    """Send one prompt to several targets at once and watch the answers stream in.

    Args:
        manager: The ProviderManager to use (default: the notebook helpers' one).
        prices: {"provider:model" or "model": (usd_per_million_input, usd_per_million_output)}
            for the cost column; loopback providers cost 0.0, others without a price NaN.
        tools: Tools offered with every call (as for `compare(tools=...)`); calls show per pane.
        response_format: A JSON schema, pydantic model or "json"; the parsed answer shows per pane.

    Attributes:
        form: The `CompareForm` state (inputs, status, one `TargetColumn` per target).
        views: The column views of the last run, by target.
    """

    def __init__(
        self,
        manager: ProviderManager | None = None,
        prices: dict[str, Any] | None = None,
        *,
        tools: Any = None,
        response_format: Any = None,
    ) -> None:
        self.manager = manager if manager is not None else default_manager()
        self.prices = prices or {}
        # Sent with every call when given; each pane then shows the tool calls / parsed JSON.
        given = (("tools", tools), ("response_format", response_format))
        self.extra_options = {key: value for key, value in given if value is not None}
        self.form = CompareForm()
        self.job = Job(self._set_busy, lambda exc: setattr(self.form, "error", f"{type(exc).__name__}: {exc}"))
        self.views: dict[str, ColumnView] = {}
        self._rows: list[dict[str, Any]] = []
        self._build()
        self.refresh_targets()

    def _build(self) -> None:
        wide = w.Layout(width="100%")
        self.prompt = w.Textarea(placeholder="Prompt", rows=3, layout=wide)
        self.system = w.Textarea(placeholder="System prompt (optional)", rows=2, layout=wide)
        self.targets = w.SelectMultiple(
            description="Targets", rows=6, style=LABEL_STYLE, layout=w.Layout(width="460px")
        )
        self.temperature = w.FloatSlider(0.7, min=0, max=2, step=0.05, description="Temperature", style=LABEL_STYLE)
        self.max_tokens = w.BoundedIntText(
            256, min=1, max=200_000, description="Max tokens", style=LABEL_STYLE, layout=w.Layout(width="260px")
        )
        self.expected = w.Text(
            placeholder="Expected answer (optional): each answer is scored against it",
            layout=w.Layout(width="100%"),
        )
        self.scorer = w.Dropdown(options=list(SCORERS), description="Scored by", style=LABEL_STYLE)
        self.run_button = button("Run", "primary", "play", cls="cpnb-run")
        self.cancel_button = cancel_button("cpnb-cancel")
        self.refresh_button = button(
            "Refresh targets", icon="refresh", cls="cpnb-refresh", tooltip="Reload providers and their live model lists"
        )
        self.cancel_button.disabled = True
        self.status_html = w.HTML()
        self.columns_box = w.HBox(layout=w.Layout(flex_flow="row wrap", width="100%"))
        for widget, cls in (
            (self.prompt, "cpnb-prompt"),
            (self.targets, "cpnb-targets"),
            (self.max_tokens, "cpnb-max-tokens"),
            (self.expected, "cpnb-expected"),
            (self.scorer, "cpnb-scorer"),
            (self.status_html, "cpnb-status"),
        ):
            widget.add_class(cls)
        for widget, trait in (
            (self.prompt, "prompt"),
            (self.system, "system"),
            (self.targets, "targets"),
            (self.temperature, "temperature"),
            (self.max_tokens, "max_tokens"),
            (self.expected, "expected"),
            (self.scorer, "scorer"),
        ):
            traitlets.link((self.form, trait), (widget, "value"))  # the state wins at start
        self.run_button.on_click(lambda _b: self.start())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.refresh_button.on_click(lambda _b: self.refresh_models())
        self.form.observe(self._render_status, names=["status", "error"])
        settings = w.VBox([self.temperature, self.max_tokens, row(self.run_button, self.cancel_button)])
        super().__init__(
            [
                self.prompt,
                self.system,
                row(self.expected, self.scorer),
                row(self.targets, settings, gap="24px"),
                row(self.refresh_button, self.status_html),
                self.columns_box,
            ],
            layout=w.Layout(padding="6px"),
        )
        self.add_class("cpnb-comparison")

    # -- targets ----------------------------------------------------------------------

    def refresh_targets(self, live: dict[str, list[str]] | None = None) -> None:
        """Offer every registered provider's models as targets, keeping the selection."""
        options = target_options(self.manager, live)
        keep = tuple(v for v in self.targets.value if v in options)
        with holding(self.targets):
            self.targets.options = options
            self.targets.value = keep

    def refresh_models(self) -> bool:
        """Fetch the live model lists (in the background) and offer them as targets."""
        self.form.status, self.form.error = "Fetching model lists …", ""
        return self.job.start(self._refresh_models())

    async def _refresh_models(self) -> None:
        live = await self.manager.list_all_models()
        self.refresh_targets(live)
        self.form.status = f"{len(self.targets.options)} targets available."

    # -- running ----------------------------------------------------------------------

    def start(self) -> bool:
        """Validate the inputs and start streaming; False (with `error` set) if they are invalid."""
        problem = self._problem()
        if problem is None:
            try:
                targets = resolve_targets(self.manager, list(self.form.targets))
            except ConfigError as exc:
                problem = str(exc)
        if problem is not None:
            self.form.status, self.form.error = "", problem
            return False
        self.form.error = ""
        columns = self._new_columns([str(t) for t in targets])
        options = {"temperature": self.form.temperature, "max_tokens": self.form.max_tokens, **self.extra_options}
        self.form.status = f"Streaming from {len(targets)} target(s) …"
        scoring = (SCORERS[self.form.scorer], self.form.expected) if self.form.expected.strip() else None
        return self.job.start(self._run(targets, columns, self.form.prompt, self.form.system or None, options, scoring))

    def _problem(self) -> str | None:
        if self.job.running:
            return "a run is still going: wait for it or press Cancel."
        if not self.form.prompt.strip():
            return "type a prompt first."
        if not self.form.targets:
            return "pick at least one target (register a provider first if the list is empty)."
        return None

    def _new_columns(self, targets: list[str]) -> list[TargetColumn]:
        local, simulated = set(local_providers(self.manager)), set(simulated_providers(self.manager))
        columns = [TargetColumn(target=t) for t in targets]
        old = list(self.views.values())
        names = {c.target: c.target.split(":", 1)[0] for c in columns}
        self.views = {c.target: ColumnView(c, names[c.target] in local, names[c.target] in simulated) for c in columns}
        self.form.columns = columns
        self.columns_box.children = list(self.views.values())
        for view in old:
            close_tree(view)
        return columns

    async def _run(
        self,
        targets: list[Any],
        columns: list[TargetColumn],
        prompt: str,
        system: str | None,
        options: dict[str, Any],
        scoring: tuple[Scorer, str] | None = None,
    ) -> None:
        run_id, local = new_run_id(), local_providers(self.manager)
        lives = [Live(c) for c in columns]
        ticker = asyncio.create_task(tick(lives))
        calls = [
            asyncio.create_task(
                self._one(live, WorkItem(t, "p000", 0), prompt, system, options, run_id, local, scoring)
            )
            for live, t in zip(lives, targets, strict=False)
        ]
        try:
            await asyncio.gather(*calls)
            failed = sum(c.phase == "error" for c in columns)
            self.form.status = f"Done: {len(columns) - failed} answered, {failed} failed (run {run_id})."
            if scoring is not None:
                total = sum(c.score or 0.0 for c in columns)
                self.form.status += f" Score by {scoring[0].name}: {total:g} of {len(columns)}."
        except asyncio.CancelledError:
            self.form.status = "Cancelled: finished answers are kept in results; the others were stopped."
            raise
        finally:
            ticker.cancel()
            for task in calls:
                task.cancel()
            await asyncio.gather(ticker, *calls, return_exceptions=True)
            for live in lives:
                live.cancelled()

    async def _one(
        self,
        live: Live,
        item: WorkItem,
        prompt: str,
        system: str | None,
        options: dict[str, Any],
        run_id: str,
        local: list[str],
        scoring: tuple[Scorer, str] | None = None,
    ) -> None:
        live.begin()
        row = await call_once(Tap(self.manager, live.feed), item, prompt, system, options, True, run_id)
        configs = public_configs(self.manager)  # unpriced cloud calls are priced from the catalogue
        row["cost_usd"] = add_costs(rows_to_frame([row]), self.prices, local, configs)["cost_usd"].iloc[0]
        self._rows.append(row)
        live.finish(row)
        if scoring is not None:
            scorer, expected = scoring
            score = await score_call(row, scorer, {"input": prompt, "expected": expected})
            live.column.score, live.column.score_note = score.value, f"{scorer.name}: {score.explanation}"

    def _set_busy(self, busy: bool) -> None:
        self.form.running = busy
        with holding(self.run_button, self.cancel_button, self.refresh_button):
            self.run_button.disabled = self.refresh_button.disabled = busy
            self.cancel_button.disabled = not busy

    def _render_status(self, _change: Any = None) -> None:
        self.status_html.value = message(self.form.error, "error") or message(self.form.status)

    @property
    def results(self) -> Any:
        """Every call of every run so far, one row each, with the columns of `compare().df`."""
        return rows_to_frame(self._rows)

    @property
    def columns(self) -> dict[str, TargetColumn]:
        """The last run's column states, by target."""
        return {c.target: c for c in self.form.columns}

    @property
    def status(self) -> str:
        """The last status message."""
        return self.form.status

    @property
    def error(self) -> str:
        """The last input or run error ('' when there is none)."""
        return self.form.error
