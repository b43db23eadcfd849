"""`BaseProvider`, the contract every provider (built-in or yours) fulfils, and `ChatStream`.

Writing a provider, as the ClosedPaw guide says: subclass `BaseProvider`, implement
`chat(messages: list[ChatMessage], model=None, **kwargs) -> ChatResponse`, and speak HTTP
with `self.client` (an `httpx.AsyncClient` with `timeout=config.timeout`, closed by
`close()`). Optionally implement `list_models() -> List[str]` and `health_check() -> bool`
the seed's way, or the richer `stream_chat()` (an async generator of text deltas that
ends by yielding the final `ChatResponse`), `fetch_models()` (live `ModelInfo`s) and
`check_health()`. Everything else is built on those. Register it with
`get_provider_manager().register_provider(config, provider_class=YourClass)` and check it
with `closedpaw_nb.testing.check_provider`.

Beyond text: a provider declares `capabilities` (of "text", "images", "structured",
"tools"). Only then do its `chat()`/`stream_chat()` receive image parts in
`message.content`, `response_format=` (a `ResponseFormat`), `tools=` (a `list[Tool]`)
and `tool_choice=` (a `ToolChoice`); otherwise the guard refuses such a call with a
`ConfigError` before anything is sent (`check_request`), and text-only part lists
arrive joined into a string.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from ..config import ProviderConfig
from ..errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ClosedPawError,
    ConfigError,
    MissingModelError,
    PermissionDeniedError,
    ProviderError,
    ProviderImplementationError,
    RateLimitError,
    error_for_status,
)
from ..structured import ResponseFormat
from ..tools import Tool, ToolChoice, as_tools
from ..transport.addresses import is_loopback_host
from ..transport.redact import get_logger, redact
from ..types import ChatMessage, ChatResponse, HealthState, HealthStatus, ModelInfo, ProviderType

if TYPE_CHECKING:
    import httpx

__all__ = [
    "CAPABILITIES",
    "BaseProvider",
    "NO_OPTIONS",
    "ChatOptions",
    "ChatStream",
    "as_our_error",
    "as_provider_error",
    "call_provider",
    "neutral_options",
    "normalize_messages",
    "text_only",
]

log = get_logger("closedpaw_nb.providers")

T = TypeVar("T")

MessagesLike = str | ChatMessage | Mapping[str, Any] | Iterable[ChatMessage | Mapping[str, Any]]

CAPABILITIES = frozenset({"text", "images", "structured", "tools"})


def normalize_messages(messages: MessagesLike) -> list[ChatMessage]:
    """Accept a prompt string, one message, or a list of messages/dicts; return ChatMessages.

    A dict may carry OpenAI-style list content (`[{"type": "text", ...}, {"type":
    "image_url", ...}]`), which becomes parts, and the tool fields (`tool_call_id`,
    `name`, `tool_calls`).
    """
    if isinstance(messages, str):
        return [ChatMessage("user", messages)]
    if type(messages) is not list:  # (a list is the per-call case: no ABC checks for it)
        messages = [messages] if isinstance(messages, (ChatMessage, Mapping)) else list(messages)
    result = [m if type(m) is ChatMessage else _as_message(m) for m in messages]
    if not result:
        raise ConfigError("messages is empty: pass a prompt string or at least one message")
    return result


def _as_message(message: Any) -> ChatMessage:
    if isinstance(message, ChatMessage):
        return message
    # dict first: it is the common case, and isinstance against the Mapping ABC is slow
    if not (isinstance(message, (dict, Mapping)) and "role" in message and "content" in message):
        raise ConfigError(f"each message needs a role and content, got {message!r:.200}")
    content = message["content"]
    try:
        if len(message) == 2:  # {"role": ..., "content": ...}, the usual dict
            return ChatMessage(message["role"], "" if content is None else content)
        return ChatMessage(
            message["role"],
            "" if content is None else content,  # an assistant turn with only tool calls
            tool_call_id=message.get("tool_call_id"),
            name=message.get("name"),
            tool_calls=tuple(message.get("tool_calls") or ()),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad message {message!r:.120}: {exc}") from None


def text_only(messages: list[ChatMessage]) -> list[ChatMessage]:
    """The messages with text-only part lists joined into strings (for providers without
    "images": they read `message.content` as a str, as the seed's guide writes them)."""
    return [m if isinstance(m.content, str) or m.images else replace(m, content=m.text) for m in messages]


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
        response_format: The answer's shape (`ResponseFormat`), or None for free text.
        tools: Tools the model may call (`Tool`s; empty for none).
        tool_choice: Whether/which tool must be called (`ToolChoice`), or None (the API's default).
    """

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    response_format: ResponseFormat | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> ChatOptions:
        """Validate keyword options; an unknown name is a ConfigError listing the known ones."""
        if not kwargs:
            return NO_OPTIONS  # frozen, so one instance serves every call without options
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
        for name in ("temperature", "top_p"):
            if isinstance(kwargs.get(name), float) and not math.isfinite(kwargs[name]):
                raise ConfigError(f"{name} must be a finite number, not {kwargs[name]!r}")  # JSON has no NaN
        kwargs.update(neutral_options(kwargs))
        kwargs["tools"] = tuple(kwargs.get("tools") or ())
        return cls(**kwargs)


# What `ChatOptions.from_kwargs()` returns for a call without options (a provider may test `is`).
NO_OPTIONS = ChatOptions(extra_body=MappingProxyType({}))


def neutral_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """`response_format`, `tools` and `tool_choice` from `options`, as the neutral types
    (`ResponseFormat`, `list[Tool]`, `ToolChoice`); only those given (None and [] are dropped).

    Raises:
        ConfigError: a bad format, tool or choice, or a tool_choice without tools.
    """
    result: dict[str, Any] = {}
    if options.get("response_format") is not None:
        result["response_format"] = ResponseFormat.of(options["response_format"])
    tools = as_tools(options.get("tools"))
    if tools:
        result["tools"] = tools
    if options.get("tool_choice") is not None:
        if not tools:
            raise ConfigError("tool_choice was given without tools=[...]")
        result["tool_choice"] = ToolChoice.of(options["tool_choice"], tools)
    return result


class BaseProvider(ABC):
    """Abstract base of every provider.

    Class attributes describe the provider to the manager and the registration form.
    A subclass's `__init__`, if it has one, must call `super().__init__(config)`.

    Attributes:
        provider_type: Which `ProviderType` this class implements.
        default_base_url: Used when the config gives no base_url.
        env_api_key: Environment variables tried, in order, for the key.
        needs_api_key: Registration fails without a key when True.
        needs_base_url: Registration fails without a base_url when True.
        secret_headers: The request headers that carry the key (never sent across origins).
        accepts_idempotency_key: When True, the manager passes `idempotency_key=` (one per
            logical call, the same on each retry) to `chat()` and `stream_chat()`.
        capabilities: What the provider can take, a subset of {"text", "images",
            "structured", "tools"}; {"text"} by default, so a provider written from the
            guide only ever sees string content and no format or tool options. Declare more
            (and override `model_capabilities` when it depends on the model) to receive
            image parts, `response_format=`, `tools=` and `tool_choice=`.
        config: The provider's `ProviderConfig` (key and base_url already resolved).
        client: An `httpx.AsyncClient` for a custom provider's HTTP (see the property).
    """

    provider_type: ClassVar[ProviderType] = ProviderType.CUSTOM
    default_base_url: ClassVar[str | None] = None
    env_api_key: ClassVar[tuple[str, ...]] = ()
    needs_api_key: ClassVar[bool] = False
    needs_base_url: ClassVar[bool] = False
    accepts_idempotency_key: ClassVar[bool] = False
    secret_headers: ClassVar[tuple[str, ...]] = ()
    capabilities: ClassVar[frozenset[str]] = frozenset({"text"})

    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._httpx_client = client
        self._httpx_lazy = client is None  # ours to re-create (per event loop, after close)
        self._httpx_loop: asyncio.AbstractEventLoop | None = None

    @property
    def name(self) -> str:
        return self.config.name

    base_url_ends: ClassVar[str | None] = None
    """The path its base URL should end with ("/v1" for OpenAI-style APIs), when it has one."""
    warn_base_url: ClassVar[bool] = True
    """Registration warns about a base URL against the convention (False: only a 404 says so)."""
    base_url_never_ends: ClassVar[tuple[str, ...]] = ()
    """Path endings that belong to another SDK's convention (e.g. "/v1" for an API whose
    provider adds /v1 itself): such a base URL gets advice at registration and on a 404."""

    @classmethod
    def base_url_advice(cls, base_url: str | None) -> str | None:
        """What looks wrong with `base_url` for this API, and the likely fix; None when it
        follows the convention (or is the default)."""
        if not base_url:
            return None
        path = urlsplit(base_url).path.rstrip("/")
        official = cls.official_base_url()
        for ending in cls.base_url_never_ends:
            if path.lower().endswith(ending):
                fixed = base_url.rstrip("/")[: -len(ending)] or base_url
                example = f" (the official one is {official})" if official and official != fixed else ""
                return f"the base URL ends in {ending}, but this provider adds the API's path: try {fixed}{example}"
        if cls.base_url_ends and not path.endswith(cls.base_url_ends):
            fixed = base_url.rstrip("/") + cls.base_url_ends
            return f"base URLs of this API usually end in {cls.base_url_ends}: try {fixed}"
        return None

    @classmethod
    def official_base_url(cls) -> str | None:
        """The endpoint a config without base_url uses (None: the config must give one)."""
        return cls.default_base_url

    @property
    def simulated(self) -> bool:
        """Whether answers come from closedpaw_nb's simulator (`settings["simulated"]`), not a model."""
        return bool(self.config.settings.get("simulated"))

    @property
    def is_local(self) -> bool:
        """Whether the config points at this machine (a loopback address): its calls cost nothing."""
        return is_loopback_host(urlsplit(self.config.base_url or "").hostname)

    @property
    def client(self) -> httpx.AsyncClient:
        """The `httpx.AsyncClient` custom providers speak HTTP with (the ClosedPaw guide's).

        Created on first use, with `timeout=config.timeout`, so registering opens nothing;
        inside the runner's event loop, where every call runs. httpx pools belong to the
        loop that first used them, so a provider used from another event loop gets a
        fresh client there. A client you pass (`super().__init__(config, client=...)`) or
        assign (`self.client = httpx.AsyncClient(...)`) is used as it is. `close()`
        closes it. Key headers you set on it are not shown in its repr, and httpx's log
        lines pass through the same secret filter as ours.
        """
        state = self.__dict__
        client = state.get("_httpx_client")
        if client is None or (state.get("_httpx_lazy", True) and self._client_is_stale(client)):
            from ..transport.httpx_glue import new_async_client

            client = new_async_client(self.config.timeout)
            self._httpx_client, self._httpx_lazy, self._httpx_loop = client, True, _running_loop()
        return client

    @client.setter
    def client(self, client: httpx.AsyncClient) -> None:
        self._httpx_client, self._httpx_lazy = client, False

    def _client_is_stale(self, client: httpx.AsyncClient) -> bool:
        loop = _running_loop()
        if client.is_closed:
            return True
        made_in = self.__dict__.get("_httpx_loop")
        return made_in is not None and loop is not None and made_in is not loop

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup failed: explain the one mistake the guide's
        # step 1 invites, instead of a bare AttributeError on `config`.
        if name == "config":
            raise AttributeError(
                f"{type(self).__name__} has no config: its __init__ must call super().__init__(config)"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- what a provider implements -------------------------------------------------

    @abstractmethod
    async def chat(self, messages: list[ChatMessage], model: str | None = None, **kwargs: Any) -> ChatResponse:
        """Send a conversation and return the whole answer.

        Args:
            messages: The conversation; always a `list[ChatMessage]` when called through
                the manager, the notebook helpers, the widgets or the HTTP API.
            model: The model asked for, or None for the provider's default.
            **kwargs: Options (temperature, top_p, max_tokens, stop, seed, extra_body).
        """

    async def stream_chat(
        self, messages: list[ChatMessage], model: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str | ChatResponse]:
        """Yield text deltas, then the final ChatResponse.

        The default calls `chat()` and yields its text as one delta, so a provider
        that cannot stream still works everywhere a stream is expected; its first text
        arrives with the whole answer, so its TTFT is its latency.
        """
        response = checked_response(await self.chat(messages, model, **kwargs), self, model)
        if response.ttft_ms is None:
            response.ttft_ms = response.latency_ms
        yield response.content
        yield response

    async def fetch_models(self) -> list[ModelInfo]:
        """The live model list.

        The default reports what an overridden `list_models()` returns (the seed's way
        of listing models), else `config.models`.
        """
        if _overrides(self, "list_models"):
            return await self.list_model_info()
        return self._configured_models()

    async def close(self) -> None:
        """Close the HTTP client (`self.client`), if one was made. Safe to call twice."""
        client = self.__dict__.get("_httpx_client")
        if client is not None and not client.is_closed:
            await client.aclose()

    def model_capabilities(self, model: str | None) -> frozenset[str]:
        """What `model` can take (default: the class's `capabilities`, whatever the model)."""
        return self.capabilities

    def check_request(
        self,
        messages: list[ChatMessage],
        *,
        model: str | None = None,
        response_format: Any = None,
        tools: Any = None,
    ) -> None:
        """Refuse, before anything is sent, what this provider or model cannot take.

        Raises:
            ConfigError: a message has images, or a format or tools were asked for, and
                `model_capabilities(model)` does not include "images", "structured" or "tools".
        """
        has = self.model_capabilities(model)
        needs = {
            "images": any(m.images for m in messages),
            "structured": response_format is not None,
            "tools": bool(tools) or any(m.role == "tool" or m.tool_calls for m in messages),
        }
        missing = sorted(name for name, needed in needs.items() if needed and name not in has)
        if missing:
            what = f"{type(self).__name__} {self.name!r}" + (f" (model {model!r})" if model else "")
            raise ConfigError(
                f"not sent: {what} does not support {' or '.join(missing)}; it supports "
                f"{', '.join(sorted(has))}. A custom provider declares more with "
                f"capabilities = frozenset({sorted(has | set(missing))!r})"
            )

    # -- built on the above -----------------------------------------------------------

    def stream(self, messages: list[ChatMessage], model: str | None = None, **kwargs: Any) -> ChatStream:
        """An async iterator of text deltas; `.response` holds the ChatResponse at the end."""
        return ChatStream(self.stream_chat(messages, model, **kwargs), self.name)

    async def list_models(self) -> list[str]:
        """Model ids: live from the provider's models endpoint, or `config.models` if that fails.

        The seed's `List[str]`: each item is a `ModelInfo`, a str whose value is the id
        and which carries the details too. A provider may override this and return plain
        strings; `list_model_info()` is the form with details for either kind.
        Authentication failures are raised, not hidden behind the configured list.
        """
        try:
            return list(await self.fetch_models())
        except (AuthenticationError, PermissionDeniedError):
            raise
        except ProviderError as exc:
            if not self.config.models:
                raise
            log.warning("%s: live model list failed (%s); using config.models", self.name, exc)
            return list(self._configured_models())

    async def list_model_info(self) -> list[ModelInfo]:
        """`list_models()` as ModelInfo objects, whatever kind of str the provider returned.

        Raises:
            ProviderImplementationError: `list_models()` did not return a list of strings.
        """
        found = await call_provider(self.list_models(), self.name, "list_models")
        if not isinstance(found, (list, tuple)) or not all(isinstance(m, str) and m for m in found):
            raise ProviderImplementationError(
                f"{type(self).__name__}.list_models() must return a list of model ids (List[str]), "
                f"got {describe_value(found)}",
                provider=self.name,
            )
        return [ModelInfo.of(m, self.name) for m in found]

    async def check_health(self) -> HealthStatus:
        """Probe the provider without billing.

        Calls an overridden `health_check()` (the seed's contract: True when healthy),
        else lists the models (a models endpoint, never a completion).
        """
        if not self.config.enabled:
            return HealthStatus(self.name, HealthState.DISABLED, detail="provider is disabled")
        started = time.perf_counter()
        seed_style = _overrides(self, "health_check") and not _IN_HEALTH_CHECK.get()
        try:
            if seed_style:
                return await self._check_with_health_check(started)
            models = await self.fetch_models()
        except Exception as exc:
            error = as_provider_error(exc, self.name, "health_check" if seed_style else "fetch_models")
            state = _health_state(error)
            if state is HealthState.UNREACHABLE and self.is_local and type(error) is APIConnectionError:
                # No URL here (health details never carry one): the provider table names it.
                return HealthStatus(
                    self.name, HealthState.NOT_RUNNING, detail="nothing answers: is the server started?"
                )
            return HealthStatus(self.name, state, detail=_short(error))
        latency = (time.perf_counter() - started) * 1000
        return HealthStatus(self.name, HealthState.OK, latency, len(models), "ok")

    async def _check_with_health_check(self, started: float) -> HealthStatus:
        token = _IN_HEALTH_CHECK.set(True)  # a health_check() that calls super() gets the default probe
        try:
            healthy = await self.health_check()
        finally:
            _IN_HEALTH_CHECK.reset(token)
        latency = (time.perf_counter() - started) * 1000
        if healthy is True:
            return HealthStatus(self.name, HealthState.OK, latency, detail="ok (health_check)")
        if healthy is False:
            return HealthStatus(self.name, HealthState.ERROR, latency, detail="health_check() returned False")
        raise ProviderImplementationError(
            f"{type(self).__name__}.health_check() must return True or False, got {describe_value(healthy)}",
            provider=self.name,
        )

    async def health_check(self) -> bool:
        """True when the provider is healthy (the seed's contract); by default `check_health().ok`."""
        return (await self.check_health()).ok

    def resolve_model(self, model: str | None) -> str:
        """The model to use: the argument, else the default model, else the first known one."""
        chosen = model or self.config.default_model or (self.config.models[0] if self.config.models else None)
        if not chosen:
            raise MissingModelError(
                f"no model given and provider {self.name!r} has no default_model; "
                "pass model=... or set default_model when registering"
            )
        return chosen

    def _configured_models(self) -> list[ModelInfo]:
        return [ModelInfo(id=m, provider=self.name) for m in self.config.models]

    def __repr__(self) -> str:
        config = self.__dict__.get("config")
        if config is None:
            return f"{type(self).__name__}(<no config: __init__ did not call super().__init__(config)>)"
        return (
            f"{type(self).__name__}(name={config.name!r}, type={config.provider_type}, "
            f"base_url={config.base_url!r}, has_key={config.has_key})"
        )


_IN_HEALTH_CHECK: ContextVar[bool] = ContextVar("closedpaw_in_health_check", default=False)


def _overrides(provider: BaseProvider, method: str) -> bool:
    """Whether `provider`'s class replaces BaseProvider's `method` (the seed-style extension points)."""
    return getattr(type(provider), method) is not getattr(BaseProvider, method)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def checked_response(value: Any, provider: BaseProvider, model: str | None) -> ChatResponse:
    """`value` if it is a ChatResponse, else the error that tells the author what chat() must return."""
    if not isinstance(value, ChatResponse):
        raise ProviderImplementationError(
            f"{type(provider).__name__}.chat() must return a ChatResponse, got {describe_value(value)}; "
            "return ChatResponse(content=..., model=..., provider=self.name, latency_ms=...)",
            provider=provider.name,
            model=model,
        )
    return value


def describe_value(value: Any) -> str:
    """A short `type repr` of a value a provider returned, for error messages."""
    text = repr(value)
    return f"{type(value).__name__} {text[:80]}{'...' if len(text) > 80 else ''}"


def as_provider_error(exc: BaseException, provider: str, method: str, model: str | None = None) -> ProviderError:
    """`exc`, raised inside a provider's `method`, as an error of our tree.

    Errors of the tree pass as they are; httpx's (a custom provider's `self.client`,
    `response.raise_for_status()`) map like a built-in provider's; anything else is a
    `ProviderImplementationError` that says what to change, with `exc` as its cause.
    """
    if isinstance(exc, ProviderError):
        return exc
    from ..transport.httpx_glue import map_httpx_error

    mapped = map_httpx_error(exc, {"provider": provider, "model": model})
    if mapped is not None:
        return mapped
    if isinstance(exc, TimeoutError):
        return APITimeoutError(f"{method}() timed out", provider=provider, model=model)
    text = redact(str(exc))[:200]
    status = _STATUS_IN_TEXT.search(text)
    hint = (
        f" It looks like HTTP {status.group(1)}: call response.raise_for_status() (httpx), or raise "
        f"closedpaw_nb.errors.{error_for_status(int(status.group(1))).__name__}, so that the status is "
        "known, retried when it should be, and shown in benchmark rows."
        if status
        else " Raise an error from closedpaw_nb.errors (ProviderError or a subclass), or let httpx's "
        "errors (response.raise_for_status()) propagate; they are mapped for you."
    )
    error = ProviderImplementationError(
        f"{method}() raised {type(exc).__name__}: {text}.{hint}", provider=provider, model=model
    )
    error.__cause__ = exc
    return error


async def call_provider(awaitable: Awaitable[T], provider: str, method: str, model: str | None = None) -> T:
    """Await a call into a provider's own code; exceptions from outside our tree become ours
    (see `as_our_error`)."""
    try:
        return await awaitable
    except StopAsyncIteration:
        raise
    except Exception as exc:
        error = as_our_error(exc, provider, method, model)
        if error is exc:
            raise
        raise error  # noqa: B904  # its cause is set by as_our_error


def as_our_error(exc: Exception, provider: str, method: str, model: str | None = None) -> Exception:
    """`exc` if it is one of ours, else the error of our tree to raise in its place.

    httpx's errors carry the URL in their text, so their mapping is raised without a cause;
    a provider bug keeps its own exception as the cause, which is what its author needs.
    """
    if isinstance(exc, ClosedPawError):
        return exc
    error = as_provider_error(exc, provider, method, model)
    error.__cause__ = exc if isinstance(error, ProviderImplementationError) else None
    error.__suppress_context__ = True
    return error


_STATUS_IN_TEXT = re.compile(r"\b([45]\d\d)\b")


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
