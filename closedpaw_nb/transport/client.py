"""The only module that imports httpx: the HTTP client, timeouts and transport-error mapping.

Providers talk to `HTTPClient`, which returns fully read `HTTPResponse`s or opens a
`StreamingResponse`, and turns every transport failure into our error tree without the
URL or headers (httpx puts the full URL, query included, into its exception text).

It has two backends behind one interface:

- `_PoolBackend` (the default): HTTP/1.1 straight to the provider over our connection
  pool (`pool.py`, asyncio + httptools). A benchmark sweep is CPU-bound on one event loop,
  and every microsecond of client work per call turns into queueing delay that would
  be charged to the provider; this path costs a fraction of httpx's (goal G3 in
  benchmarks/). It notes when each request left for the socket, where latency and
  TTFT are measured from.
- `_HttpxBackend`: httpx's client, for everything the plain path does not do: a
  custom transport (tests' `httpx.MockTransport`), an HTTP proxy from the environment
  (HTTPS_PROXY, ALL_PROXY, ...), or `follow_redirects` (auth headers never go to
  another origin).
"""

from __future__ import annotations

import functools
import json as jsonlib
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigError,
    ProviderError,
    ResponseParseError,
    StreamInterruptedError,
    error_for_status,
)
from .headers import parse_retry_after
from .redact import install_log_filters, redact

if TYPE_CHECKING:
    import httpx

__all__ = ["HTTPClient", "HTTPResponse", "PROBE_TIMEOUT", "StreamingResponse", "map_httpx_error", "new_async_client"]

CONNECT_TIMEOUT = 5.0
PROBE_TIMEOUT = 10.0
MAX_BODY_BYTES = 10 * 1024 * 1024
# httpx keeps only 20 idle connections by default, which makes a 64-way benchmark
# reconnect constantly; keep as many alive as we allow.
POOL_LIMITS = dict(max_connections=256, max_keepalive_connections=256)

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
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class _Exchange(Protocol):
    """A response whose headers are in, as either backend hands it over."""

    # Read-only, so that each backend's own (narrower) types fit.
    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def sent_at(self) -> float | None: ...

    def aiter_raw(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class StreamingResponse:
    """An open response whose body is read chunk by chunk.

    Attributes:
        sent_at: `time.perf_counter()` when the request had been written to the socket
            (when the call began, if the transport cannot tell): the origin of TTFT
            and latency, so that time spent queued inside this process is not
            charged to the provider.
    """

    def __init__(self, exchange: _Exchange, error_context: dict[str, Any], sent_at: float) -> None:
        self._exchange = exchange
        self._context = error_context
        self.status_code = exchange.status_code
        self.headers: Mapping[str, str] = exchange.headers
        self.sent_at = sent_at

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body's chunks; a broken connection raises StreamInterruptedError."""
        try:
            async for chunk in self._exchange.aiter_raw():
                yield chunk
        except APITimeoutError:
            raise StreamInterruptedError("the stream stalled past the read timeout", **self._context) from None
        except APIConnectionError as exc:
            raise StreamInterruptedError(f"the connection broke mid-stream ({exc.message})", **self._context) from None

    async def aread(self) -> HTTPResponse:
        """Read the rest of the body (used for error bodies)."""
        content = await _read_capped(self._exchange, self._context)
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
        secret_headers: The headers that carry a key (the provider says which); with
            `follow_redirects` they are dropped on a redirect to another origin.
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
        secret_headers: Iterable[str] = ("authorization",),
    ) -> None:
        import httpx  # here, not at the top: `import closedpaw_nb` stays quick

        self.provider = provider
        self._timeouts = _timeouts(timeout)
        url = httpx.URL(base_url)
        plain = transport is None and not follow_redirects and url.scheme in ("http", "https") and not _proxied(url)
        self._backend: _PoolBackend | _HttpxBackend = (
            _PoolBackend(url, headers)
            if plain
            else _HttpxBackend(url, headers, self._timeouts, transport, follow_redirects, secret_headers)
        )

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
        async with self.stream(
            method, path, json=json, params=params, headers=headers, timeout=timeout, model=model
        ) as response:
            content = (await response.aread()).content
        elapsed = (time.perf_counter() - response.sent_at) * 1000
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
        timeout: float | None = None,
        model: str | None = None,
    ) -> AsyncIterator[StreamingResponse]:
        """Send a request and yield the response as soon as its headers arrive."""
        context = {"provider": self.provider, "model": model}
        body = None if json is None else _encode_json(json)
        timeouts = _timeouts(timeout) if timeout else self._timeouts
        started = time.perf_counter()
        exchange = await self._backend.open(method, path, body, params, headers or {}, timeouts, context)
        sent_at = exchange.sent_at
        try:
            yield StreamingResponse(
                exchange, context, sent_at if sent_at is not None and sent_at >= started else started
            )
        finally:
            await exchange.aclose()

    async def aclose(self) -> None:
        await self._backend.aclose()

    @property
    def is_closed(self) -> bool:
        return self._backend.is_closed


