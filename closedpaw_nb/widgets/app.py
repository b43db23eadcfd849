"""`app()`: the five panels as tabs, sharing one ProviderManager."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from ..bench.store import RunStore
from ..manager import ProviderManager
from ._shared import default_manager
from .benchmark import BenchmarkPanel
from .comparison import ComparisonPanel
from .health import HealthDashboard
from .leaderboard import LeaderboardPanel
from .registration import RegistrationPanel

__all__ = ["ClosedPawApp", "app"]

TITLES = ("Providers", "Compare", "Health", "Benchmark", "Leaderboard")


class ClosedPawApp(w.Tab):  # type: ignore[misc]  # ipywidgets ships no types
    """Providers, Compare, Health, Benchmark and Leaderboard tabs on one manager.

    Registering or removing a provider refreshes the other tabs' target lists, and each
    health check updates the health column of the providers table.

    Attributes:
        registration: The `RegistrationPanel`.
        comparison: The `ComparisonPanel`.
        health: The `HealthDashboard`.
        benchmark: The `BenchmarkPanel`.
        leaderboard: The `LeaderboardPanel` (evaluations; it shares the benchmark's run store).
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
        super().__init__(children=list(self.panels), titles=TITLES)
        self.add_class("cpnb-app")
        self.registration.form.observe(self._providers_changed, names="revision")
        self.health.on_check(self.registration.set_health)

    @property
    def panels(self) -> tuple[w.Widget, ...]:
        """The five panels, in tab order."""
        return (self.registration, self.comparison, self.health, self.benchmark, self.leaderboard)

    def _providers_changed(self, _change: Any) -> None:
        self.comparison.refresh_targets()
        self.benchmark.refresh_targets()
        self.leaderboard.refresh_targets()

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
    """The five panels as tabs sharing one manager; display it as a cell's last line.

    Args:
        manager: The ProviderManager (default: the notebook helpers' process-wide one).
        vault: A DataVault, enabling "store key in DataVault" on the Providers tab.
        store: The run store of benchmarks and evaluations (a RunStore or a path; default:
            the user data dir).
        prices: {"provider:model" or "model": (usd_per_million_input, usd_per_million_output)}.
        prompts: Prompts the Benchmark tab offers (a list, dict or DataFrame column).

    Returns:
        The Tab widget; its `.registration`, `.comparison`, `.health`, `.benchmark` and
        `.leaderboard` attributes are the panels.
    """
    return ClosedPawApp(manager, vault=vault, store=store, prices=prices, prompts=prompts)
