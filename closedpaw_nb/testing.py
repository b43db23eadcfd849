"""A reusable contract check for providers, built-in or your own.

```python
from closedpaw_nb.testing import check_provider
report = check_provider(my_provider, model="my-model")   # raises if a check fails
report                                                   # a table of what was checked
```

The provider is called as the manager calls it (messages as `list[ChatMessage]`, errors
from httpx mapped to our tree, no retries), and each named check says what to change
when it fails: the provider was built with `super().__init__(config)`, chat returns a
`ChatResponse`, the stream's deltas join into its text and its result equals chat's,
`list_models()` returns model ids (`List[str]`), the health probe is ok, and failures are
`ProviderError`s (never a bare `Exception` or an HTTP library's own).

Beyond text, a provider is checked for what its `capabilities` declare: "images" (a
message with an image part is answered), "structured" (a simple schema fills `parsed`,
streamed and not) and "tools" (`tool_choice="required"` gives `ToolCall`s, the same when
streamed, and a tool result sent back is answered). Undeclared ones are listed as skipped.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .content import ImagePart, TextPart
from .errors import AuthenticationError, ProviderError, ProviderImplementationError
from .providers.base import CAPABILITIES, BaseProvider, describe_value
from .reliability.guard import GuardedProvider
from .reliability.ratelimit import RateLimiter
from .reliability.retry import RetryPolicy
from .tools import Tool, ToolCall
from .types import ChatMessage, ChatResponse, HealthStatus

__all__ = ["Check", "ContractReport", "ProviderContractError", "acheck_provider", "check_provider"]

PROMPT = "Name three primary colours."

# A 1x1 red PNG: the smallest image every vision API accepts.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c49444154789c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)
COLOUR_SCHEMA = {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}
COLOUR_TOOL = Tool(
    "get_colour_code",
    "The hex code of a named colour.",
    {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
)


class ProviderContractError(AssertionError):
    """A provider failed one or more contract checks."""


class _Failed(Exception):
    """One check's failure; its text says what to change. (Not `assert`: checks must
    still run under `python -O`.)"""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise _Failed(message)


@dataclass
class Check:
    """One contract check's outcome."""

    name: str
    passed: bool
    detail: str = ""
    seconds: float = 0.0
    skipped: bool = False


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
        lines += [f"  [{_mark(c)}] {c.name}: {c.detail}" for c in self.checks]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><td>{'➖' if c.skipped else '✅' if c.passed else '❌'}</td><td>{html.escape(c.name)}</td>"
            f"<td>{html.escape(c.detail)}</td></tr>"
            for c in self.checks
        )
        return f"<b>{html.escape(str(self.provider))}</b><table>{rows}</table>"


@dataclass
class _Run:
    """One contract run: the provider as the manager calls it, and what earlier checks saw."""

    provider: GuardedProvider
    model: str | None
    prompt: str
    options: dict[str, Any]
    deterministic: bool
    chat_response: ChatResponse | None = None

    @property
    def messages(self) -> list[ChatMessage]:
        return [ChatMessage("user", self.prompt)]


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
        provider: The provider under test (as `register_provider` returned it).
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
    report = ContractReport(_name_of(provider))
    constructed = await _step(report, "constructed with super().__init__(config)", lambda: _constructed(provider))
    if constructed:
        run = _Run(
            _as_called(provider), model, prompt, {"temperature": 0.0, "seed": 7, "max_tokens": 64}, deterministic
        )
        await _step(report, "chat returns a ChatResponse", lambda: _chat(run))
        await _step(report, "stream equals chat", lambda: _stream(run))
        await _step(report, "list_models returns model ids", lambda: _models(run))
        await _step(report, "health", lambda: _health(run))
        if missing_model:
            await _step(report, "errors are ProviderErrors (unknown model)", lambda: _not_found(run, missing_model))
        if bad_key_provider is not None:
            await _step(report, "error mapping: invalid key", lambda: _bad_key(_as_called(bad_key_provider), run))
        await _capability_steps(report, run)
    if raise_on_failure and not report.passed:
        raise ProviderContractError(str(report))
    return report


def check_provider(provider: BaseProvider, **kwargs: Any) -> ContractReport:
    """Run the contract checks and block for the report (see `acheck_provider` for options)."""
    from ._runner import run

    return run(acheck_provider(provider, **kwargs))


# -- the checks -------------------------------------------------------------------------


async def _step(report: ContractReport, name: str, check: Callable[[], Awaitable[str]]) -> bool:
    started = time.perf_counter()
    try:
        detail, passed = await check(), True
    except _Failed as exc:
        detail, passed = str(exc), False
    except Exception as exc:
        detail, passed = f"raised {type(exc).__name__}: {exc}", False
    report.checks.append(Check(name, passed, detail, time.perf_counter() - started))
    return passed