# -- the plain backend: our pool -------------------------------------------------------------


class _PoolBackend:
    """HTTP/1.1 straight to the provider over `_pool.ConnectionPool`."""

    def __init__(self, base_url: httpx.URL, headers: Mapping[str, str]) -> None:
        from .._version import __version__
        from . import pool as _pool

        self._pool_errors = _pool.PoolError
        self._pool = _pool.ConnectionPool(**POOL_LIMITS, ssl_context=_ssl_context)
        self._origin = (
            base_url.scheme,
            base_url.raw_host.decode("ascii"),
            base_url.port or (443 if base_url.scheme == "https" else 80),
        )
        self._base_url = base_url
        defaults = {
            "host": base_url.netloc.decode("ascii"),
            "user-agent": f"closedpaw_nb/{__version__}",
            "accept": "*/*",
            "accept-encoding": "identity",  # no gzip: bodies arrive as sent
            **{name.lower(): value for name, value in headers.items()},
        }
        try:
            self._default_headers = _encode_headers(defaults)  # encoded once, sent with every call
        except ValueError as exc:
            raise ConfigError(f"{exc}; check the API key or extra_headers for pasted-in characters") from None
        self._targets: dict[str, bytes] = {}
        self.is_closed = False

    async def open(
        self,
        method: str,
        path: str,
        body: bytes | None,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        timeouts: Mapping[str, float],
        context: dict[str, Any],
    ) -> _Exchange:
        if self.is_closed:
            raise APIConnectionError("the client was closed", **context)
        try:
            extra = {name.lower(): value for name, value in headers.items()}
            if body is not None:
                extra.setdefault("content-type", "application/json")
                extra["content-length"] = str(len(body))
            encoded = _encode_headers(extra)
            replaced = {name for name, _ in encoded}
            request_headers = [h for h in self._default_headers if h[0] not in replaced] + encoded
        except ValueError as exc:
            raise APIConnectionError(f"{exc}; fix the header", **context) from None
        try:
            head = await self._pool.request(
                method.encode("ascii"), self._origin, self._target(path, params), request_headers, body or b"", timeouts
            )
        except self._pool_errors as exc:
            raise _pool_error(exc, context) from None
        return _PoolExchange(head, self._pool_errors, context)

    def _target(self, path: str, params: Mapping[str, Any] | None) -> bytes:
        """The request target (path and query) for `path` under the base URL."""
        if params:
            return self._join(path, params).raw_path
        target = self._targets.get(path)
        if target is None:
            target = self._targets[path] = self._join(path, None).raw_path
        return target

    def _join(self, path: str, params: Mapping[str, Any] | None) -> httpx.URL:
        # The path goes under the base URL's path; a query on the base URL (Azure's
        # ?api-version=...) is kept, then the path's own, then `params`.
        import httpx

        base = self._base_url
        relative = httpx.URL(path)
        url = base.copy_with(raw_path=base.raw_path.split(b"?")[0].rstrip(b"/") + b"/" + relative.raw_path.lstrip(b"/"))
        for extra in (base.params if base.query else None, params):
            if extra:
                url = url.copy_merge_params(extra)
        return url

    async def aclose(self) -> None:
        self.is_closed = True
        await self._pool.aclose()


