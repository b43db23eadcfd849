"""`HTTPProvider`: the request/response loop every built-in provider shares.

A built-in provider module only translates at its edges: `auth_headers()`,
`chat_request()`, `parse_response()`, `parse_event()`, `parse_error()` and
`fetch_models()`. This class owns the rest: sending, timing (perf_counter; TTFT is
the first non-empty content delta), stream decoding, turning error statuses into
errors, and keeping partial text when a stream breaks.

`StreamState` carries text, counts, the finish reason, tool calls, a refusal and whether
usage was reported; `parse_event` and `parse_response` feed the *same*
`ToolCallAccumulator`, so a call is parsed identically whether it was streamed or not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..config import ProviderConfig, Secret
from ..errors import ConfigError, ProviderError, ResponseParseError, StreamInterruptedError, error_for_status
from ..tools import ToolCallAccumulator
from ..transport.client import MAX_STREAM_BYTES, PROBE_TIMEOUT, HTTPClient, HTTPResponse
from ..transport.headers import parse_retry_after
from ..transport.redact import credential_header, redact
from ..transport.streams import DEFAULT_MAX_LINE, NDJSONDecoder, SSEDecoder, SSEEvent, StreamLineTooLong
from ..types import ChatMessage, ChatResponse
from .base import BaseProvider, ChatOptions, MessagesLike, normalize_messages

__all__ = ["HTTPProvider", "StreamState", "ErrorInfo", "tool_name_for"]

FINISH_REASONS = ("stop", "length", "content_filter", "tool_calls")


@dataclass(slots=True)
class StreamState:
    """What a stream has told us so far; `parse_event` fills it in."""

    model: str
    request_id: str | None = None
    text: list[str] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    raw_finish_reason: str | None = None
    done: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    # What the tool-calling and structured-output APIs add (see `HTTPProvider.accumulator`):
    calls: ToolCallAccumulator | None = None
    refusal: str | None = None
    usage_reported: bool = False
    # A provider's own bookkeeping during a stream (never copied into the response).
    scratch: dict[str, Any] = field(default_factory=dict)


@dataclass
class ErrorInfo:
    """A provider's error body, decoded: what `parse_error` returns."""

    message: str
    error_class: type[ProviderError] | None = None
    retry_after: float | None = None


