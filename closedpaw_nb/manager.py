"""`ProviderManager`: the registry every call goes through, and its process-wide singleton.

Registration is all-or-nothing: the config is checked, the key resolved and the
provider built before anything is stored, so a failed registration leaves no trace.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Callable
from typing import Any

from .config import ProviderConfig, parse_provider_type, resolve_api_key
from .errors import ConfigError
from .providers import BaseProvider, ChatStream
from .providers import provider_class as provider_class_for
from .providers.base import MessagesLike
from .reliability.guard import GuardedProvider
from .reliability.ratelimit import RateLimiter
from .reliability.retry import RetryPolicy
from .transport.redact import get_logger
from .types import ChatResponse, HealthState, HealthStatus, ProviderType

__all__ = ["BaseURLWarning", "ProviderManager", "get_provider_manager", "probe"]


class BaseURLWarning(UserWarning):
    """A provider's base URL looks like another SDK's convention (see `base_url_advice`)."""


log = get_logger("closedpaw_nb.manager")

HEALTH_TIMEOUT = 15.0


class ProviderManager:
    """A named set of providers with a default, and calls routed to them.

    Calls made through the manager (`chat`, `stream`) get the retry policy, rate limit
    and deadline of the provider's config; `get_provider()` returns the bare provider.

    Args:
        key_lookup: Where to look for a key after the explicit argument and before the
            environment: a callable taking the provider name (e.g. `DataVault.retrieve`);
            also settable later as `manager.key_lookup = vault.retrieve`.
        limiter: The RateLimiter shared by all providers (tests inject one with a fake clock).
    """

    def __init__(
        self, key_lookup: Callable[[str], str | None] | None = None, limiter: RateLimiter | None = None
    ) -> None:
        self._providers: dict[str, GuardedProvider] = {}
        self._default: str | None = None
        self.key_lookup = key_lookup
        self.limiter = limiter or RateLimiter()
        self._classes: dict[ProviderType, type[BaseProvider]] = {}
        self._lock = threading.Lock()

    # -- registry ---------------------------------------------------------------------

    def register_provider(
        self,
        config: ProviderConfig,
        provider_class: type[BaseProvider] | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> BaseProvider:
        """Validate `config`, resolve its key and base URL, build and store the provider.

        Args:
            config: The provider's configuration.
            provider_class: A `BaseProvider` subclass to use instead of the built-in
                class for `config.provider_type` (how custom providers are plugged in).
            retry_policy: Overrides the policy read from `config.settings`.

        Returns:
            The registered provider.

        Raises:
            ConfigError: Duplicate name, missing key, missing/malformed base_url, or a
                provider class that is not a BaseProvider; nothing is registered.
        """
        if not isinstance(config, ProviderConfig):
            raise ConfigError(f"register_provider needs a ProviderConfig, got {type(config).__name__}")
        ptype = parse_provider_type(config.provider_type)  # already parsed; this narrows the field's type
        chosen = provider_class or self._classes.get(ptype)
        cls = _check_class(chosen) if chosen is not None else provider_class_for(ptype)
        provider = _build(cls, self._complete(config, cls))
        policy = retry_policy or RetryPolicy.from_settings(provider.config.settings)
        with self._lock:
            if config.name in self._providers:
                raise ConfigError(
                    f"a provider named {config.name!r} is already registered; pick another name or unregister it first"
                )
            self._providers[config.name] = GuardedProvider(provider, policy, self.limiter)
            self._default = self._default or config.name
        log.info("registered provider %s (%s)", config.name, config.provider_type)
        advice = provider.base_url_advice(config.base_url) if provider.warn_base_url else None
        if advice:  # registered all the same: the convention has exceptions (proxies, gateways)
            warnings.warn(f"provider {config.name!r}: {advice}", BaseURLWarning, stacklevel=2)
        return provider

    def _complete(self, config: ProviderConfig, cls: type[BaseProvider]) -> ProviderConfig:
        """The config with its base URL and key filled in, or a ConfigError saying what is missing."""
        base_url = config.base_url or cls.official_base_url()
        if not base_url and cls.needs_base_url:
            raise ConfigError(
                f"provider {config.name!r} ({cls.__name__}) needs base_url, "
                "e.g. 'http://127.0.0.1:8080/v1' for an OpenAI-compatible server"
            )
        key = resolve_api_key(config, cls.env_api_key, self.key_lookup)
        if cls.needs_api_key and not key:
            places = " or ".join(cls.env_api_key) or "an environment variable"
            raise ConfigError(
                f"provider {config.name!r} ({config.provider_type}) needs an API key: pass "
                f"api_key=..., store one in the DataVault under {config.name!r}, or set {places}"
            )
        return config.with_changes(base_url=base_url, api_key=key)

    def register_provider_class(self, provider_type: ProviderType | str, cls: type[BaseProvider]) -> None:
        """Use `cls` for every later registration of `provider_type` in this manager."""
        ptype = parse_provider_type(provider_type)
        if cls is None:  # untyped callers: None has always meant the built-in class again
            self._classes.pop(ptype, None)
        else:
            self._classes[ptype] = _check_class(cls)

    async def unregister(self, name: str) -> None:
        """Remove a provider and close its connections."""
        with self._lock:
            provider = self._providers.pop(self._guarded(name).name)
            if self._default == name:
                self._default = next(iter(self._providers), None)
        await provider.close()

    def get_provider(self, name: str | None = None) -> BaseProvider | None:
        """The named provider (the default when `name` is None), or None if there is none."""
        key = name if name is not None else self._default
        guarded = self._providers.get(key) if key is not None else None
        return guarded.inner if guarded is not None else None

    def set_default(self, name: str) -> bool:
        """Make `name` the provider used when a call names none."""
        self._guarded(name)
        self._default = name
        return True

    @property
    def default(self) -> str | None:
        return self._default

    @property
    def names(self) -> list[str]:
        return list(self._providers)

    def __contains__(self, name: object) -> bool:
        return name in self._providers

    def __len__(self) -> int:
        return len(self._providers)

    def _guarded(self, name: str | None) -> GuardedProvider:
        key = name if name is not None else self._default
        provider = self._providers.get(key) if key is not None else None
        if provider is None:
            if name is None:
                raise ConfigError("no provider is registered; call register_provider(...) first")
            known = ", ".join(self._providers) or "none"
            raise ConfigError(f"no provider named {name!r} (registered: {known})")
        return provider

    # -- calls --------------------------------------------------------------------------

    async def chat(
        self, messages: MessagesLike, provider: str | None = None, model: str | None = None, **options: Any
    ) -> ChatResponse:
        """Send `messages` to a provider (the default when None) and return its answer."""
        return await self._guarded(provider).chat(messages, model, **options)

    def stream(
        self, messages: MessagesLike, provider: str | None = None, model: str | None = None, **options: Any
    ) -> ChatStream:
        """Stream an answer: async-iterate the text deltas; `.response` holds the result."""
        return self._guarded(provider).stream(messages, model, **options)

    async def list_all_models(self) -> dict[str, list[str]]:
        """Model ids of every enabled provider (the seed's form); a provider that fails maps to []."""
        enabled = [p for p in self._providers.values() if p.config.enabled]
        results = await asyncio.gather(*(p.list_model_info() for p in enabled), return_exceptions=True)
        out = {}
        for provider, result in zip(enabled, results, strict=True):
            if isinstance(result, Exception):
                log.warning("%s: listing models failed: %s", provider.name, result)
                result = []
            elif isinstance(result, BaseException):
                raise result
            out[provider.name] = [m.id for m in result]
        return out

    async def check_health_all(self, timeout: float = HEALTH_TIMEOUT) -> dict[str, HealthStatus]:
        """Rich `HealthStatus` per provider, probed concurrently, each within `timeout` (bools: `health_check_all`)."""
        providers = list(self._providers.values())
        results = await asyncio.gather(*(probe(p, timeout) for p in providers))
        return {p.name: status for p, status in zip(providers, results, strict=True)}

    async def health_check_all(self) -> dict[str, bool]:
        """The seed's form, provider name -> healthy: `check_health_all`'s statuses reduced to `status.ok`."""
        return {name: status.ok for name, status in (await self.check_health_all()).items()}

    def get_status(self) -> dict[str, Any]:
        """Registered providers and the default, with no key material (has_key at most)."""
        return {
            "default": self._default,
            "providers": {name: p.config.public_dict() for name, p in self._providers.items()},
        }

    async def close_all(self) -> None:
        """Close every provider's connections (providers stay registered)."""
        await asyncio.gather(*(p.close() for p in self._providers.values()), return_exceptions=True)

    def __repr__(self) -> str:
        return f"ProviderManager(providers={self.names!r}, default={self._default!r})"


def _check_class(cls: object) -> type[BaseProvider]:
    if not (isinstance(cls, type) and issubclass(cls, BaseProvider)):
        raise ConfigError(f"provider_class must be a BaseProvider subclass, got {cls!r}")
    return cls


def _build(cls: type[BaseProvider], config: ProviderConfig) -> BaseProvider:
    try:
        provider = cls(config)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{cls.__name__}({config.name!r}) could not be created: {exc}") from None
    if not isinstance(provider.__dict__.get("config"), ProviderConfig):
        raise ConfigError(
            f"{cls.__name__}.__init__ must call super().__init__(config) first, so that the provider "
            "has its config (and self.client); nothing was registered"
        )
    return provider


async def probe(provider: BaseProvider, timeout: float) -> HealthStatus:
    """`provider.check_health()`, as a TIMEOUT status past `timeout` seconds and an ERROR
    status if a custom provider's probe itself breaks (one probe never sinks a dashboard)."""
    try:
        return await asyncio.wait_for(provider.check_health(), timeout)
    except TimeoutError:
        return HealthStatus(provider.name, HealthState.TIMEOUT, detail=f"no answer within {timeout:g}s")
    except Exception as exc:  # a custom provider's bug must not sink the whole check
        return HealthStatus(provider.name, HealthState.ERROR, detail=f"{type(exc).__name__}: {exc}"[:300])


_singleton: ProviderManager | None = None
_singleton_lock = threading.Lock()


def get_provider_manager() -> ProviderManager:
    """The process-wide manager, created on first use with the seed's default Ollama entry.

    The Ollama entry points at OLLAMA_HOST (default http://127.0.0.1:11434); nothing
    is contacted until it is used.
    """
    global _singleton
    with _singleton_lock:
        if _singleton is None:
            manager = ProviderManager()
            manager.register_provider(ProviderConfig(ProviderType.OLLAMA, name="ollama"))
            _singleton = manager
        return _singleton