class _PoolExchange:
    def __init__(self, head: Any, errors: type[Exception], context: dict[str, Any]) -> None:
        import httpx

        self.status_code = head.status_code
        self.headers = httpx.Headers(head.headers)
        self.sent_at = head.sent_at
        self._body = head.body
        self._errors = errors
        self._context = context

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._body:
                yield chunk
        except self._errors as exc:
            raise _pool_error(exc, self._context) from None

    async def aclose(self) -> None:
        await self._body.aclose()


def _pool_error(exc: Exception, context: dict[str, Any]) -> ProviderError:
    """Our error for one of `_pool`'s (its messages never name the host)."""
    from . import pool as _pool

    if isinstance(exc, _pool.ConnectTimedOut):
        return APITimeoutError("timed out connecting to the provider", **context)
    if isinstance(exc, (_pool.ReadTimedOut, _pool.WriteTimedOut, _pool.PoolTimedOut)):
        return APITimeoutError(f"the provider did not answer in time ({exc})", **context)
    if isinstance(exc, _pool.ConnectFailed):
        return APIConnectionError(f"could not connect to the provider ({exc})", **context)
    return APIConnectionError(f"the connection failed ({type(exc).__name__}: {exc})", **context)


@functools.cache
def _ssl_context() -> Any:
    """httpx's default TLS context (certifi roots, SSL_CERT_FILE/DIR honoured), built once."""
    import httpx

    return httpx.create_ssl_context()


def _proxied(url: httpx.URL) -> bool:
    """Whether the environment routes `url` through a proxy (then httpx does the talking)."""
    proxies = urllib.request.getproxies()
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(url.host)


# -- the httpx backend -----------------------------------------------------------------------


class _HttpxBackend:
    """httpx's client: custom transports, environment proxies and redirects."""

    def __init__(
        self,
        base_url: httpx.URL,
        headers: Mapping[str, str],
        timeouts: Mapping[str, float],
        transport: Any,
        follow_redirects: bool,
        secret_headers: Iterable[str],
    ) -> None:
        import httpx

        self._secret_headers = {"authorization", *(name.lower() for name in secret_headers)}
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers),
            timeout=httpx.Timeout(**timeouts),
            limits=httpx.Limits(**POOL_LIMITS),
            transport=transport,
            follow_redirects=follow_redirects,
            event_hooks={"request": [self._strip_foreign_auth]},
        )
        # Compared in httpx's normalised form, as the hook sees request URLs (an explicit
        # default port or an international host name would otherwise never match).
        self._origin = _origin(self._client.base_url)

    async def open(
        self,
        method: str,
        path: str,
        body: bytes | None,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        timeouts: Mapping[str, float],
        context: dict[str, Any],
    ) -> _Exchange:
        import httpx

        content_type = {"content-type": "application/json"} if body is not None else {}
        request = self._client.build_request(
            method,
            path,
            content=body,
            params=params,
            headers={**content_type, **headers},
            timeout=httpx.Timeout(**timeouts),
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, context) from None
        return _HttpxExchange(response, context)

    async def aclose(self) -> None:
        await self._client.aclose()

    @property
    def is_closed(self) -> bool:
        return self._client.is_closed

    async def _strip_foreign_auth(self, request: httpx.Request) -> None:
        # httpx strips only Authorization on a cross-origin redirect; a provider's own key
        # header (x-api-key, x-goog-api-key...) would follow it to whoever asked for it.
        if _origin(request.url) != self._origin:
            for name in self._secret_headers:
                request.headers.pop(name, None)