class HTTPProvider(BaseProvider):
    """Base for providers that speak JSON over HTTP.

    Args:
        config: The provider's configuration (base_url and key already resolved).

    Transport settings read from `config.settings` (all optional): `follow_redirects`
    (off; key headers never follow to another origin), `total_timeout` (seconds for one
    exchange, head to last byte; default `max(60, 2 * timeout)`), `max_stream_bytes`
    (64 MiB) and `max_stream_line_bytes` (4 MiB) for streams, `proxy` (an HTTP(S) proxy
    URL; default from HTTPS_PROXY/HTTP_PROXY/ALL_PROXY/NO_PROXY, "" for none),
    `ssl_context` (an `ssl.SSLContext`, e.g. with corporate roots) and `address_check`
    (a callable given each resolved address, returning why it is refused or None; the
    HTTP API sets it to its SSRF policy).
    """

    stream_format: ClassVar[str] = "sse"  # or "ndjson"
    accepts_idempotency_key = True
    secret_headers: ClassVar[tuple[str, ...]] = ("authorization",)

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._http_client: HTTPClient | None = None
        self._http_loop: asyncio.AbstractEventLoop | None = None

    # -- edges each provider implements ----------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        """Headers that carry the key (and any version header); Bearer by default."""
        key = self._revealed_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _revealed_key(self) -> str:
        """The key for an auth header, '' when there is none (the config holds it as a Secret)."""
        key = self.config.api_key
        return key.reveal() if isinstance(key, Secret) else key or ""

    def chat_request(
        self, messages: list[ChatMessage], model: str, options: ChatOptions, stream: bool
    ) -> tuple[str, dict[str, Any]]:
        """The path and JSON body for a chat call."""
        raise NotImplementedError

    def parse_response(self, data: Any, state: StreamState) -> None:
        """Fill `state` from a non-streamed response body."""
        raise NotImplementedError

    def parse_event(self, event: Any, state: StreamState) -> str | None:
        """Update `state` from one stream event (an SSEEvent or an NDJSON line);
        return the text delta it carried, if any; raise for an in-stream error."""
        raise NotImplementedError

    def parse_error(self, status_code: int, body: Any) -> ErrorInfo:
        """Decode an error body (JSON already parsed, or the raw text)."""
        return ErrorInfo(str(body)[:300] if body else f"HTTP {status_code}")

    def request_id_header(self) -> str:
        return "x-request-id"

    # -- the shared loop ---------------------------------------------------------------

    @property
    def http(self) -> HTTPClient:
        """The connection pool, created on first use inside the running event loop.

        Connection pools are bound to the loop that first used them, so a provider used
        from another loop (a second `asyncio.run`, a test's loop) gets a fresh pool there.
        """
        loop = asyncio.get_running_loop()
        if self._http_client is None or self._http_client.is_closed or self._http_loop is not loop:
            self._http_loop = loop
            settings = self.config.settings
            self._http_client = HTTPClient(
                self.config.base_url or self.official_base_url() or "",
                {**self._extra_headers(), **self.auth_headers()},
                self.config.timeout,
                provider=self.name,
                follow_redirects=bool(settings.get("follow_redirects", False)),
                secret_headers=(*self.secret_headers, *self._extra_secret_headers()),
                total_timeout=settings.get("total_timeout"),
                max_stream_bytes=int(settings.get("max_stream_bytes") or MAX_STREAM_BYTES),
                proxy=settings.get("proxy"),
                ssl_context=settings.get("ssl_context"),
                address_check=settings.get("address_check"),
            )
        return self._http_client

    async def chat(
        self, messages: MessagesLike, model: str | None = None, *, idempotency_key: str | None = None, **options: Any
    ) -> ChatResponse:
        msgs, model, opts = self._prepare(messages, model, options)
        path, body = self.chat_request(msgs, model, opts, stream=False)
        response = await self.http.request("POST", path, json=body, model=model, idempotency_key=idempotency_key)
        self._raise_for_status(response, model, f"POST {path}")
        state = StreamState(model, response.headers.get(self.request_id_header()))
        try:
            self.parse_response(self._json(response, model), state)
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            raise ResponseParseError(
                f"unexpected response shape ({type(exc).__name__}: {str(exc)[:80]})", provider=self.name, model=model
            ) from None
        answer = self._response(state, latency_ms=response.elapsed_ms)
        if answer.usage_source == "missing":
            await self.count_missing_usage(answer)
        return answer

    async def stream_chat(
        self, messages: MessagesLike, model: str | None = None, *, idempotency_key: str | None = None, **options: Any
    ) -> AsyncIterator[str | ChatResponse]:
        msgs, model, opts = self._prepare(messages, model, options)
        path, body = self.chat_request(msgs, model, opts, stream=True)
        state = StreamState(model)
        ttft_ms = None
        async with self.http.stream("POST", path, json=body, model=model, idempotency_key=idempotency_key) as response:
            # Timed from the moment the request left, not from when this call began: with
            # many calls starting at once, the wait for our own event loop and pool is
            # ours, not the provider's.
            started = response.sent_at
            if response.status_code >= 400:
                self._raise_for_status(await response.aread(), model, f"POST {path}")
            state.request_id = response.headers.get(self.request_id_header())
            try:
                async for delta in self._deltas(response.aiter_bytes(), state):
                    if ttft_ms is None:
                        ttft_ms = (time.perf_counter() - started) * 1000
                    yield delta
            except ProviderError as exc:
                exc.partial_text = "".join(state.text)
                exc.request_id = exc.request_id or state.request_id
                raise
            if not state.done:
                raise StreamInterruptedError(
                    "the stream ended before the provider said it was done",
                    provider=self.name,
                    model=model,
                    request_id=state.request_id,
                    partial_text="".join(state.text),
                )
        latency_ms = (time.perf_counter() - started) * 1000
        answer = self._response(state, latency_ms=latency_ms, ttft_ms=ttft_ms)
        if answer.usage_source == "missing":
            await self.count_missing_usage(answer)
        yield answer

    async def count_missing_usage(self, response: ChatResponse) -> None:
        """Fill in token counts the server did not send, if the provider can count them
        (awaited only then, after the exchange: the usual call pays nothing for it)."""

    async def close(self) -> None:
        client, self._http_client = self._http_client, None
        if client is not None and self._http_loop is asyncio.get_running_loop():
            await client.aclose()
        await super().close()

    async def _get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a JSON document with the short probe timeout (model lists, health)."""
        timeout = min(PROBE_TIMEOUT, self.config.timeout)
        response = await self.http.request("GET", path, params=params, timeout=timeout)
        self._raise_for_status(response, None, f"GET {path}")
        return self._json(response, None)

    # -- helpers -------------------------------------------------------------------------

    def _prepare(
        self, messages: MessagesLike, model: str | None, options: dict[str, Any]
    ) -> tuple[list[ChatMessage], str, ChatOptions]:
        return normalize_messages(messages), self.resolve_model(model), ChatOptions.from_kwargs(**options)

    def _extra_headers(self) -> dict[str, str]:
        extra = self.config.settings.get("extra_headers") or {}
        return {str(k): str(v) for k, v in dict(extra).items()}

    def _extra_secret_headers(self) -> list[str]:
        # A key put in extra_headers (x-api-key, api-key...) is a key header too: it must
        # not follow a redirect to another origin either.
        return [name for name in self._extra_headers() if credential_header(name)]

    async def _deltas(self, chunks: AsyncIterator[bytes], state: StreamState) -> AsyncIterator[str]:
        max_line = int(self.config.settings.get("max_stream_line_bytes") or DEFAULT_MAX_LINE)
        decoder = SSEDecoder(max_line) if self.stream_format == "sse" else NDJSONDecoder(max_line)
        try:
            async for chunk in chunks:
                for event in decoder.feed(chunk):
                    delta = self._parse_event(event, state)
                    if delta:
                        state.text.append(delta)
                        yield delta
        except StreamLineTooLong as exc:
            raise ResponseParseError(
                f"{exc} (settings['max_stream_line_bytes'])", provider=self.name, model=state.model
            ) from None
        for event in decoder.flush():
            delta = self._parse_event(event, state)
            if delta:
                state.text.append(delta)
                yield delta

    def _parse_event(self, event: SSEEvent | str, state: StreamState) -> str | None:
        try:
            return self.parse_event(event, state)
        except ProviderError as exc:
            # An error event after the 200: the answer was partly delivered, so it is
            # never retried automatically (the SDKs behave the same way).
            exc.retryable = False
            exc.provider = exc.provider or self.name
            exc.model = exc.model or state.model
            raise
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            raise ResponseParseError(
                f"unexpected stream event ({type(exc).__name__}: {str(exc)[:80]})",
                provider=self.name,
                model=state.model,
            ) from None

    def _json(self, response: HTTPResponse, model: str | None) -> Any:
        try:
            return response.json()
        except ValueError:
            snippet = response.text[:200].replace("\n", " ")
            raise ResponseParseError(
                f"expected JSON, got: {snippet!r}",
                provider=self.name,
                model=model,
                status_code=response.status_code,
            ) from None

    def _raise_for_status(self, response: HTTPResponse, model: str | None, request: str = "") -> None:
        if response.status_code < 400:
            return
        error = self.error_from_response(response, model)
        if response.status_code == 404 and request:
            error.message = redact(self._not_found_hint(error.message, request))
        raise error

    def _not_found_hint(self, message: str, request: str) -> str:
        """A 404 on a path the API certainly has: name the URL requested (never its query) and,
        when the base URL breaks the provider's convention, the likely fix."""
        method, _, path = request.partition(" ")
        base = (self.config.base_url or self.official_base_url() or "").rstrip("/")
        advice = self.base_url_advice(self.config.base_url)
        return f"{message} [requested {method} {base}{path}" + (f"; {advice}]" if advice else "]")

    def error_from_response(self, response: HTTPResponse, model: str | None) -> ProviderError:
        """The typed error for an error response, via the provider's `parse_error`."""
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:300]
        try:
            info = self.parse_error(response.status_code, body)
        except (KeyError, TypeError, IndexError, AttributeError):
            info = ErrorInfo(f"HTTP {response.status_code}: {str(body)[:200]}")
        cls = info.error_class or error_for_status(response.status_code)
        return cls(
            info.message,
            provider=self.name,
            model=model,
            status_code=response.status_code,
            request_id=response.headers.get(self.request_id_header()),
            retry_after=parse_retry_after(response.headers) or info.retry_after,
            retryable=_should_retry(response.status_code, response.headers, cls),
        )

    @staticmethod
    def accumulator(state: StreamState) -> ToolCallAccumulator:
        """The accumulator of this call's tool calls (made on first use)."""
        if state.calls is None:
            state.calls = ToolCallAccumulator()
        return state.calls

    @staticmethod
    def refused(state: StreamState, text: str) -> None:
        """Record the refusal the API reported."""
        state.refusal = text

    @staticmethod
    def usage_seen(state: StreamState) -> None:
        """Say the API reported token counts (else the response's `usage_source` is "missing")."""
        state.usage_reported = True

    def _response(self, state: StreamState, *, latency_ms: float, ttft_ms: float | None = None) -> ChatResponse:
        details = state.details  # (the state ends with this call: its dict is the response's)
        if state.raw_finish_reason is not None:
            details["raw_finish_reason"] = state.raw_finish_reason
        tokens = None
        if state.prompt_tokens is not None or state.completion_tokens is not None:
            tokens = (state.prompt_tokens or 0) + (state.completion_tokens or 0)
        finish_reason = state.finish_reason
        tool_calls = state.calls.calls() if state.calls else []
        # Gemini and Ollama have no tool-specific finish reason: the calls are the signal.
        if tool_calls and finish_reason in (None, "stop"):
            finish_reason = "tool_calls"
        # Positional: a class called with keywords gathers them into a dict first, which
        # tripled the cost of building a response (1.5 us against 0.5 us here, per call).
        return ChatResponse(
            "".join(state.text),  # content
            state.model,  # model
            self.name,  # provider
            tokens,  # tokens_used
            finish_reason,
            latency_ms,
            state.prompt_tokens,
            state.completion_tokens,
            ttft_ms,
            1,  # attempts (the guard counts them)
            state.request_id,
            details,  # provider_details
            None,  # parsed (filled by the guard)
            None,  # parse_error
            state.refusal,
            tool_calls,
            "reported" if state.usage_reported else "missing",  # usage_source
        )


def tool_name_for(message: ChatMessage, messages: list[ChatMessage]) -> str:
    """The tool name of a `role="tool"` message: its `name`, else the call it answers.

    Raises:
        ConfigError: neither says (Gemini and Ollama need the name with the result).
    """
    if message.name:
        return message.name
    for earlier in messages:
        for call in earlier.tool_calls:
            if call.id == message.tool_call_id:
                return call.name
    raise ConfigError(
        f"the tool result for call {message.tool_call_id!r} names no tool: pass name=... on the "
        "ChatMessage, or keep the assistant turn with its tool_calls before it"
    )


def _should_retry(status: int, headers: Mapping[str, str], cls: type[ProviderError]) -> bool:
    """`x-should-retry` decides when the server sends it; else 408 and the class default."""
    verdict = str(headers.get("x-should-retry", "")).lower()
    if verdict in ("true", "false"):
        return verdict == "true"
    return status == 408 or cls.retryable


def finish(state: StreamState, raw: str | None, mapping: Mapping[str, str]) -> None:
    """Record a provider's finish reason, normalised through `mapping` ("other" if unknown)."""
    if raw is None:
        return
    state.raw_finish_reason = raw
    state.finish_reason = mapping.get(raw, raw if raw in FINISH_REASONS else "other")