async def _constructed(provider: BaseProvider) -> str:
    _require(
        isinstance(provider, BaseProvider), f"expected a BaseProvider subclass instance, got {describe_value(provider)}"
    )
    _require(
        "config" in provider.__dict__,
        f"{type(provider).__name__}.__init__ must call super().__init__(config): the provider has no "
        "config (and no self.client)",
    )
    return f"{type(provider).__name__} with config {provider.name!r}"


async def _chat(run: _Run) -> str:
    response = await run.provider.chat(run.messages, run.model, **run.options)
    _check_response(response, run.provider.name)
    run.chat_response = response
    return f"{len(response.content)} chars, {response.completion_tokens} completion tokens"


async def _stream(run: _Run) -> str:
    stream = run.provider.stream(run.messages, run.model, **run.options)
    deltas = [d async for d in stream]
    response = stream.response
    _require(response is not None, "the stream ended without a ChatResponse: yield one last")
    assert response is not None  # for the type checker; _require has raised otherwise
    _require(all(isinstance(d, str) and d for d in deltas), "deltas must be non-empty str")
    _require("".join(deltas) == response.content, "the joined deltas differ from the final ChatResponse's content")
    _check_response(response, run.provider.name)
    _require(response.ttft_ms is not None and response.latency_ms is not None, "the stream must be timed")
    _require((response.ttft_ms or 0) <= (response.latency_ms or 0), "ttft_ms must not exceed latency_ms")
    if run.deterministic and run.chat_response is not None:
        _assert_same(run.chat_response, response)
    return f"{len(deltas)} deltas, ttft {response.ttft_ms:.1f} ms"


async def _models(run: _Run) -> str:
    found = await run.provider.list_models()
    _require(
        isinstance(found, list) and all(isinstance(m, str) and m for m in found),
        f"list_models() must return a list of model ids (List[str]), got {describe_value(found)}",
    )
    _require(bool(found), "list_models() returned no models: return the ids you serve, or set config.models")
    return f"{len(found)} models"


async def _health(run: _Run) -> str:
    status = await run.provider.check_health()
    _require(isinstance(status, HealthStatus), "check_health() must return a HealthStatus")
    _require(status.ok, f"health is {status.status}: {status.detail}")
    _require(await run.provider.health_check() is True, "health_check() must return True when healthy")
    return f"ok in {status.latency_ms:.1f} ms" if status.latency_ms is not None else "ok"


async def _not_found(run: _Run, missing_model: str) -> str:
    try:
        await run.provider.chat(run.messages, missing_model, **run.options)
    except ProviderImplementationError as exc:
        raise _Failed(exc.message) from None
    except ProviderError as exc:
        return type(exc).__name__
    raise _Failed(
        f"chat with model {missing_model!r} did not raise: raise NotFoundError (or let "
        "response.raise_for_status() raise) for a model the provider does not have"
    )


async def _bad_key(bad: GuardedProvider, run: _Run) -> str:
    try:
        await bad.chat(run.messages, run.model, **run.options)
    except AuthenticationError:
        pass
    else:
        raise _Failed("chat with an invalid key did not raise AuthenticationError")
    status = await bad.check_health()
    _require(status.status == "auth_failed", f"health with a bad key is {status.status}, not auth_failed")
    return "AuthenticationError; health auth_failed"


_CAPABILITY_CHECKS = {
    "images": "images: an image part is answered",
    "structured": "structured: a simple schema fills parsed",
    "tools": "tools: tool_choice='required' gives ToolCalls",
}


async def _capability_steps(report: ContractReport, run: _Run) -> None:
    declared = run.provider.model_capabilities(run.model)
    await _step(report, "capabilities declared", lambda: _declared(declared))
    checks = {"images": _images, "structured": _structured, "tools": _tools}
    for capability, name in _CAPABILITY_CHECKS.items():
        if capability in declared:
            await _step(report, name, functools.partial(checks[capability], run))
        else:
            report.checks.append(Check(name, True, "skipped: not declared in capabilities", skipped=True))


async def _declared(declared: frozenset[str]) -> str:
    unknown = sorted(set(declared) - CAPABILITIES)
    _require(not unknown, f"unknown capabilities {unknown}: use a subset of {sorted(CAPABILITIES)}")
    _require("text" in declared, 'capabilities must include "text"')
    return ", ".join(sorted(declared))


