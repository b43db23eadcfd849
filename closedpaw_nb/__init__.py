"""closedpaw_nb: compare LLM providers from Jupyter.

```python
import closedpaw_nb as cp
cp.register(simulator=True)                   # or cp.register("openai") with OPENAI_API_KEY set
cp.compare("Why is the sky blue?", ["sim-openai:sim-small", "sim-anthropic:sim-large"])
```

The ClosedPaw provider framework (types, config, providers, manager), the notebook
helpers (`register`, `chat`, `compare`, `benchmark`, ...) and `DataVault`,
`RateLimiter`, `RetryPolicy` are importable from here; heavier parts load on first use.
The error tree lives in `closedpaw_nb.errors`, the simulator in `closedpaw_nb.sim` and
the provider contract check in `closedpaw_nb.testing`. Messages may carry images
(`image()`, `TextPart`, `ImagePart`); `Tool`/`ToolCall` are the tool-calling records
(the rest in `closedpaw_nb.tools`), and `closedpaw_nb.structured` reads JSON answers.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .config import ProviderConfig, Secret
from .content import ImagePart, TextPart, image
from .errors import ClosedPawError, ConfigError, ProviderError
from .manager import ProviderManager, get_provider_manager
from .providers import BaseProvider, ChatOptions, ChatStream
from .tools import Tool, ToolCall
from .types import ChatMessage, ChatResponse, HealthState, HealthStatus, ModelInfo, ProviderType, Usage

# Loaded on first access, so `import closedpaw_nb` stays light (no pandas, no cryptography).
_LAZY = {
    "DataVault": "keys.vault",
    "KeyringVault": "keys.vault",
    "RateLimiter": "reliability.ratelimit",
    "RetryPolicy": "reliability.retry",
    "BenchmarkResult": "bench.run",
    "RunStore": "bench.store",
    "CompareResult": "notebook",
    "EvalResult": "evals.run",
    "Arena": "evals.arena",
    **{
        name: "notebook"
        for name in (
            "register",
            "chat",
            "achat",
            "stream",
            "compare",
            "acompare",
            "benchmark",
            "abenchmark",
            "resume",
            "aresume",
            "models",
            "amodels",
            "health",
            "ahealth",
            "evaluate",
            "aevaluate",
            "arena",
            "aarena",
            "runs",
            "last_run",
            "read_results",
            "RunInterrupted",
            "save_profiles",
            "load_profiles",
            "run_tools",
            "arun_tools",
        )
    },
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'closedpaw_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Arena",
    "BaseProvider",
    "BenchmarkResult",
    "CompareResult",
    "EvalResult",
    "DataVault",
    "KeyringVault",
    "RateLimiter",
    "RetryPolicy",
    "RunInterrupted",
    "RunStore",
    "aarena",
    "abenchmark",
    "achat",
    "acompare",
    "aevaluate",
    "ahealth",
    "amodels",
    "aresume",
    "arun_tools",
    "arena",
    "benchmark",
    "chat",
    "compare",
    "evaluate",
    "health",
    "last_run",
    "load_profiles",
    "models",
    "read_results",
    "register",
    "resume",
    "run_tools",
    "runs",
    "save_profiles",
    "stream",
    "ChatMessage",
    "ChatOptions",
    "ChatResponse",
    "ChatStream",
    "ClosedPawError",
    "ConfigError",
    "HealthState",
    "HealthStatus",
    "ImagePart",
    "ModelInfo",
    "ProviderConfig",
    "ProviderError",
    "ProviderManager",
    "ProviderType",
    "Secret",
    "TextPart",
    "Tool",
    "ToolCall",
    "Usage",
    "__version__",
    "get_provider_manager",
    "image",
]
