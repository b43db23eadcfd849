"""Saved provider profiles: the non-secret settings of registered providers, in a JSON file,
so a kernel restart does not mean registering everything again.

A profile holds type, name, base URL, models, default model, enabled, rate limit, timeout and
the JSON-safe `settings` — never a key. Settings and headers whose names look like
credentials (key, token, secret, password, auth, cookie, signature) are left out too. On load,
each provider's key resolves as at registration: the manager's key lookup (the DataVault),
then the provider's environment variable. Custom provider classes are not saved; their
profiles load as built-ins of the same type, or are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .config import ProviderConfig
from .errors import ClosedPawError, ConfigError
from .manager import ProviderManager
from .transport.redact import credential_header

__all__ = ["MAX_PROFILE_BYTES", "default_profiles_path", "load_profiles", "profile_of", "save_profiles"]

MAX_PROFILE_BYTES = 1_000_000
_VERSION = 1
_FIELDS = ("provider_type", "name", "base_url", "models", "default_model", "enabled", "rate_limit", "timeout")


def default_profiles_path() -> Path:
    """`profiles.json` in the user's config directory (created when first saved)."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("closedpaw_nb")) / "profiles.json"


def profile_of(config: ProviderConfig) -> dict[str, Any]:
    """The saveable part of a config: no key, no credential-like setting or header."""
    public = config.public_dict()
    profile = {name: public[name] for name in _FIELDS}
    profile["settings"] = _safe(config.settings)
    return profile


def save_profiles(manager: ProviderManager, path: str | Path | None = None, *, names: Iterable[str] = ()) -> Path:
    """Write the profiles of `manager`'s providers (or only `names`) to `path`, atomically
    (a crash leaves the old file). Returns the path."""
    wanted = list(names) or manager.names
    unknown = [n for n in wanted if manager.get_provider(n) is None]
    if unknown:
        raise ConfigError(f"no provider named {', '.join(unknown)} (registered: {', '.join(manager.names)})")
    configs = [provider.config for n in wanted if (provider := manager.get_provider(n)) is not None]
    document = {"version": _VERSION, "profiles": [profile_of(c) for c in configs]}
    target = Path(path) if path is not None else default_profiles_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".profiles-", dir=target.parent)
    with os.fdopen(handle, "w") as file:
        json.dump(document, file, indent=1)
    os.replace(temporary, target)
    return target


async def load_profiles(
    manager: ProviderManager, path: str | Path | None = None, *, replace: bool = False
) -> tuple[list[str], dict[str, str]]:
    """Register the providers saved in `path`. Returns (names registered, {name: why not}) for
    the profiles that could not be: a name already taken (unless `replace`), a missing key, a
    setting the provider refuses. A bad file raises ConfigError before anything is registered."""
    profiles = _read(Path(path) if path is not None else default_profiles_path())
    registered: list[str] = []
    skipped: dict[str, str] = {}
    for profile in profiles:
        name = str(profile.get("name") or profile.get("provider_type"))
        if name in manager.names and not replace:
            skipped[name] = "already registered (load with replace=True to replace it)"
            continue
        try:
            config = ProviderConfig(**profile)
            if name in manager.names:
                await manager.unregister(name)
            manager.register_provider(config)
        except (ClosedPawError, TypeError, ValueError) as exc:
            skipped[name] = f"{type(exc).__name__}: {exc}"
            continue
        registered.append(config.name)
    return registered, skipped


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise ConfigError(f"no saved profiles at {path}: save some first (save_profiles)")
    if path.stat().st_size > MAX_PROFILE_BYTES:
        raise ConfigError(f"{path} is over {MAX_PROFILE_BYTES:,} bytes: not a profiles file")
    try:
        document = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}): fix or delete it") from None
    profiles = document.get("profiles") if isinstance(document, dict) else None
    if not isinstance(profiles, list) or not all(isinstance(p, dict) for p in profiles):
        raise ConfigError(f'{path} is not a profiles file: expected {{"version": 1, "profiles": [...]}}')
    allowed = {*_FIELDS, "settings"}
    for profile in profiles:
        extra = sorted(set(profile) - allowed)
        if extra:
            raise ConfigError(f"{path}: profile {profile.get('name')!r} has unknown fields {', '.join(extra)}")
    return profiles


def _safe(settings: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, value in settings.items():
        if credential_header(name) and not _not_a_secret(name, value):
            continue
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if not credential_header(str(k))}
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue  # not JSON: cannot be saved, and is rebuilt by code anyway
        kept[name] = value
    return kept


def _not_a_secret(name: str, value: Any) -> bool:
    """The project's own settings whose names say "token" but hold a count or a URL: kept
    (a URL only without a query or user part, where a key could hide)."""
    if name in ("tokens_per_minute", "max_tokens"):
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "tokenize_endpoint":
        return isinstance(value, str) and "?" not in value and "@" not in value
    return False
