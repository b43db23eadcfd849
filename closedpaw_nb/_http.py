"""The only module that imports httpx: client factory, timeouts and transport-error mapping.

Providers talk to `HTTPClient`, which returns fully read `HTTPResponse`s or opens a
`StreamingResponse`, and turns every httpx exception into our error tree without the
URL or headers (httpx puts the full URL, query included, into its exception text).
Its connection pool is httpcore's with the per-request bookkeeping made linear
(`_pool.py`), and it reports when each request actually left the socket, which is
where latency and TTFT are measured from.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from ._redact import install_log_filters, redact
from .errors import (
    APIConnectionError,
    APITimeoutError,
    ProviderError,
    ResponseParseError,
    StreamInterruptedError,
)

__all__ = ["HTTPClient", "HTTPResponse", "StreamingResponse", "PROBE_TIMEOUT"]

CONNECT_TIMEOUT = 5.0
PROBE_TIMEOUT = 10.0
MAX_BODY_BYTES = 10 * 1024 * 1024
# httpx keeps only 20 idle connections by default, which makes a 64-way benchmark
# reconnect constantly; keep as many alive as we allow.
POOL_LIMITS = dict(max_connections=256, max_keepalive_connections=256)
AUTH_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")

install_log_filters()


@dataclass
class HTTPResponse:
    """A fully read response."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    elapsed_ms: float

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        import json

        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class StreamingResponse:
    """An open response whose body is read chunk by chunk.

    Attributes:
        sent_at: `time.perf_counter()` when the request had been written to the socket
            (when the call began, if the transport cannot tell): the origin of TTFT
            and latency, so that time spent queued inside this process is not
            charged to the provider.
    """

    def __init__(self, response: httpx.Response, error_context: dict[str, Any], sent_at: float) -> None:
        self._response = response
        self._context = error_context
        self.status_code = response.status_code
        self.headers: Mapping[str, str] = response.headers
        self.sent_at = sent_at

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body's chunks; a broken connection raises StreamInterruptedError."""
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.TimeoutException:
            raise StreamInterruptedError("the stream stalled past the read timeout", **self._context) from None
        except httpx.HTTPError as exc:
            raise StreamInterruptedError(
                f"the connection broke mid-stream ({type(exc).__name__})", **self._context
            ) from None

    async def aread(self) -> HTTPResponse:
        """Read the rest of the body (used for error bodies)."""
        content = await _read_capped(self._response, self._context)
        return HTTPResponse(self.status_code, self.headers, content, 0.0)


class HTTPClient:
    """One provider's connection pool, with its auth headers and timeouts.

    Args:
        base_url: The API root (no trailing slash).
        headers: Default headers, auth included; never logged or put into errors.
        timeout: Read timeout in seconds for generation calls.
        provider: Provider name, attached to every error.
        transport: An httpx transport for tests (e.g. `httpx.MockTransport`).
        follow_redirects: Off by default; when on, auth headers never go to another origin.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        timeout: float,
        *,
        provider: str,
        transport: Any = None,
        follow_redirects: bool = False,
    ) -> None:
        self.provider = provider
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers),
            timeout=_timeout(timeout),
            limits=httpx.Limits(**POOL_LIMITS),
            transport=transport,
            follow_redirects=follow_redirects,
            event_hooks={"request": [self._strip_foreign_auth]},
        )
        # Compared in httpx's normalised form, as the hook sees request URLs (an explicit
        # default port or an international host name would otherwise never match).
        self._origin = _origin(self._client.base_url)
        if transport is None:
            from ._pool import use_lean_pool

            use_lean_pool(self._client)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        model: str | None = None,
    ) -> HTTPResponse:
        """Send a request and read the whole (size-capped) body; `elapsed_ms` runs from
        the moment the request was sent (see `StreamingResponse.sent_at`)."""
        context = {"provider": self.provider, "model": model}
        started = time.perf_counter()
        async with self._open(method, path, json, params, headers, timeout, context) as response:
            sent_at = _sent_at(response, started)
            content = await _read_capped(response, context)
        elapsed = (time.perf_counter() - sent_at) * 1000
        return HTTPResponse(response.status_code, response.headers, content, elapsed)

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        model: str | None = None,
    ) -> AsyncIterator[StreamingResponse]:
        """Send a request and yield the response as soon as its headers arrive."""
        context = {"provider": self.provider, "model": model}
        started = time.perf_counter()
        async with self._open(method, path, json, params, headers, None, context) as response:
            yield StreamingResponse(response, context, _sent_at(response, started))

    @asynccontextmanager
    async def _open(self, method, path, json, params, headers, timeout, context):  # type: ignore[no-untyped-def]
        request = self._client.build_request(
            method, path, json=json, params=params, headers=headers,
            timeout=_timeout(timeout) if timeout else httpx.USE_CLIENT_DEFAULT,
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, context) from None
        try:
            yield response
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    @property
    def is_closed(self) -> bool:
        return self._client.is_closed

    async def _strip_foreign_auth(self, request: httpx.Request) -> None:
        # httpx strips only Authorization on a cross-origin redirect; x-api-key and
        # x-goog-api-key would follow the redirect to whoever asked for them.
        if _origin(request.url) != self._origin:
            for name in AUTH_HEADERS:
                request.headers.pop(name, None)


def _sent_at(response: httpx.Response, started: float) -> float:
    """When the request was written (the lean pool's streams note it); else when the call began."""
    written = getattr(response.extensions.get("network_stream"), "written_at", None)
    return written if written is not None and written >= started else started


def _timeout(read: float) -> httpx.Timeout:
    return httpx.Timeout(read, connect=min(CONNECT_TIMEOUT, read))


def _origin(url: httpx.URL) -> tuple[str, bytes, int | None]:
    return url.scheme, url.raw_host, url.port


async def _read_capped(response: httpx.Response, context: dict[str, Any]) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ResponseParseError(f"response body is larger than {MAX_BODY_BYTES} bytes", **context)
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise _transport_error(exc, context) from None
    return b"".join(chunks)


def _transport_error(exc: httpx.HTTPError, context: dict[str, Any]) -> ProviderError:
    """Our error for an httpx exception, described without its URL."""
    kind = type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return APITimeoutError("timed out connecting to the provider", **context)
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"the provider did not answer in time ({kind})", **context)
    if isinstance(exc, httpx.ConnectError):
        return APIConnectionError("could not connect to the provider (connection refused or host unreachable)", **context)
    if isinstance(exc, (httpx.TooManyRedirects, httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return APIConnectionError(f"the request could not be sent ({kind})", **context)
    return APIConnectionError(f"the connection failed ({kind}: {redact(_first_line(exc))})", **context)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # httpx/httpcore messages may quote the URL; keep only a short, URL-free first line.
    line = text.splitlines()[0] if text else ""
    return "" if "://" in line else line[:120]
