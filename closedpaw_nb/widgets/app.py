"""`app()`: the six panels as tabs, sharing one ProviderManager and one run store."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from ..bench.store import RunStore
from ..manager import ProviderManager
from ._shared import default_manager
from .arena import ArenaPanel
from .benchmark import BenchmarkPanel
from .comparison import ComparisonPanel
from .health import HealthDashboard
from .leaderboard import LeaderboardPanel
from .registration import RegistrationPanel

__all__ = ["ClosedPawApp", "app"]

TITLES = ("Providers", "Compare", "Health", "Benchmark", "Leaderboard", "Arena")


class ClosedPawApp(w.Tab):  # type: ignore[misc]  # ipywidgets ships no types
    """Providers, Compare, Health, Benchmark, Leaderboard and Arena tabs on one manager.

    Registering or removing a provider refreshes the other tabs' target lists, each
    health check updates the health column of the providers table, and the Arena tab's run
    list is refreshed when a benchmark or an evaluation ends and when the tab is opened.

    Attributes:
        registration: The `RegistrationPanel`.
        comparison: The `ComparisonPanel`.
        health: The `HealthDashboard`.
        benchmark: The `BenchmarkPanel`.
        leaderboard: The `LeaderboardPanel` (evaluations; it shares the benchmark's run store).
        arena: The `ArenaPanel` (blind votes on the answers of those runs; same run store).
    """

    def __init__(
        self,
        manager: ProviderManager | None = None,
        *,
        vault: Any = None,
        store: RunStore | str | None = None,
        prices: dict[str, Any] | None = None,
        prompts: Any = None,
    ) -> None:
        self.manager = manager if manager is not None else default_manager()
        self.registration = RegistrationPanel(self.manager, vault=vault)
        self.comparison = ComparisonPanel(self.manager, prices=prices)
        self.health = HealthDashboard(self.manager)
        self.benchmark = BenchmarkPanel(self.manager, prompts=prompts, store=store, prices=prices)
        self.leaderboard = LeaderboardPanel(self.manager, store=store, prices=prices)
        self.arena = ArenaPanel(self.manager, store=store)
        super().__init__(children=list(self.panels), titles=TITLES)
        self.add_class("cpnb-app")
        self.registration.form.observe(self._providers_changed, names="revision")
        self.health.on_check(self.registration.set_health)
        for form in (self.benchmark.form, self.leaderboard.form):
            form.observe(self._run_ended, names="running")
        self.observe(self._tab_selected, names="selected_index")

    @property
    def panels(self) -> tuple[w.Widget, ...]:
        """The six panels, in tab order."""
        return (self.registration, self.comparison, self.health, self.benchmark, self.leaderboard, self.arena)

    def _providers_changed(self, _change: Any) -> None:
        self.comparison.refresh_targets()
        self.benchmark.refresh_targets()
        self.leaderboard.refresh_targets()

    def _run_ended(self, change: dict[str, Any]) -> None:
        if not change["new"]:  # a run ended (runner thread): the Arena tab can open it now
            self.arena.refresh_runs()

    def _tab_selected(self, change: dict[str, Any]) -> None:
        if change["new"] == TITLES.index("Arena"):
            self.arena.refresh_runs()

    def close(self) -> None:
        """Close the panels (stopping auto-refresh and running work) and the tabs."""
        for panel in self.panels:
            panel.close()  # each cancels its work first (the dashboard also stops auto-refresh)
        super().close()


def app(
    manager: ProviderManager | None = None,
    *,
    vault: Any = None,
    store: RunStore | str | None = None,
    prices: dict[str, Any] | None = None,
    prompts: Any = None,
) -> ClosedPawApp:
    """The six panels as tabs sharing one manager; display it as a cell's last line.

    Args:
        manager: The ProviderManager (default: the notebook helpers' process-wide one).
        vault: A DataVault, enabling "store key in DataVault" on the Providers tab.
        store: The run store of benchmarks and evaluations (a RunStore or a path; default:
            the user data dir).
        prices: {"provider:model" or "model": (usd_per_million_input, usd_per_million_output)}.
        prompts: Prompts the Benchmark tab offers (a list, dict or DataFrame column).

    Returns:
        The Tab widget; its `.registration`, `.comparison`, `.health`, `.benchmark`,
        `.leaderboard` and `.arena` attributes are the panels.
    """
    return ClosedPawApp(manager, vault=vault, store=store, prices=prices, prompts=prompts)