class _HttpxExchange:
    sent_at = None  # httpx does not say when the request left

    def __init__(self, response: httpx.Response, context: dict[str, Any]) -> None:
        self._response = response
        self._context = context
        self.status_code = response.status_code
        self.headers = response.headers

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        import httpx

        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self._context) from None

    async def aclose(self) -> None:
        await self._response.aclose()


def new_async_client(timeout: float) -> httpx.AsyncClient:
    """The `httpx.AsyncClient` a custom provider gets as `BaseProvider.client` (the ClosedPaw
    guide's client): `timeout` seconds for each of connect, read, write and pool."""
    import httpx

    return httpx.AsyncClient(timeout=timeout)


def map_httpx_error(exc: BaseException, context: dict[str, Any]) -> ProviderError | None:
    """Our error for an exception httpx raised inside a custom provider, or None if it is not httpx's.

    `response.raise_for_status()` becomes the status's class (404 -> NotFoundError, 429 ->
    RateLimitError with the server's Retry-After...), so a custom provider's failures are
    retried and reported like a built-in's. Nothing of the URL is kept.
    """
    httpx = sys.modules.get("httpx")  # not loaded: the exception cannot be one of its
    if httpx is None or not isinstance(exc, httpx.HTTPError):
        return None
    if not isinstance(exc, httpx.HTTPStatusError):
        return _transport_error(exc, context)

    response = exc.response
    status = response.status_code
    return error_for_status(status)(
        f"HTTP {status} {response.reason_phrase}: {_body_excerpt(response)}".rstrip(": "),
        status_code=status,
        retry_after=parse_retry_after(response.headers),
        **context,
    )


def _body_excerpt(response: httpx.Response) -> str:
    try:
        return redact(response.text[:300])
    except Exception:  # a streamed body that was never read has no text to show
        return ""


def _origin(url: httpx.URL) -> tuple[str, bytes, int | None]:
    return url.scheme, url.raw_host, url.port


def _transport_error(exc: httpx.HTTPError, context: dict[str, Any]) -> ProviderError:
    """Our error for an httpx exception, described without its URL."""
    import httpx

    kind = type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return APITimeoutError("timed out connecting to the provider", **context)
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"the provider did not answer in time ({kind})", **context)
    if isinstance(exc, httpx.ConnectError):
        return APIConnectionError(
            "could not connect to the provider (connection refused or host unreachable)", **context
        )
    if isinstance(exc, (httpx.TooManyRedirects, httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return APIConnectionError(f"the request could not be sent ({kind})", **context)
    return APIConnectionError(f"the connection failed ({kind}: {redact(_first_line(exc))})", **context)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # httpx/httpcore messages may quote the URL; keep only a short, URL-free first line.
    line = text.splitlines()[0] if text else ""
    return "" if "://" in line else line[:120]


# -- shared ------------------------------------------------------------------------------------


def _timeouts(read: float) -> dict[str, float]:
    """httpx's four timeouts for a read timeout: connecting is capped at CONNECT_TIMEOUT."""
    return {"connect": min(CONNECT_TIMEOUT, read), "read": read, "write": read, "pool": read}


def _encode_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers as HTTP/1.1 bytes; ValueError names (never shows) a value HTTP cannot carry."""
    try:
        return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    except UnicodeEncodeError:
        bad = next(name for name, value in headers.items() if not _latin1(name) or not _latin1(value))
        raise ValueError(f"header {bad[:40]!r} has characters HTTP cannot carry (not Latin-1)") from None


def _latin1(text: str) -> bool:
    return all(ord(char) < 256 for char in text)


def _encode_json(value: Any) -> bytes:
    # As httpx encodes `json=`: compact, UTF-8, and NaN refused (it is not JSON).
    return jsonlib.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


async def _read_capped(exchange: _Exchange, context: dict[str, Any]) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in exchange.aiter_raw():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ResponseParseError(f"response body is larger than {MAX_BODY_BYTES} bytes", **context)
        chunks.append(chunk)
    return b"".join(chunks)
