"""Provider classes, looked up by `ProviderType` from an explicit table and imported lazily."""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from ..types import ProviderType
from .base import BaseProvider, ChatOptions, ChatStream

__all__ = ["BaseProvider", "ChatOptions", "ChatStream", "provider_class"]

_BUILTIN: dict[ProviderType, tuple[str, str]] = {
    ProviderType.OLLAMA: ("ollama", "OllamaProvider"),
    ProviderType.OPENAI: ("openai", "OpenAIProvider"),
    ProviderType.ANTHROPIC: ("anthropic", "AnthropicProvider"),
    ProviderType.GOOGLE: ("google", "GoogleProvider"),
    ProviderType.MISTRAL: ("mistral", "MistralProvider"),
    ProviderType.CUSTOM: ("custom", "CustomProvider"),
}


def provider_class(provider_type: ProviderType) -> type[BaseProvider]:
    """The built-in class that implements `provider_type`."""
    try:
        module, name = _BUILTIN[ProviderType(provider_type)]
    except (KeyError, ValueError):
        raise ConfigError(f"no built-in provider for type {provider_type!r}") from None
    cls: type[BaseProvider] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return cls
