"""`GuardedProvider`: retries, rate limits and deadlines wrapped around any provider.

The manager puts one around every provider it registers, so built-in and custom
providers alike get the same policy, and no provider module retries on its own.
A stream is retried only while it has not yielded any text: once the caller has seen
part of an answer, a failure is raised with the partial text instead.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from ..errors import (
    APIConnectionError,
    AuthenticationError,
    ClosedPawError,
    DeadlineExceededError,
    MissingModelError,
    ProviderError,
    ProviderImplementationError,
    QuotaExhaustedError,
)
from ..providers.base import (
    BaseProvider,
    ChatOptions,
    ChatStream,
    MessagesLike,
    as_our_error,
    call_provider,
    checked_response,
    describe_value,
    neutral_options,
    normalize_messages,
    text_only,
)
from ..structured import fill_parsed
from ..types import ChatMessage, ChatResponse, HealthStatus, ModelInfo
from .ratelimit import RateLimiter
from .retry import RetryPolicy

MODEL_LIST_TIMEOUT = 5.0  # seconds to read a provider's models for a "choose a model" message

__all__ = ["GuardedProvider"]

T = TypeVar("T")


class GuardedProvider(BaseProvider):
    """Wraps `inner` with a RetryPolicy, a RateLimiter slot per attempt and an optional deadline.

    After a 401 (bad key) or a per-day/billing quota error (`QuotaExhaustedError`) the
    provider is blocked: later calls raise the same kind of error at once, saying "not
    sent", instead of calling the provider again. Registering it again clears that; an
    exhausted quota also clears once the server's Retry-After, if it gave one, has passed.

    Args:
        inner: The provider doing the work.
        policy: Retry policy (default: from `inner.config.settings`).
        limiter: Shared limiter; this provider's limits are configured on it.
    """

    def __init__(
        self, inner: BaseProvider, policy: RetryPolicy | None = None, limiter: RateLimiter | None = None
    ) -> None:
        super().__init__(inner.config)
        self.inner = inner
        self.policy = policy or RetryPolicy.from_settings(inner.config.settings)
        self.limiter = limiter or RateLimiter()
        self._key = inner.name  # this provider's limiter key (an attribute: read on every call)
        self.limiter.configure(self._key, inner.config.rate_limit, inner.config.settings.get("tokens_per_minute"))
        # After a 401 the key is known to be bad, and after a per-day or billing quota
        # error the provider is exhausted: later calls fail at once instead of sending
        # again (re-register the provider with a new key; an exhausted quota also clears
        # when the server said when it resets).
        self.auth_failure: AuthenticationError | None = None
        self.quota_exhausted: QuotaExhaustedError | None = None
        self._exhausted_until: float | None = None

    async def missing_model(self) -> MissingModelError:
        """The error for a call that names no model when the provider has no default, in words
        for a person picking one: the provider's models, or why they could not be read."""
        try:
            async with asyncio.timeout(MODEL_LIST_TIMEOUT):
                models = [str(m) for m in await self.inner.list_models()]
        except (ClosedPawError, TimeoutError) as exc:
            why = "it did not answer in time" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            if type(exc) is APIConnectionError and self.inner.is_local:
                why = "it is not running: nothing answers at its address"
            return MissingModelError(
                f"Choose a model for {self.name}: it has no default model, "
                f"and its model list could not be read ({why})."
            )
        if not models:
            return MissingModelError(f"Choose a model for {self.name}: it has no default model and lists no models.")
        shown = ", ".join(models[:12]) + (f" and {len(models) - 12} more" if len(models) > 12 else "")
        return MissingModelError(
            f"Choose a model for {self.name}: it has no default model. Its models: {shown} "
            f'(as "{self.name}:{models[0]}").'
        )

    async def chat(self, messages: MessagesLike, model: str | None = None, **options: Any) -> ChatResponse:
        messages, options, deadline, cost = self._prepare(messages, model, options)
        try:
            if deadline is None:
                response = await self._retrying_chat(messages, model, options, cost)
            else:
                try:
                    async with asyncio.timeout(deadline):
                        response = await self._retrying_chat(messages, model, options, cost)
                except TimeoutError:
                    raise self._deadline_error(deadline, model, "") from None
        except MissingModelError:
            raise await self.missing_model() from None
        self._reconcile(cost, response)
        fmt = options.get("response_format")
        return response if fmt is None else fill_parsed(response, fmt)

    async def stream_chat(
        self, messages: MessagesLike, model: str | None = None, **options: Any
    ) -> AsyncIterator[str | ChatResponse]:
        try:
            async for item in self._stream_chat(messages, model, **options):
                yield item
        except MissingModelError:
            raise await self.missing_model() from None

    async def _stream_chat(
        self, messages: MessagesLike, model: str | None = None, **options: Any
    ) -> AsyncIterator[str | ChatResponse]:
        messages, options, deadline, cost = self._prepare(messages, model, options)
        loop = asyncio.get_running_loop()
        ends_at = None if deadline is None else loop.time() + deadline
        self._fail_fast()
        key = new_call_key()
        parts: list[str] = []
        retries = 0
        while True:
            source = None
            try:
                await self._until(ends_at, self.limiter.acquire(self._key, cost))
                source = self.inner.stream_chat(messages, model, **self._keyed(options, key))
                while True:
                    try:
                        item = await self._until(ends_at, self._next_item(source, model))
                    except StopAsyncIteration:
                        return
                    if isinstance(item, ChatResponse):
                        item.attempts = retries + 1
                        self._reconcile(cost, item)
                        fill_parsed(item, options.get("response_format"))
                    elif item:
                        parts.append(item)
                    yield item
            except ProviderError as err:
                err.attempts = retries + 1
                if parts or not await self._before_retry(err, retries):
                    raise
                retries += 1
            except TimeoutError:
                raise self._deadline_error(deadline, model, "".join(parts)) from None
            finally:
                if source is not None:
                    await source.aclose()  # type: ignore[attr-defined]  # stream_chat is an async generator

    def _prepare(
        self, messages: MessagesLike, model: str | None, options: dict[str, Any]
    ) -> tuple[list[ChatMessage], dict[str, Any], float | None, int]:
        """The one place every call passes: messages as `list[ChatMessage]`, response_format/
        tools/tool_choice as the neutral types, and what the provider cannot take refused
        before anything is sent; with them, the call's deadline and its estimated tokens
        (0 without a tokens-per-minute limit). A provider without "images" gets text-only
        part lists as strings, so one written from the guide always reads `message.content`
        as a str."""
        messages = normalize_messages(messages)
        options = dict(options)
        deadline = options.pop("deadline", None) or self.config.settings.get("deadline")
        deadline = float(deadline) if deadline else None
        cost = _estimate_tokens(messages, options) if self.limiter.limits_tokens(self._key) else 0
        if _plain(messages, options):  # the common case, per call in a sweep: nothing to check
            return messages, options, deadline, cost
        neutral = neutral_options(options)
        self.inner.check_request(
            messages, model=model, response_format=neutral.get("response_format"), tools=neutral.get("tools")
        )
        if "images" not in self.inner.model_capabilities(model):
            messages = text_only(messages)
        rest = {k: v for k, v in options.items() if k not in _STRUCTURED_OPTIONS}
        return messages, {**rest, **neutral}, deadline, cost

    def model_capabilities(self, model: str | None) -> frozenset[str]:
        return self.inner.model_capabilities(model)

    def check_request(self, messages: list[ChatMessage], **kwargs: Any) -> None:
        self.inner.check_request(messages, **kwargs)

    async def fetch_models(self) -> list[ModelInfo]:
        return await call_provider(self.inner.fetch_models(), self.name, "fetch_models")

    async def list_models(self) -> list[str]:
        return await call_provider(self.inner.list_models(), self.name, "list_models")

    async def check_health(self) -> HealthStatus:
        return await self.inner.check_health()

    async def health_check(self) -> bool:
        return await self.inner.health_check()

    @property
    def client(self) -> Any:
        return self.inner.client

    @client.setter
    def client(self, client: Any) -> None:
        self.inner.client = client

    def stream(self, messages: MessagesLike, model: str | None = None, **options: Any) -> ChatStream:
        return ChatStream(self.stream_chat(messages, model, **options), self.name)

    async def _next_item(self, source: AsyncIterator[str | ChatResponse], model: str | None) -> str | ChatResponse:
        item = await call_provider(source.__anext__(), self.name, "stream_chat", model)
        if not isinstance(item, (str, ChatResponse)):
            raise ProviderImplementationError(
                f"{type(self.inner).__name__}.stream_chat() must yield text (str) and end with a "
                f"ChatResponse, got {describe_value(item)}",
                provider=self.name,
                model=model,
            )
        return item

    def resolve_model(self, model: str | None) -> str:
        return self.inner.resolve_model(model)

    async def close(self) -> None:
        await self.inner.close()

    def _fail_fast(self) -> None:
        if self.auth_failure is not None:
            raise AuthenticationError(
                f"not sent: an earlier call was rejected ({self.auth_failure.message}); "
                "register the provider again with a valid key",
                provider=self.name,
                status_code=self.auth_failure.status_code,
                attempts=0,
            )
        if self.quota_exhausted is not None:
            if self._exhausted_until is not None and self.limiter.clock.monotonic() >= self._exhausted_until:
                self.quota_exhausted = self._exhausted_until = None
                return
            raise QuotaExhaustedError(
                f"not sent: the provider's quota is exhausted ({self.quota_exhausted.message}); "
                "wait for it to reset, or register the provider again with another key",
                provider=self.name,
                status_code=self.quota_exhausted.status_code,
                attempts=0,
                retry_after=self._remaining_exhaustion(),
            )

    async def _retrying_chat(
        self, messages: list[ChatMessage], model: str | None, options: dict[str, Any], cost: int
    ) -> ChatResponse:
        """`inner.chat` until it succeeds or the policy says stop; one idempotency key for every
        attempt. (Written out rather than through `call_provider`: this is the per-call path of
        a sweep, and each coroutine layer costs time on every resume.)"""
        self._fail_fast()
        keyed = self._keyed(options, new_call_key())
        retries = 0
        while True:
            if not self.limiter.is_free(self._key):
                await self.limiter.acquire(self._key, cost)
            try:
                response = await self.inner.chat(messages, model, **keyed)
            except Exception as exc:
                error = as_our_error(exc, self.name, "chat", model)
                if isinstance(error, ProviderError):
                    error.attempts = retries + 1
                    if await self._before_retry(error, retries):
                        retries += 1
                        continue
                if error is exc:
                    raise
                raise error  # noqa: B904  # its cause is set by as_our_error
            response = checked_response(response, self.inner, model)
            response.attempts = retries + 1
            return response

    def _keyed(self, options: dict[str, Any], key: str) -> dict[str, Any]:
        """The options with the call's idempotency key, for a provider that sends one."""
        return {**options, "idempotency_key": key} if self.inner.accepts_idempotency_key else options

    async def _before_retry(self, err: ProviderError, retries: int) -> bool:
        """Decide whether to retry; wait (or set the shared pause gate) if so."""
        if isinstance(err, AuthenticationError):
            self.auth_failure = err
        elif isinstance(err, QuotaExhaustedError):
            self.quota_exhausted = err
            self._exhausted_until = (
                None if err.retry_after is None else self.limiter.clock.monotonic() + err.retry_after
            )
        if not self.policy.should_retry(err, retries):
            return False
        delay = self.policy.delay(err, retries)
        if err.retry_after is not None and delay == err.retry_after:
            # The server's delay holds every task for this provider, not only this one;
            # the next acquire() waits it out.
            self.limiter.pause(self._key, delay)
        else:
            await self.limiter.clock.sleep(delay)
        return True

    @staticmethod
    async def _until(ends_at: float | None, awaitable: Awaitable[T]) -> T:
        if ends_at is None:
            return await awaitable
        async with asyncio.timeout_at(ends_at):
            return await awaitable

    def _deadline_error(self, deadline: float | None, model: str | None, partial: str) -> DeadlineExceededError:
        return DeadlineExceededError(
            f"the call did not finish within its {deadline:g}s deadline",
            provider=self.name,
            model=model,
            partial_text=partial or None,
        )

    def _remaining_exhaustion(self) -> float | None:
        if self._exhausted_until is None:
            return None
        return max(0.0, self._exhausted_until - self.limiter.clock.monotonic())

    def _reconcile(self, cost: int, response: ChatResponse) -> None:
        if cost and response.tokens_used is not None:
            self.limiter.reconcile(self._key, cost, response.tokens_used)

    def __repr__(self) -> str:
        return f"GuardedProvider({self.inner!r}, retries={self.policy.max_retries})"


