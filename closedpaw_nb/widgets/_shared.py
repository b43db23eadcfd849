"""Helpers the panels share: the default manager, target choices, local providers."""

from __future__ import annotations

from ..bench.run import local_providers, simulated_providers
from ..evals.scorers import Scorer, choice, exact_match, includes, json_valid, numeric
from ..manager import ProviderManager

__all__ = ["SCORERS", "default_manager", "local_providers", "simulated_providers", "target_options"]

SCORERS: dict[str, Scorer] = {s.kind: s for s in (includes(), exact_match(), numeric(), choice(), json_valid())}
"""The scorers the comparison and benchmark panels offer against expected answers, by name."""


def default_manager() -> ProviderManager:
    """The manager the notebook helpers use (`closedpaw_nb.notebook.manager()`)."""
    from ..notebook import manager

    return manager()


def target_options(manager: ProviderManager, live: dict[str, list[str]] | None = None) -> list[str]:
    """ "provider:model" for every registered provider: its default model first, then its
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
