"""Registering a provider over HTTP: the checks a notebook caller does not need.

In order: a duplicate name is a 409; an unsafe base_url is a 422 (see `urlcheck`);
a key the server holds (DataVault entry or environment variable) is only ever used
with the provider's official origin, so a registration that points elsewhere must
carry its own `api_key`; then the manager validates and stores the provider.
"""

from __future__ import annotations

from ..config import ProviderConfig, resolve_api_key
from ..manager import ProviderManager
from ..providers import BaseProvider, provider_class
from ..providers.ollama import ollama_host
from ..types import ProviderType
from .errors import ApiError
from .models import ProviderInfo, RegisterRequest
from .urlcheck import Resolver, check_base_url, origin, system_resolve

__all__ = ["official_base_url", "register"]


def official_base_url(provider_type: ProviderType, cls: type[BaseProvider]) -> str | None:
    """The endpoint a provider type uses when no base_url is given (None for custom)."""
    if provider_type is ProviderType.OLLAMA:
        return ollama_host()
    return cls.default_base_url


def _at_official_origin(base_url: str | None, official: str | None) -> bool:
    return base_url is None or (official is not None and origin(base_url) == origin(official))


def _config(body: RegisterRequest, name: str) -> ProviderConfig:
    """The ProviderConfig the body describes (its own validation raises ConfigError)."""
    settings = body.settings.model_dump(exclude_none=True) if body.settings else {}
    key = body.api_key.get_secret_value() if body.api_key is not None else None
    return ProviderConfig(
        body.provider_type, name=name, api_key=key, base_url=body.base_url, models=list(body.models),
        default_model=body.default_model, enabled=body.enabled, rate_limit=body.rate_limit,
        timeout=body.timeout, settings=settings,
    )


def _refuse_stored_key(config: ProviderConfig, cls: type[BaseProvider], manager: ProviderManager,
                       official: str | None) -> None:
    """Raise 422 when a key the server holds would go to an origin it was not given for."""
    if config.api_key or _at_official_origin(config.base_url, official):
        return
    stored = resolve_api_key(config, cls.env_api_key, manager.key_lookup)
    if not (cls.needs_api_key or stored):
        return  # no key at all will be sent: nothing to protect
    where = f"its official endpoint {official}" if official else "no custom endpoint"
    sources = " or ".join((f"the DataVault entry {config.name!r}", *cls.env_api_key))
    raise ApiError(
        422, "api_key_required",
        f"{config.name!r} points at {config.base_url}, which is not {config.provider_type}'s official "
        f"endpoint; a key the server holds ({sources}) is only sent to {where}. "
        "Include api_key in the request body to use a key with this endpoint.",
    )


async def register(
    manager: ProviderManager, body: RegisterRequest, *, allow_local: bool, resolve: Resolver = system_resolve
) -> ProviderInfo:
    """Check and register the provider `body` describes; return how it is now shown.

    Raises:
        ApiError: 409 for a duplicate name, 422 when a stored key would go to a new origin.
        UnsafeBaseURLError: The base_url may not be used (422).
        ConfigError: The manager refused the config (422).
    """
    name = body.name or body.provider_type.value
    _refuse_duplicate(manager, name)
    cls = provider_class(body.provider_type)
    official = official_base_url(body.provider_type, cls)
    if body.base_url is not None:
        await check_base_url(body.base_url, body.provider_type, allow_local=allow_local, official=official,
                             resolve=resolve)
    config = _config(body, name)
    _refuse_stored_key(config, cls, manager, official)
    _refuse_duplicate(manager, name)  # again: another request may have taken it during the lookup
    manager.register_provider(config)
    return ProviderInfo(**manager.get_status()["providers"][name])


def _refuse_duplicate(manager: ProviderManager, name: str) -> None:
    if name in manager:
        raise ApiError(409, "conflict", f"a provider named {name!r} is already registered; pick another "
                                        f"name or DELETE /api/providers/{name} first")
