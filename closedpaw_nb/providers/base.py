"""`BaseProvider`, the contract every provider (built-in or yours) fulfils, and `ChatStream`.

Writing a provider: subclass `BaseProvider`, implement `chat()`; optionally override
`stream_chat()` (an async generator of text deltas that ends by yielding the final
`ChatResponse`), `fetch_models()` (the live model list) and `close()`. Everything else
(`stream()`, `list_models()`, `check_health()`, `health_check()`) is built on those.
Register it with `ProviderManager.register_provider(config, provider_class=YourClass)`
and check it with `closedpaw_nb.testing.check_provider`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .._redact import get_logger
from ..config import ProviderConfig
from ..errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConfigError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
)
from ..types import ChatMessage, ChatResponse, HealthState, HealthStatus, ModelInfo, ProviderType

__all__ = ["BaseProvider", "ChatOptions", "ChatStream", "normalize_messages"]

log = get_logger("closedpaw_nb.providers")

MessagesLike = str | ChatMessage | Mapping[str, str] | Iterable[ChatMessage | Mapping[str, str]]


def normalize_messages(messages: MessagesLike) -> list[ChatMessage]:
    """Accept a prompt string, one message, or a list of messages/dicts; return ChatMessages."""
    if isinstance(messages, str):
        return [ChatMessage("user", messages)]
    if isinstance(messages, (ChatMessage, Mapping)):
        messages = [messages]  # type: ignore[list-item]
    result = []
    for message in messages:  # type: ignore[union-attr]
        if isinstance(message, ChatMessage):
            result.append(message)
        elif isinstance(message, Mapping) and "role" in message and "content" in message:
            result.append(ChatMessage(message["role"], message["content"]))
        else:
            raise ConfigError(f"each message needs a role and content, got {message!r}")
    if not result:
        raise ConfigError("messages is empty: pass a prompt string or at least one message")
    return result


@dataclass(frozen=True)
class ChatOptions:
    """The common knobs, in our names; each provider maps them to its API's own.

    Attributes:
        temperature: Sampling temperature.
        top_p: Nucleus sampling mass.
        max_tokens: Cap on generated tokens (Anthropic requires one; we default it).
        stop: Stop sequences.
        seed: Sampling seed, where the API supports one (Anthropic does not).
        extra_body: Provider-specific fields merged into the request body as given.
    """

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> ChatOptions:
        """Validate keyword options; an unknown name is a ConfigError listing the known ones."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ConfigError(
                f"unknown chat option(s) {', '.join(unknown)}; use {', '.join(sorted(known))}"
                " (provider-specific fields go in extra_body={...})"
            )
        stop = kwargs.get("stop")
        if isinstance(stop, str):
            kwargs["stop"] = (stop,)
        elif stop is not None:
            kwargs["stop"] = tuple(stop)
        else:
            kwargs.pop("stop", None)
        if kwargs.get("max_tokens") is not None and int(kwargs["max_tokens"]) <= 0:
            raise ConfigError("max_tokens must be a positive number of tokens")
        return cls(**kwargs)


