"""A reusable contract check for providers, built-in or your own.

```python
from closedpaw_nb.testing import check_provider
report = check_provider(my_provider, model="my-model")   # raises if a check fails
report                                                   # a table of what was checked
```

It exercises chat, stream (its deltas join into the text, and its result equals
chat's), list_models, the health probe and error mapping (every failure must be a
`ProviderError` subclass, never a raw exception from an HTTP library).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ProviderError
from .providers.base import BaseProvider
from .types import ChatResponse, HealthStatus, ModelInfo

__all__ = ["Check", "ContractReport", "ProviderContractError", "acheck_provider", "check_provider"]

PROMPT = "Name three primary colours."


class ProviderContractError(AssertionError):
    """A provider failed one or more contract checks."""


@dataclass
class Check:
    """One contract check's outcome."""

    name: str
    passed: bool
    detail: str = ""
    seconds: float = 0.0


@dataclass
class ContractReport:
    """All checks run against one provider."""

    provider: str
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def __str__(self) -> str:
        lines = [f"contract check of {self.provider!r}: {'PASSED' if self.passed else 'FAILED'}"]
        lines += [f"  [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.detail}" for c in self.checks]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><td>{'✅' if c.passed else '❌'}</td><td>{html.escape(c.name)}</td>"
            f"<td>{html.escape(c.detail)}</td></tr>" for c in self.checks
        )
        return f"<b>{html.escape(str(self.provider))}</b><table>{rows}</table>"


async def acheck_provider(
    provider: BaseProvider,
    *,
    model: str | None = None,
    prompt: str = PROMPT,
    missing_model: str | None = "missing-model-for-contract-check",
    bad_key_provider: BaseProvider | None = None,
    deterministic: bool = True,
    raise_on_failure: bool = True,
) -> ContractReport:
    """Run the contract checks against `provider` (awaitable form of `check_provider`).

    Args:
        provider: The provider under test.
        model: Model to use (default: the provider's default model).
        prompt: The prompt sent for chat and stream.
        missing_model: A model name the provider does not have; the call must raise
            a ProviderError (NotFoundError for HTTP APIs). None skips the check.
        bad_key_provider: The same provider built with an invalid key; its calls must
            raise AuthenticationError and its health must be "auth_failed".
        deterministic: Require the streamed text to equal chat()'s text exactly
            (sent with temperature=0 and a seed). Set False for sampling providers.
        raise_on_failure: Raise ProviderContractError listing the failures.
    """
    report = ContractReport(provider.name)
    options = {"temperature": 0.0, "seed": 7, "max_tokens": 64}

    async def step(name: str, fn: Callable[[], Awaitable[str]]) -> None:
        started = time.perf_counter()
        try:
            detail, passed = await fn(), True
        except AssertionError as exc:
            detail, passed = str(exc) or "assertion failed", False
        except Exception as exc:
            detail, passed = f"raised {type(exc).__name__}: {exc}", False
        report.checks.append(Check(name, passed, detail, time.perf_counter() - started))

    chat_result: dict[str, ChatResponse] = {}

    async def chat() -> str:
        response = await provider.chat(prompt, model, **options)
        _check_response(response, provider.name)
        chat_result["r"] = response
        return f"{len(response.content)} chars, {response.completion_tokens} completion tokens"

    async def stream() -> str:
        stream = provider.stream(prompt, model, **options)
        deltas = [d async for d in stream]
        response = stream.response
        assert response is not None, "stream ended without a ChatResponse"
        assert all(isinstance(d, str) and d for d in deltas), "deltas must be non-empty str"
        assert "".join(deltas) == response.content, "joined deltas differ from the final content"
        _check_response(response, provider.name)
        assert response.ttft_ms is not None and response.latency_ms is not None, "stream must be timed"
        assert response.ttft_ms <= response.latency_ms, "ttft_ms must not exceed latency_ms"
        if deterministic and "r" in chat_result:
            _assert_same(chat_result["r"], response)
        return f"{len(deltas)} deltas, ttft {response.ttft_ms:.1f} ms"

    async def models() -> str:
        found = await provider.list_models()
        assert isinstance(found, list) and all(isinstance(m, ModelInfo) for m in found), "list_models must return ModelInfo objects"
        assert found, "list_models returned no models"
        return f"{len(found)} models"

    async def health() -> str:
        status = await provider.check_health()
        assert isinstance(status, HealthStatus), "check_health must return a HealthStatus"
        assert status.ok, f"health is {status.status}: {status.detail}"
        assert await provider.health_check() is True, "health_check() must be True when healthy"
        return f"ok in {status.latency_ms:.1f} ms" if status.latency_ms is not None else "ok"

    async def not_found() -> str:
        try:
            await provider.chat(prompt, missing_model, **options)
        except ProviderError as exc:
            return f"{type(exc).__name__}"
        raise AssertionError(f"chat with model {missing_model!r} did not raise a ProviderError")

    async def bad_key() -> str:
        from .errors import AuthenticationError

        assert bad_key_provider is not None
        try:
            await bad_key_provider.chat(prompt, model, **options)
            raise AssertionError("chat with an invalid key did not raise")
        except AuthenticationError:
            pass
        status = await bad_key_provider.check_health()
        assert status.status == "auth_failed", f"health with a bad key is {status.status}, not auth_failed"
        return "AuthenticationError; health auth_failed"

    await step("chat", chat)
    await step("stream equals chat", stream)
    await step("list_models", models)
    await step("health", health)
    if missing_model:
        await step("error mapping: unknown model", not_found)
    if bad_key_provider is not None:
        await step("error mapping: invalid key", bad_key)
    if raise_on_failure and not report.passed:
        raise ProviderContractError(str(report))
    return report


def check_provider(provider: BaseProvider, **kwargs: Any) -> ContractReport:
    """Run the contract checks and block for the report (see `acheck_provider` for options)."""
    from ._runner import run

    return run(acheck_provider(provider, **kwargs))


def _check_response(response: ChatResponse, provider: str) -> None:
    assert isinstance(response, ChatResponse), f"expected ChatResponse, got {type(response).__name__}"
    assert isinstance(response.content, str) and response.content, "content must be a non-empty str"
    assert response.provider == provider, f"response.provider is {response.provider!r}, not {provider!r}"
    assert isinstance(response.model, str) and response.model, "response.model must name the model"
    assert response.latency_ms is not None and response.latency_ms > 0, "latency_ms must be set"
    for name in ("prompt_tokens", "completion_tokens", "tokens_used"):
        value = getattr(response, name)
        assert value is None or (isinstance(value, int) and value >= 0), f"{name} must be a count or None"


def _assert_same(chat: ChatResponse, streamed: ChatResponse) -> None:
    assert streamed.content == chat.content, "streamed text differs from chat() text for the same input"
    for name in ("prompt_tokens", "completion_tokens", "finish_reason", "model"):
        a, b = getattr(chat, name), getattr(streamed, name)
        assert a == b, f"{name} differs: chat {a!r}, stream {b!r}"