def _estimate_tokens(messages: list[ChatMessage], options: dict[str, Any]) -> int:
    """A rough token cost for the tokens-per-minute limit (reconciled with usage later)."""
    try:
        chars = sum(len(m.text) for m in messages)
        max_tokens = ChatOptions.from_kwargs(**options).max_tokens
    except Exception:
        return 0  # the provider will report the bad input itself
    return chars // 4 + (max_tokens or 256)


_STRUCTURED_OPTIONS = frozenset({"response_format", "tools", "tool_choice"})


def _plain(messages: list[ChatMessage], options: dict[str, Any]) -> bool:
    """Text-only messages and no format or tools: every provider takes that as it is."""
    if not _STRUCTURED_OPTIONS.isdisjoint(options):
        return False
    for message in messages:  # (a loop, not all() over a generator: this runs per call)
        if type(message.content) is not str or message.role == "tool" or message.tool_calls:
            return False
    return True


class _CallKeys:
    """Idempotency keys: a random per-process prefix and a counter, so a key is unique to
    one logical call without a system call per call; a forked child draws a new prefix
    (it would otherwise repeat its parent's keys). Built by C iterators (prefix + hex of
    the count): formatting in Python was 0.4 us a call, most of what a key cost."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        prefix = os.urandom(12).hex()
        self.next: Callable[[], str] = map(prefix.__add__, map(hex, itertools.count())).__next__


_KEYS = _CallKeys()
os.register_at_fork(after_in_child=_KEYS.reseed)


def new_call_key() -> str:
    """A new idempotency key, unique to this process (and to a forked child)."""
    return _KEYS.next()
