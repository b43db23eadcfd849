"""Checking the registration form: one clear message per field, before anything is built.

Pure apart from reading the environment (is $OPENAI_API_KEY set?) and asking the vault
whether it holds a key under the provider's name; never stores or shows a key.
"""

from __future__ import annotations

import os
from typing import Any

from ..config import ProviderConfig
from ..errors import ConfigError
from ..manager import ProviderManager
from ..types import ProviderType
from ._state import RegistrationForm, field_rules

__all__ = ["check_form", "field_of"]

_LABELS = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "google": "Google Gemini",
    "mistral": "Mistral",
    "ollama": "Ollama",
    "custom": "A custom endpoint",
}


def check_form(
    form: RegistrationForm, key: str, manager: ProviderManager, vault: Any, *, for_register: bool
) -> tuple[dict[str, str], ProviderConfig | None]:
    """Validate the form; return (errors by field, None) or ({}, the ProviderConfig).

    Args:
        form: The form state.
        key: The key typed into the Password field ('' if none).
        manager: Where the provider will be registered (for the duplicate-name check).
        vault: The panel's vault, or None.
        for_register: Check that the name is free (Test connection does not need that).
    """
    name = form.name.strip() or form.provider_type
    errors = {**_name_errors(name, manager, for_register), **_url_errors(form)}
    if not key.strip() and not _key_elsewhere(form, name, manager, vault):
        rules = field_rules(form.provider_type)
        if rules.needs_key:
            where = f", or set {' or '.join(rules.env_vars)} in the environment" if rules.env_vars else ""
            errors["api_key"] = f"{_LABELS[form.provider_type]} needs an API key: paste it here{where}."
    if form.rate_limit < 0 or form.timeout <= 0:
        errors["limits"] = "the rate limit must be 0 (none) or more, and the timeout more than 0 seconds."
    if errors:
        return errors, None
    try:
        config = ProviderConfig(
            ProviderType(form.provider_type),
            name=name,
            api_key=key.strip() or None,
            base_url=form.base_url.strip() or None,
            models=list(form.models),
            default_model=form.default_model.strip() or None,
            rate_limit=form.rate_limit or None,
            timeout=float(form.timeout),
        )
    except ConfigError as exc:
        return {field_of(str(exc)): str(exc)}, None
    return {}, config


def _name_errors(name: str, manager: ProviderManager, for_register: bool) -> dict[str, str]:
    if ":" in name:
        return {"name": "a name cannot contain ':' (it separates provider and model in targets)."}
    if for_register and name in manager:
        return {"name": f"{name!r} is already registered: pick another name, or remove it below first."}
    return {}


def _url_errors(form: RegistrationForm) -> dict[str, str]:
    url = form.base_url.strip()
    if not url:
        if field_rules(form.provider_type).needs_base_url:
            return {"base_url": "required for this type: the server's API root, e.g. http://127.0.0.1:8080/v1"}
        return {}
    try:
        ProviderConfig(ProviderType(form.provider_type), base_url=url)
    except ConfigError as exc:
        return {"base_url": str(exc)}
    return {}


def _key_elsewhere(form: RegistrationForm, name: str, manager: ProviderManager, vault: Any) -> bool:
    """True when registration can find a key without the form: environment or vault."""
    if any(os.environ.get(var) for var in field_rules(form.provider_type).env_vars):
        return True
    if manager.key_lookup is not None:
        return True  # the manager will ask its own lookup; its error is shown if it finds none
    return vault is not None and name in vault


def field_of(text: str) -> str:
    """Which form field a ConfigError message is about."""
    lowered = text.lower()
    for needle, field in (
        ("api key", "api_key"),
        ("base_url", "base_url"),
        ("already registered", "name"),
        ("provider name", "name"),
        ("rate_limit", "limits"),
        ("timeout", "limits"),
    ):
        if needle in lowered:
            return field
    return "form"
