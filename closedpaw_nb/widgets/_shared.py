"""Helpers the panels share: the default manager, target choices, local providers."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from ..bench.run import LOOPBACK
from ..manager import ProviderManager
from ..types import HealthState, HealthStatus

__all__ = ["default_manager", "local_providers", "probe", "simulated_providers", "target_options"]


def default_manager() -> ProviderManager:
    """The manager the notebook helpers use (`closedpaw_nb.notebook.manager()`)."""
    from ..notebook import manager

    return manager()


def target_options(manager: ProviderManager, live: dict[str, list[str]] | None = None) -> list[str]:
    """"provider:model" for every registered provider: its default model first, then its
    configured models, then any `live` models (from `list_all_models`)."""
    options: list[str] = []
    for name in manager.names:
        provider = manager.get_provider(name)
        if provider is None or not provider.config.enabled:
            continue
        cfg = provider.config
        models = [m for m in (cfg.default_model, *cfg.models, *(live or {}).get(name, ())) if m]
        options += [f"{name}:{m}" for m in dict.fromkeys(models)] or [name]
    return options


def local_providers(manager: ProviderManager) -> list[str]:
    """Providers on a loopback address: their calls cost 0.0 unless priced (as in benchmarks)."""
    names = []
    for name in manager.names:
        provider = manager.get_provider(name)
        host = urlsplit(provider.config.base_url or "").hostname if provider else None
        if host in LOOPBACK:
            names.append(name)
    return names


def simulated_providers(manager: ProviderManager) -> list[str]:
    """Providers registered as closedpaw_nb's simulator (`settings["simulated"]`)."""
    return [n for n in manager.names if (p := manager.get_provider(n)) and p.config.settings.get("simulated")]


async def probe(provider: Any, timeout: float) -> HealthStatus:
    """The provider's unbilled probe, as a TIMEOUT status if it takes longer than `timeout`."""
    try:
        return await asyncio.wait_for(provider.check_health(), timeout)
    except TimeoutError:
        return HealthStatus(provider.name, HealthState.TIMEOUT, detail=f"no answer within {timeout:g} s")
