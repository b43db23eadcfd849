"""Prices out of the box, from `genai-prices` (a maintained, dated price catalogue kept by the
pydantic team), so `cost_usd` means something without a hand-typed table.

Which price a call gets, first match wins:

1. the user's `prices` table (by "provider:model", then bare model), as before; a value
   that is a string, e.g. ``{"sim-openai:sim-large": "openai:gpt-4o"}``, prices those calls
   *as* that catalogue model (for simulated models, so example cost charts mean something;
   the manifest says so);
2. a provider on a local or simulated endpoint costs 0.0;
3. the catalogue, by the provider's API (OpenAI, Anthropic, Google, Mistral; a custom
   OpenAI-compatible endpoint by its base URL) and model, computed per call from its token
   counts, so tiered prices (e.g. long-context tiers) apply;
4. otherwise NaN, never 0, and `price_notes` says why.

Only the catalogue bundled with the installed genai-prices is used (no network): the
manifest records its version and the date prices were looked up. Cached-input prices need
cached-token counts, which the providers' usage does not report here yet, so all input tokens
are priced as uncached.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["CATALOGUE", "catalogue_cost", "catalogue_info", "catalogue_knows", "price_notes", "provider_id"]

CATALOGUE = "genai-prices"
# ProviderType value -> the catalogue's provider id (Ollama is local: never priced from it).
_PROVIDER_IDS = {"openai": "openai", "anthropic": "anthropic", "google": "google", "mistral": "mistral"}


def catalogue_info() -> dict[str, str]:
    """The catalogue's name and version and today's date, for a run's manifest."""
    return {"catalogue": CATALOGUE, "version": _catalogue_version(), "looked_up": datetime.now(UTC).date().isoformat()}


@functools.cache  # package metadata is read from disk; an installed version does not change
def _catalogue_version() -> str:
    try:
        return importlib.metadata.version(CATALOGUE)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def provider_id(config: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(catalogue provider id, API URL) for a provider's public config: by type, or for a
    custom endpoint by its base URL (the catalogue knows many OpenAI-compatible hosts)."""
    kind = str(config.get("provider_type") or "")
    if kind in _PROVIDER_IDS:
        return _PROVIDER_IDS[kind], None
    if kind == "custom" and config.get("base_url"):
        return None, str(config["base_url"])
    return None, None


@functools.lru_cache(maxsize=65_536)
def catalogue_cost(
    model: str, prompt_tokens: int, completion_tokens: int, provider: str | None = None, api_url: str | None = None
) -> float | None:
    """USD for one call, or None when the catalogue does not know the model (or the catalogue
    is not installed)."""
    try:
        from genai_prices import Usage, calc_price
    except ImportError:
        return None
    try:
        usage = Usage(input_tokens=prompt_tokens, output_tokens=completion_tokens)
        if api_url is not None:  # a custom endpoint: the catalogue finds the provider by its URL
            price = calc_price(usage, model, provider_api_url=api_url)
        else:
            price = calc_price(usage, model, provider_id=provider)
    except LookupError:
        return None
    return float(price.total_price)


def catalogue_knows(model: str, provider: str | None = None, api_url: str | None = None) -> bool:
    """Whether the catalogue has a price for `model` at that provider."""
    return catalogue_cost(model, 0, 0, provider, api_url) is not None


def price_notes(
    targets: Iterable[Any], configs: Mapping[str, Mapping[str, Any]], prices: Mapping[str, Any]
) -> dict[str, str]:
    """Where each target's cost comes from, in words, for the manifest (targets have
    `provider` and `model`; `configs` are the providers' public configs with `local`/`simulated`)."""
    version = _catalogue_version()
    notes = {}
    for target in targets:
        key, model, config = str(target), target.model, configs.get(target.provider, {})
        given = prices.get(key, prices.get(model)) if model else prices.get(key)
        simulated = " (simulated output, priced as a real model)" if config.get("simulated") else ""
        if isinstance(given, str):
            notes[key] = f"priced as {given} from {CATALOGUE} {version}{simulated}"
        elif given is not None:
            notes[key] = "your price table"
        elif config.get("local"):
            notes[key] = "local endpoint: costs 0" if not config.get("simulated") else "simulated: costs 0"
        elif model and catalogue_knows(model, *provider_id(config)):
            notes[key] = f"{CATALOGUE} {version}"
        else:
            notes[key] = f"not in {CATALOGUE} {version}: cost_usd is NaN (pass prices={{...}} to price it)"
    return notes
