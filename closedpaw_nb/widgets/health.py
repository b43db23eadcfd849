"""`HealthDashboard`: probe every provider at once, keep the history, chart it.

Probes never bill (they list models). Auto-refresh is one background task on the runner
loop; unticking the box, or closing the dashboard, cancels it.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import pandas as pd
import traitlets

from ..manager import HEALTH_TIMEOUT, ProviderManager
from ..types import HealthStatus
from ._jobs import Job
from ._shared import default_manager
from ._state import HealthBoard
from ._views import JobPanel, button, chip, holding, message, row, set_figure

__all__ = ["HealthDashboard"]

HISTORY_COLUMNS = ["provider", "checked_at", "status", "ok", "latency_ms", "model_count", "detail"]
MIN_INTERVAL = 1.0  # seconds; a tighter loop would only hammer the providers' model endpoints
MAX_HISTORY = 20_000  # probes kept (about a week of 30 s checks of three providers)


class HealthDashboard(JobPanel):
    """Check all providers concurrently; a coloured table, the history and a chart.

    Args:
        manager: The ProviderManager to probe (default: the notebook helpers' one).
        interval: Seconds between automatic checks when auto-refresh is on.
        timeout: Seconds each provider's probe may take.

    Attributes:
        board: The `HealthBoard` state (latest rows, history, auto-refresh settings).
    """

    def __init__(
        self, manager: ProviderManager | None = None, interval: float = 30.0, timeout: float = HEALTH_TIMEOUT
    ) -> None:
        self.manager = manager if manager is not None else default_manager()
        self.timeout = timeout
        self.board = HealthBoard(interval=max(interval, MIN_INTERVAL))
        self.job = Job(self._set_busy, self._fail)
        self.refresher = Job(lambda _busy: None, self._fail)
        self._listeners: list[Callable[[dict[str, HealthStatus]], None]] = []
        self._probing: asyncio.Lock | None = None  # created on the runner loop, which owns it
        self._build()

    def _build(self) -> None:
        self.check_button = button("Check now", "primary", "heartbeat", cls="cpnb-check")
        self.auto_refresh = w.Checkbox(
            False, description="auto-refresh every", indent=False, layout=w.Layout(width="150px")
        )
        self.interval = w.BoundedFloatText(
            self.board.interval,
            min=MIN_INTERVAL,
            max=86_400,
            step=5,
            description="seconds",
            style={"description_width": "0px"},
            layout=w.Layout(width="90px"),
        )
        self.status_html = w.HTML()
        self.table = w.HTML("<i>not checked yet: press Check now</i>")
        self.chart = w.Output(layout=w.Layout(width="100%"))
        for widget, cls in (
            (self.auto_refresh, "cpnb-auto"),
            (self.table, "cpnb-health-table"),
            (self.chart, "cpnb-health-chart"),
            (self.status_html, "cpnb-status"),
        ):
            widget.add_class(cls)
        traitlets.link((self.board, "auto_refresh"), (self.auto_refresh, "value"))
        traitlets.link((self.board, "interval"), (self.interval, "value"))
        self.check_button.on_click(lambda _b: self.check())
        self.board.observe(self._on_auto, names="auto_refresh")
        self.board.observe(self._render_status, names=["status", "error"])
        super().__init__(
            [
                row(self.check_button, self.auto_refresh, self.interval, w.HTML("s"), self.status_html),
                self.table,
                self.chart,
            ],
            layout=w.Layout(padding="6px"),
        )
        self.add_class("cpnb-health")

    # -- checking ---------------------------------------------------------------------

    def check(self) -> bool:
        """Probe every provider now (in the background)."""
        self.board.status, self.board.error = "Checking …", ""
        return self.job.start(self._check())

    async def _check(self) -> None:
        self._probing = self._probing or asyncio.Lock()
        async with self._probing:  # a manual check and an automatic one never overlap
            await self._check_now()

    async def _check_now(self) -> None:
        statuses = await self.manager.check_health_all(self.timeout)
        rows = [s.to_dict() for s in statuses.values()]
        with self.board.hold_trait_notifications():
            self.board.latest = rows
            self.board.history = [*self.board.history, *rows][-MAX_HISTORY:]
            self.board.checks += 1
        self.table.value = render_table(rows, self.history)
        fig = await asyncio.to_thread(_chart, self.history)  # a PNG takes ~0.1 s to render: off the loop
        set_figure(self.chart, fig, "health over time")
        bad = [r["provider"] for r in rows if not r["ok"]]
        self.board.status = (
            f"{len(rows) - len(bad)}/{len(rows)} ok"
            + (f"; not ok: {', '.join(bad)}" if bad else "")
            + f" · check #{self.board.checks}"
        )
        for listener in list(self._listeners):
            listener(statuses)

    def on_check(self, callback: Callable[[dict[str, HealthStatus]], None]) -> None:
        """Call `callback(statuses)` (on the runner thread) after every check."""
        self._listeners.append(callback)

    def _on_auto(self, change: dict[str, Any]) -> None:
        if not change["new"]:
            self.refresher.cancel()
        elif not self.refresher.start(self._auto()):
            # Ticked again right after unticking: the old loop's cancel is a few ms from done.
            self.refresher.wait(5)
            self.refresher.start(self._auto())

    async def _auto(self) -> None:
        while True:
            if not (self._probing and self._probing.locked()):  # a manual check covers this round
                await self._check()
            await asyncio.sleep(self.board.interval)

    def close(self) -> None:
        """Stop auto-refresh and any running check, then close the widget."""
        self.board.auto_refresh = False
        self.refresher.cancel()
        super().close()

    def _set_busy(self, busy: bool) -> None:
        self.board.checking = busy
        with holding(self.check_button):
            self.check_button.disabled = busy

    def _fail(self, exc: BaseException) -> None:
        self.board.error = f"{type(exc).__name__}: {exc}"

    def _render_status(self, _change: Any = None) -> None:
        self.status_html.value = message(self.board.error, "error") or message(self.board.status)

    @property
    def history(self) -> pd.DataFrame:
        """Every probe so far: provider, checked_at (UTC), status, ok, latency_ms, model_count, detail."""
        frame = pd.DataFrame(list(self.board.history), columns=HISTORY_COLUMNS)
        frame["checked_at"] = pd.to_datetime(frame["checked_at"], utc=True)
        return frame

    @property
    def latest(self) -> pd.DataFrame:
        """The last check, one row per provider."""
        return pd.DataFrame(list(self.board.latest), columns=HISTORY_COLUMNS)

    @property
    def refreshing(self) -> bool:
        """True while the auto-refresh task runs."""
        return self.refresher.running

    @property
    def status(self) -> str:
        """The last status message."""
        return self.board.status

    @property
    def error(self) -> str:
        """The last error ('' when there is none)."""
        return self.board.error


def _chart(history: pd.DataFrame) -> Any:
    from ..bench.charts import health_over_time

    return health_over_time(history)


def render_table(rows: list[dict[str, Any]], history: pd.DataFrame) -> str:
    """The latest probes as an HTML table, a coloured badge per status, uptime from history."""

    def uptime(provider: str) -> str:
        probes = history[(history.provider == provider) & (history.status != "disabled")]
        return "—" if probes.empty else f"{probes.ok.mean():.0%} of {len(probes)}"

    head = "".join(
        f"<th style='text-align:left;padding:2px 10px;white-space:nowrap'>{h}</th>"
        for h in ("provider", "status", "probe latency", "models", "uptime", "detail", "checked at (UTC)")
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td style='padding:2px 10px;line-height:1.4'>{cell}</td>"
            for cell in (
                f"<b>{html.escape(r['provider'])}</b>",
                chip(r["status"]),
                "—" if r["latency_ms"] is None else f"{r['latency_ms']:.0f} ms",
                "—" if r["model_count"] is None else str(r["model_count"]),
                uptime(r["provider"]),
                html.escape(r["detail"] or ""),
                r["checked_at"].strftime("%H:%M:%S"),
            )
        )
        + "</tr>"
        for r in rows
    )
    return f"<table class='cpnb-health-rows' style='border-collapse:collapse'><tr>{head}</tr>{body}</table>"


def _text_output(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text + "\n"}
