"""closedpaw_nb: compare LLM providers from Jupyter.

The ClosedPaw provider framework (types, config, providers, manager) is importable
from here; the error tree lives in `closedpaw_nb.errors`, the simulator in
`closedpaw_nb.sim` and the provider contract check in `closedpaw_nb.testing`.
"""

from __future__ import annotations

from .config import ProviderConfig, Secret
from .errors import ClosedPawError, ConfigError, ProviderError
from .manager import ProviderManager, get_provider_manager
from .providers import BaseProvider, ChatOptions, ChatStream
from .types import ChatMessage, ChatResponse, HealthState, HealthStatus, ModelInfo, ProviderType, Usage

__version__ = "0.1.0"

__all__ = [
    "BaseProvider",
    "ChatMessage",
    "ChatOptions",
    "ChatResponse",
    "ChatStream",
    "ClosedPawError",
    "ConfigError",
    "HealthState",
    "HealthStatus",
    "ModelInfo",
    "ProviderConfig",
    "ProviderError",
    "ProviderManager",
    "ProviderType",
    "Secret",
    "Usage",
    "__version__",
    "get_provider_manager",
]