class BaseProvider(ABC):
    """Abstract base of every provider.

    Class attributes describe the provider to the manager and the registration form.

    Attributes:
        provider_type: Which `ProviderType` this class implements.
        default_base_url: Used when the config gives no base_url.
        env_api_key: Environment variables tried, in order, for the key.
        needs_api_key: Registration fails without a key when True.
        needs_base_url: Registration fails without a base_url when True.
        config: The provider's `ProviderConfig`.
    """

    provider_type: ClassVar[ProviderType] = ProviderType.CUSTOM
    default_base_url: ClassVar[str | None] = None
    env_api_key: ClassVar[tuple[str, ...]] = ()
    needs_api_key: ClassVar[bool] = False
    needs_base_url: ClassVar[bool] = False

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    # -- what a provider implements -------------------------------------------------

    @abstractmethod
    async def chat(
        self, messages: MessagesLike, model: str | None = None, **options: Any
    ) -> ChatResponse:
        """Send a conversation and return the whole answer."""

    async def stream_chat(
        self, messages: MessagesLike, model: str | None = None, **options: Any
    ) -> AsyncIterator[str | ChatResponse]:
        """Yield text deltas, then the final ChatResponse.

        The default calls `chat()` and yields its text as one delta, so a provider
        that cannot stream still works everywhere a stream is expected.
        """
        response = await self.chat(messages, model, **options)
        yield response.content
        yield response

    async def fetch_models(self) -> list[ModelInfo]:
        """The live model list; the default reports `config.models`."""
        return self._configured_models()

    async def close(self) -> None:
        """Release connections. Safe to call twice."""

    # -- built on the above -----------------------------------------------------------

    def stream(self, messages: MessagesLike, model: str | None = None, **options: Any) -> ChatStream:
        """An async iterator of text deltas; `.response` holds the ChatResponse at the end."""
        return ChatStream(self.stream_chat(messages, model, **options), self.name)

    async def list_models(self) -> list[ModelInfo]:
        """Models from the provider's models endpoint, or `config.models` if it fails.

        Authentication failures are raised, not hidden behind the configured list.
        """
        try:
            return await self.fetch_models()
        except (AuthenticationError, PermissionDeniedError):
            raise
        except ProviderError as exc:
            if not self.config.models:
                raise
            log.warning("%s: live model list failed (%s); using config.models", self.name, exc)
            return self._configured_models()

    async def check_health(self) -> HealthStatus:
        """Probe the provider without billing: a model list call, never a completion."""
        if not self.config.enabled:
            return HealthStatus(self.name, HealthState.DISABLED, detail="provider is disabled")
        started = time.perf_counter()
        try:
            models = await self.fetch_models()
        except ProviderError as exc:
            return HealthStatus(self.name, _health_state(exc), detail=_short(exc))
        latency = (time.perf_counter() - started) * 1000
        return HealthStatus(self.name, HealthState.OK, latency, len(models), "ok")

    async def health_check(self) -> bool:
        """True when `check_health()` reports ok (the seed's contract)."""
        return (await self.check_health()).ok

    def resolve_model(self, model: str | None) -> str:
        """The model to use: the argument, else the default model, else the first known one."""
        chosen = model or self.config.default_model or (self.config.models[0] if self.config.models else None)
        if not chosen:
            raise ConfigError(
                f"no model given and provider {self.name!r} has no default_model; "
                "pass model=... or set default_model when registering"
            )
        return chosen

    def _configured_models(self) -> list[ModelInfo]:
        return [ModelInfo(id=m, provider=self.name) for m in self.config.models]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, type={self.config.provider_type}, "
            f"base_url={self.config.base_url!r}, has_key={self.config.has_key})"
        )


def _health_state(exc: ProviderError) -> HealthState:
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        return HealthState.AUTH_FAILED
    if isinstance(exc, APITimeoutError):
        return HealthState.TIMEOUT
    if isinstance(exc, APIConnectionError):
        return HealthState.UNREACHABLE
    if isinstance(exc, RateLimitError):
        return HealthState.RATE_LIMITED
    return HealthState.ERROR


def _short(exc: ProviderError) -> str:
    return f"{type(exc).__name__}: {exc.message}"[:300]


class ChatStream:
    """Async iterator over text deltas; `response` is the final ChatResponse once exhausted.

    It also times providers that do not time themselves: TTFT is the first non-empty
    delta, latency the end of the stream, both from the first `__anext__`.
    """

    def __init__(self, events: AsyncIterator[str | ChatResponse], provider: str = "") -> None:
        self._events = events
        self._provider = provider
        self._parts: list[str] = []
        self._started: float | None = None
        self._ttft_ms: float | None = None
        self.response: ChatResponse | None = None

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> str:
        if self._started is None:
            self._started = time.perf_counter()
        while True:
            try:
                item = await self._events.__anext__()
            except StopAsyncIteration:
                self._finish(None)
                raise
            if isinstance(item, ChatResponse):
                self._finish(item)
            elif item:
                if self._ttft_ms is None:
                    self._ttft_ms = self._elapsed_ms()
                self._parts.append(item)
                return item

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(self._parts)

    async def get_response(self) -> ChatResponse:
        """Drain the stream and return the final ChatResponse."""
        async for _ in self:
            pass
        assert self.response is not None
        return self.response

    async def aclose(self) -> None:
        """Stop early and release the connection."""
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()

    def _elapsed_ms(self) -> float:
        return (time.perf_counter() - (self._started or time.perf_counter())) * 1000

    def _finish(self, response: ChatResponse | None) -> None:
        if self.response is not None and response is None:
            return
        if response is None:
            response = ChatResponse(content=self.text, model="", provider=self._provider)
        if response.ttft_ms is None:
            response.ttft_ms = self._ttft_ms
        if response.latency_ms is None:
            response.latency_ms = self._elapsed_ms()
        self.response = response
