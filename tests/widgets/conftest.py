"""Fixtures for the widget tests: managers on the simulator, a slow provider, widget cleanup."""

from __future__ import annotations

import ipywidgets as w
import pytest

from closedpaw_nb import _runner
from closedpaw_nb.config import ProviderConfig
from closedpaw_nb.manager import ProviderManager
from closedpaw_nb.types import ProviderType

from ._helpers import KEY, SlowProvider


@pytest.fixture
def manager():
    """An empty ProviderManager, closed after the test."""
    mgr = ProviderManager()
    yield mgr
    _runner.run(mgr.close_all())


@pytest.fixture
def sim_manager(sim, manager):
    """A manager with two simulator providers ("s-openai", "s-anthropic") and one with a
    key the simulator rejects ("bad")."""
    for ptype in ("openai", "anthropic"):
        manager.register_provider(
            ProviderConfig(
                ptype,
                name=f"s-{ptype}",
                api_key=KEY,
                base_url=sim.base_url(ptype),
                models=["sim-small", "sim-large"],
                default_model="sim-small",
            )
        )
    manager.register_provider(
        ProviderConfig(
            "openai",
            name="bad",
            api_key="invalid-key-0123456789",
            base_url=sim.base_url("openai"),
            default_model="sim-small",
        )
    )
    return manager


@pytest.fixture
def add_slow(manager):
    """Register a SlowProvider: add_slow(name, n=30, delay=0.01)."""

    def add(name: str = "slow", n: int = 30, delay: float = 0.01) -> str:
        config = ProviderConfig(
            ProviderType.CUSTOM,
            name=name,
            default_model="slow-model",
            models=["slow-model"],
            settings={"n": n, "delay": delay},
        )
        manager.register_provider(config, provider_class=SlowProvider)
        return f"{name}:slow-model"

    return add


@pytest.fixture(autouse=True)
def _close_widgets():
    """Close every widget a test made, so state scans only see the current test's widgets."""
    yield
    w.Widget.close_all()
