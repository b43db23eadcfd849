"""The compared clients ("arms"), each one coroutine function per chat call.

Every arm sends the same request to the same stub endpoint and decodes the same JSON,
so the only difference between them is the client code itself:

- `aiohttp`: a bare `aiohttp.ClientSession` with closedpaw_nb's pool limit, and
  `json.loads` on the body: the library under closedpaw_nb's transport, and the baseline.
- `httpx`: the same with a bare `httpx.AsyncClient` (a reference row: the library the
  ClosedPaw guide gives custom providers, and under the official SDKs).
- `ours`: `ProviderManager.chat`, the whole stack (retry, rate limiter, deadline,
  provider mapping, ChatResponse).
- `openai`: the official SDK's `AsyncOpenAI.chat.completions.create`.
- `litellm`: `litellm.acompletion`, when it is installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = [
    "MESSAGES",
    "MODEL",
    "has_litellm",
    "litellm_arm",
    "litellm_env",
    "openai_arm",
    "ours_arm",
    "ours_manager",
    "aiohttp_arm",
    "aiohttp_session",
    "raw_arm",
    "raw_client",
    "register_global",
]

MODEL = "stub-model"
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]
API_KEY = "sk-bench-fake-key"
Arm = Callable[[], Awaitable[Any]]


def aiohttp_session(read_idle: float | None = None) -> Any:
    """An aiohttp.ClientSession with closedpaw_nb's pool limit (call inside the event loop);
    `read_idle` sets aiohttp's `sock_read` timeout (none by default)."""
    import aiohttp

    from closedpaw_nb.transport.client import CONNECT_TIMEOUT, POOL_LIMIT

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=POOL_LIMIT),
        timeout=aiohttp.ClientTimeout(total=60.0, sock_connect=CONNECT_TIMEOUT, sock_read=read_idle),
        headers={"Authorization": f"Bearer {API_KEY}"},
    )


def aiohttp_arm(session: Any, base_url: str) -> Arm:
    """POST the chat body with aiohttp and decode the JSON answer; nothing else."""
    url = f"{base_url}/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES}

    async def call() -> str:
        async with session.post(url, json=body) as response:
            return json.loads(await response.read())["choices"][0]["message"]["content"]

    return call


def raw_client() -> Any:
    """An httpx.AsyncClient configured like closedpaw_nb's (pool limits, timeouts)."""
    import httpx

    from closedpaw_nb.transport.client import CONNECT_TIMEOUT, POOL_LIMIT

    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=POOL_LIMIT, max_keepalive_connections=POOL_LIMIT),
        timeout=httpx.Timeout(60.0, connect=CONNECT_TIMEOUT),
        headers={"Authorization": f"Bearer {API_KEY}"},
    )


def raw_arm(client: Any, base_url: str) -> Arm:
    """POST the chat body and decode the JSON answer; nothing else."""
    url = f"{base_url}/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES}

    async def call() -> str:
        response = await client.post(url, json=body)
        return json.loads(response.content)["choices"][0]["message"]["content"]

    return call


def ours_manager(endpoints: dict[str, str], manager: Any = None) -> Any:
    """A ProviderManager with one OpenAI-type provider per `{name: base_url}`."""
    from closedpaw_nb import ProviderConfig, ProviderManager, ProviderType

    manager = manager if manager is not None else ProviderManager()
    for name, base_url in endpoints.items():
        manager.register_provider(
            ProviderConfig(ProviderType.OPENAI, name=name, api_key=API_KEY, base_url=base_url, default_model=MODEL)
        )
    return manager


def register_global(endpoints: dict[str, str]) -> None:
    """Register `{name: base_url}` with the notebook helpers' manager (replacing old entries)."""
    import closedpaw_nb as cp

    for name, base_url in endpoints.items():
        cp.register("openai", name=name, replace=True, api_key=API_KEY, base_url=base_url, default_model=MODEL)


def ours_arm(manager: Any, provider: str) -> Arm:
    async def call() -> str:
        return (await manager.chat(MESSAGES, provider)).content

    return call


def openai_arm(base_url: str) -> tuple[Arm, Any]:
    """The official SDK with its defaults (its own httpx pool); returns (arm, client)."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key=API_KEY)

    async def call() -> str:
        completion = await client.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        return completion.choices[0].message.content or ""

    return call, client


def has_litellm() -> bool:
    return importlib.util.find_spec("litellm") is not None


def litellm_env() -> dict[str, str]:
    """Environment that keeps LiteLLM offline: no model-price download at import."""
    return {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_OFFLINE_MODE": "true", "LITELLM_LOG": "ERROR"}


def litellm_arm(base_url: str) -> Arm:
    """`litellm.acompletion` against the stub as an OpenAI-compatible endpoint."""
    os.environ.update(litellm_env())
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True

    async def call() -> str:
        response = await litellm.acompletion(
            model=f"openai/{MODEL}", messages=MESSAGES, api_base=base_url, api_key=API_KEY
        )
        return response.choices[0].message.content or ""

    return call