async def _images(run: _Run) -> str:
    message = ChatMessage("user", [TextPart("What colour is this image? One word."), ImagePart.from_bytes(TINY_PNG)])
    response = await run.provider.chat([message], run.model, **run.options)
    _check_response(response, run.provider.name)
    return f"answered: {response.content[:40]!r}"


async def _structured(run: _Run) -> str:
    messages = [ChatMessage("user", 'Name a primary colour. Answer as JSON: {"colour": "..."}')]
    for how in ("chat", "stream"):
        if how == "chat":
            response = await run.provider.chat(messages, run.model, response_format=COLOUR_SCHEMA, **run.options)
        else:
            response = await run.provider.stream(
                messages, run.model, response_format=COLOUR_SCHEMA, **run.options
            ).get_response()
        _require(
            isinstance(response.parsed, dict) and isinstance(response.parsed.get("colour"), str),
            f"{how}: parsed is {response.parsed!r}, not an object with a colour "
            f"(parse_error: {response.parse_error}); answer with JSON that fits the schema, or set parsed",
        )
    return f"parsed {response.parsed!r}"


async def _tools(run: _Run) -> str:
    messages = [ChatMessage("user", "What is the hex code of red? Use the tool.")]
    options = {**run.options, "tools": [COLOUR_TOOL], "tool_choice": "required"}
    response = await run.provider.chat(messages, run.model, **options)
    _check_calls(response, "chat")
    streamed = await run.provider.stream(messages, run.model, **options).get_response()
    _check_calls(streamed, "stream")
    _require(
        [c.name for c in streamed.tool_calls] == [c.name for c in response.tool_calls],
        "the streamed tool calls differ from chat()'s: parse both through one ToolCallAccumulator",
    )
    call = response.tool_calls[0]
    answer = [
        *messages,
        ChatMessage("assistant", response.content, tool_calls=response.tool_calls),
        *[ChatMessage("tool", '{"hex": "#ff0000"}', tool_call_id=c.id, name=c.name) for c in response.tool_calls],
    ]
    final = await run.provider.chat(answer, run.model, tools=[COLOUR_TOOL], **run.options)
    _require(isinstance(final, ChatResponse), "the turn with the tool results was not answered")
    return f"{call.name}({call.arguments}); the result turn was answered"


def _check_calls(response: ChatResponse, how: str) -> None:
    calls = response.tool_calls
    _require(bool(calls), f"{how}: tool_calls is empty although a call was required")
    _require(
        all(isinstance(c, ToolCall) for c in calls),
        f"{how}: tool_calls must hold closedpaw_nb.tools.ToolCall objects, got {describe_value(calls)}",
    )
    _require(all(c.name == COLOUR_TOOL.name for c in calls), f"{how}: a call names an unknown tool")
    _require(all(c.parse_error is None for c in calls), f"{how}: arguments did not parse: {calls[0].parse_error}")
    _require(
        response.finish_reason == "tool_calls", f"{how}: finish_reason is {response.finish_reason!r}, not 'tool_calls'"
    )


# -- helpers ------------------------------------------------------------------------------


def _mark(check: Check) -> str:
    return "skip" if check.skipped else "ok" if check.passed else "FAIL"


def _name_of(provider: Any) -> str:
    config = getattr(provider, "__dict__", {}).get("config")
    return config.name if config is not None else type(provider).__name__


def _as_called(provider: BaseProvider) -> GuardedProvider:
    """The provider wrapped as the manager wraps it, without retries or shared limits."""
    if isinstance(provider, GuardedProvider):
        return provider
    return GuardedProvider(provider, RetryPolicy(max_retries=0), RateLimiter())


def _check_response(response: ChatResponse, provider: str) -> None:
    _require(isinstance(response.content, str) and bool(response.content), "content must be a non-empty str")
    _require(
        response.provider == provider,
        f"response.provider is {response.provider!r}, not {provider!r}: set provider=self.name",
    )
    _require(isinstance(response.model, str) and bool(response.model), "response.model must name the model")
    _require(
        response.latency_ms is not None and response.latency_ms > 0,
        "latency_ms must be set: time the request with time.perf_counter()",
    )
    for name in ("prompt_tokens", "completion_tokens", "tokens_used"):
        value = getattr(response, name)
        _require(value is None or (isinstance(value, int) and value >= 0), f"{name} must be a count or None")


def _assert_same(chat: ChatResponse, streamed: ChatResponse) -> None:
    _require(streamed.content == chat.content, "streamed text differs from chat() text for the same input")
    for name in ("prompt_tokens", "completion_tokens", "finish_reason", "model"):
        a, b = getattr(chat, name), getattr(streamed, name)
        _require(a == b, f"{name} differs: chat {a!r}, stream {b!r}")
