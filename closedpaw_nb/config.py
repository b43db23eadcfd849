"""Provider configuration and the `Secret` wrapper that keeps API keys out of sight.

Keys resolve in one direction: an explicit argument, then the DataVault, then the
provider's environment variable; a cloud provider with none of them is a ConfigError
that names all three places.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError
from .transport.headers import check_request_headers
from .transport.redact import MASK, credential_header, register_secret
from .types import ProviderType

__all__ = ["ProviderConfig", "Secret", "resolve_api_key"]


class Secret:
    """An API key that never shows itself in a repr, str, log line or f-string.

    Use `reveal()` at the one place the key is put on the wire.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret value must be a str")
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        """The key itself. Only the HTTP layer should call this."""
        return self._value

    def fingerprint(self) -> str:
        """A short, non-reversible tag that tells two keys apart without showing either."""
        return "sha256:" + hashlib.sha256(self._value.encode()).hexdigest()[:8]

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __reduce__(self) -> Any:
        # Pickling would write the key to disk or a pipe in clear text.
        raise TypeError("Secret values cannot be pickled; store keys in the DataVault")


def parse_provider_type(value: ProviderType | str) -> ProviderType:
    """A ProviderType from its value ("openai", ...); a ConfigError lists the valid ones."""
    try:
        return ProviderType(value.lower() if isinstance(value, str) else value)
    except ValueError:
        allowed = ", ".join(t.value for t in ProviderType)
        raise ConfigError(f"unknown provider_type {value!r}; use one of: {allowed}") from None


def _check_base_url(url: str) -> str:
    if not isinstance(url, str) or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise ConfigError("base_url must not contain spaces or control characters (CR, LF, tab...)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ConfigError(f"base_url is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base_url {url!r} is not an http(s) URL with a host, e.g. 'http://127.0.0.1:8080/v1'")
    if parts.username or parts.password:
        raise ConfigError("base_url must not contain credentials; pass api_key instead")
    if parts.query or parts.fragment:
        raise ConfigError("base_url must not have a query string or fragment")
    return url.rstrip("/")


@dataclass
class ProviderConfig:
    """How to reach one provider.

    Attributes:
        provider_type: A `ProviderType` (or its string value).
        name: The name this provider is registered under (unique in a manager).
        api_key: The key, held as a `Secret`; a plain str is wrapped on creation.
        base_url: The API root; each provider has a default, CUSTOM requires one.
        models: Known models; the fallback when the live model list is unavailable.
        default_model: Model used when a call does not name one.
        enabled: Disabled providers are skipped by health checks and comparisons.
        rate_limit: Requests per minute this client may send (None: no client limit).
        timeout: Read timeout in seconds for generation calls.
        settings: Provider-specific extras (e.g. "organization", "max_retries",
            "extra_headers", "anthropic_version", "tokens_per_minute").
    """

    provider_type: ProviderType | str
    name: str = ""
    api_key: Secret | str | None = None
    base_url: str | None = None
    models: list[str] = field(default_factory=list)
    default_model: str | None = None
    enabled: bool = True
    rate_limit: int | None = None
    timeout: float = 600.0
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.provider_type = parse_provider_type(self.provider_type)
        self.name = self.name or self.provider_type.value
        if not isinstance(self.name, str) or not self.name.strip() or ":" in self.name:
            raise ConfigError(f"provider name {self.name!r} must be non-empty and contain no ':'")
        if isinstance(self.api_key, str):
            self.api_key = Secret(self.api_key) if self.api_key else None
        if self.base_url is not None:
            self.base_url = _check_base_url(self.base_url)
        if self.rate_limit is not None and (not isinstance(self.rate_limit, int) or self.rate_limit <= 0):
            raise ConfigError(
                f"rate_limit must be a positive whole number of requests per minute, got {self.rate_limit!r}"
            )
        if not isinstance(self.timeout, (int, float)) or self.timeout <= 0:
            raise ConfigError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        self.models = list(self.models or [])
        self.settings = dict(self.settings or {})
        self._check_extra_headers()

    def _check_extra_headers(self) -> None:
        extra = self.settings.get("extra_headers")
        if extra is None:
            return
        if not isinstance(extra, Mapping):
            raise ConfigError("settings['extra_headers'] must be a mapping of header name to value")
        self.settings["extra_headers"] = check_request_headers(extra, where="settings['extra_headers']")
        for name, value in self.settings["extra_headers"].items():
            if credential_header(name):
                register_secret(value)  # scrubbed from errors and logs like an api_key

    def __repr__(self) -> str:
        # The dataclass repr would show settings as given: mask header values that carry
        # credentials (api_key is a Secret and masks itself).
        settings = dict(self.settings)
        if isinstance(settings.get("extra_headers"), Mapping):
            settings["extra_headers"] = {
                k: MASK if credential_header(k) else v for k, v in settings["extra_headers"].items()
            }
        fields = ", ".join(
            f"{name}={value!r}"
            for name, value in (
                ("provider_type", self.provider_type),
                ("name", self.name),
                ("api_key", self.api_key),
                ("base_url", self.base_url),
                ("models", self.models),
                ("default_model", self.default_model),
                ("enabled", self.enabled),
                ("rate_limit", self.rate_limit),
                ("timeout", self.timeout),
                ("settings", settings),
            )
        )
        return f"ProviderConfig({fields})"

    @property
    def has_key(self) -> bool:
        return bool(self.api_key)

    def with_changes(self, **changes: Any) -> ProviderConfig:
        """A copy with some fields replaced (validated again)."""
        return replace(self, **changes)

    def public_dict(self) -> dict[str, Any]:
        """The config without the key: safe to show, log, export or send over HTTP."""
        key = self.api_key if isinstance(self.api_key, Secret) else None
        return {
            "provider_type": ProviderType(self.provider_type).value,  # a ProviderType since __post_init__
            "name": self.name,
            "base_url": self.base_url,
            "models": list(self.models),
            "default_model": self.default_model,
            "enabled": self.enabled,
            "rate_limit": self.rate_limit,
            "timeout": self.timeout,
            "has_key": key is not None,
            "key_fingerprint": key.fingerprint() if key else None,
        }


def resolve_api_key(
    config: ProviderConfig,
    env_vars: Iterable[str],
    vault_lookup: Callable[[str], str | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Secret | None:
    """The key for `config`: explicit, then the vault entry named like the provider, then env."""
    if config.api_key:  # a Secret since __post_init__
        return config.api_key if isinstance(config.api_key, Secret) else Secret(config.api_key)
    if vault_lookup is not None:
        stored = vault_lookup(config.name)
        if stored:
            return Secret(stored)
    env = os.environ if environ is None else environ
    for var in env_vars:
        if env.get(var):
            return Secret(env[var])
    return None
