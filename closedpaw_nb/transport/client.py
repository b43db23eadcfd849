"""The only module that imports aiohttp: the built-in providers' HTTP client.

Providers talk to `HTTPClient`, which returns fully read `HTTPResponse`s or opens a
`StreamingResponse`, and turns every transport failure into our error tree without the
URL or headers. Under it is one `aiohttp.ClientSession` per client (asyncio protocol +
llhttp: a fraction of httpx's CPU per call, which matters because a benchmark sweep is
CPU-bound on one event loop and client work turns into queueing delay charged to the
provider; see benchmarks/ G1-G3).

What this layer adds on top of aiohttp, and why:

- limits on everything a server controls: the response header section (count and bytes),
  the body (`MAX_BODY_BYTES`), a stream (`max_stream_bytes`), read-idle time (`timeout`)
  and total time per exchange (`total_timeout`);
- timing from when the request was written (`_TimedRequest`), the origin of latency/TTFT;
- redirects only when asked, and then no key header goes to another origin;
- proxies from the environment (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY) or given
  per provider; TLS with the system roots plus certifi's, honouring SSL_CERT_FILE/DIR;
- `address_check`: each address a host name resolves to is checked when connecting
  (the HTTP API's SSRF policy), so a DNS answer that changes after registration is
  caught; aiohttp connects to the checked addresses, with no second lookup.
"""

from __future__ import annotations

import asyncio
import functools
import io
import ipaddress
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, AbstractStreamWriter, ResolveResult
from aiohttp.client_proto import ResponseHandler
from aiohttp.connector import Connection
from multidict import CIMultiDict
from yarl import URL

from ..errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigError,
    ProviderError,
    ResponseParseError,
    StreamInterruptedError,
)
from .headers import check_request_headers
from .message import (
    CONNECT_TIMEOUT,
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    MAX_HEADER_FIELDS,
    MAX_REDIRECTS,
    MAX_STREAM_BYTES,
    POOL_LIMIT,
    PROBE_TIMEOUT,
    HTTPResponse,
    default_total_timeout,
    encode_json,
    joined_url,
)
from .network import default_ssl_context, env_proxy
from .redact import install_log_filters, redact

__all__ = [
    "CONNECT_TIMEOUT",
    "MAX_STREAM_BYTES",
    "POOL_LIMIT",
    "PROBE_TIMEOUT",
    "HTTPClient",
    "HTTPResponse",
    "StreamingResponse",
    "map_aiohttp_error",
]

AddressCheck = Callable[[str], "str | None"]

install_log_filters()


class _Sent:
    """When the request's last bytes went to the socket (set by `_TimedRequest`)."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at: float | None = None


# An idle connection is reused for at most this long. Servers close idle keep-alive
# connections after their own timeout (uvicorn and Node 5 s, gunicorn 2 s); a POST sent on one
# the server is closing fails, and aiohttp retries only idempotent methods. aiohttp's default
# (15 s) met that race in the test suite; httpx and the former pool used 5 s.
KEEPALIVE_SECONDS = 4.0
_LARGE_BODY = 1024 * 1024  # a body larger than this is streamed (aiohttp warns about one bytes write)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TOKEN_VALUE = re.compile(r"[\x21-\x7e]{1,255}")


class _TimedRequest(aiohttp.ClientRequest):
    """aiohttp's request, noting when its body was written: the origin of latency and TTFT.

    aiohttp's TraceConfig reports the same moment, but its per-request tracing cost ~30 us
    of CPU per call here, a fifth of a whole exchange (benchmarks G1/G2); this override
    costs about 2% of a raw aiohttp call. A request without a body (a model list, a health
    probe: nothing is timed) is timed from when it was started.

    The moment goes to the response through a `_Sent` both hold (`response._sent`): the body
    may be written after `send()` returns (in aiohttp's writer task) or before (eagerly), and
    a holder links them without a reference cycle or a context variable, each of which cost
    extra garbage collections at 64 calls in flight.
    """

    _sent: _Sent

    async def send(self, conn: Connection) -> aiohttp.ClientResponse:
        self._sent = sent = _Sent()
        response = await super().send(conn)
        response._sent = sent  # type: ignore[attr-defined]  # read by HTTPClient._open
        return response

    async def write_bytes(
        self, writer: AbstractStreamWriter, conn: Connection, content_length: int | None = None
    ) -> None:
        await super().write_bytes(writer, conn, content_length)
        self._sent.at = time.perf_counter()


class StreamingResponse:
    """An open response whose body is read chunk by chunk.

    Attributes:
        sent_at: `time.perf_counter()` when the request had been written to the socket:
            the origin of TTFT and latency, so that time spent queued inside this
            process is not charged to the provider.
    """

    def __init__(
        self, response: aiohttp.ClientResponse, context: dict[str, Any], sent_at: float, max_bytes: int
    ) -> None:
        self._response = response
        self._context = context
        self._max_bytes = max_bytes
        self.status_code = response.status
        self.headers: Mapping[str, str] = response.headers
        self.sent_at = sent_at

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body's chunks; a broken connection raises StreamInterruptedError."""
        size = 0
        try:
            async for chunk in self._response.content.iter_any():
                size += len(chunk)
                if size > self._max_bytes:
                    raise ResponseParseError(
                        f"the stream is larger than {self._max_bytes} bytes (settings['max_stream_bytes'])",
                        **self._context,
                    )
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise map_aiohttp_error(exc, self._context, streaming=True) from None

    async def aread(self) -> HTTPResponse:
        """Read the rest of the body, capped at MAX_BODY_BYTES (used for error bodies too)."""
        content = await _read_capped(self._response, self._context)
        return HTTPResponse(self.status_code, self.headers, content, 0.0)


async def _read_capped(response: aiohttp.ClientResponse, context: dict[str, Any]) -> bytes:
    """The whole body, or ResponseParseError past MAX_BODY_BYTES (counted after decompression)."""
    try:
        if response.method == "HEAD" or response.status in (204, 304):
            return b""
        length = response.content_length
        if length is not None and length <= MAX_BODY_BYTES and "Content-Encoding" not in response.headers:
            return await response.content.readexactly(length) if length else b""
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ResponseParseError(f"response body is larger than {MAX_BODY_BYTES} bytes", **context)
            chunks.append(chunk)
        return b"".join(chunks)
    except asyncio.IncompleteReadError:
        raise APIConnectionError("the response body was cut short", **context) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise map_aiohttp_error(exc, context) from None


class HTTPClient:
    """One provider's connection pool, with its default headers and limits.

    Args:
        base_url: The API root (no trailing slash); a query on it is kept on every call.
        headers: Default headers, auth included; never logged or put into errors.
        timeout: Read-idle timeout in seconds (also the write and pool-wait limit).
        provider: Provider name, attached to every error.
        follow_redirects: Off by default; when on, `secret_headers` never go to another origin.
        secret_headers: The headers that carry a key (the provider says which).
        total_timeout: Limit on one exchange, head to last byte (default:
            `default_total_timeout(timeout)`), so a server dripping bytes cannot hold a call.
        max_stream_bytes: Cap on a streamed body.
        proxy: An HTTP(S) proxy URL for this provider; None: from the environment.
        ssl_context: A TLS context of your own (corporate roots); None: the default.
        address_check: Called with each address a host resolves to; a returned reason
            refuses the connection (APIConnectionError).
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        timeout: float,
        *,
        provider: str,
        follow_redirects: bool = False,
        secret_headers: Iterable[str] = ("authorization",),
        total_timeout: float | None = None,
        max_stream_bytes: int = MAX_STREAM_BYTES,
        proxy: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        address_check: AddressCheck | None = None,
    ) -> None:
        from .._version import __version__

        self.provider = provider
        if any(c in base_url for c in "\r\n\t\0 "):
            raise ConfigError("base_url must not contain spaces or control characters")
        self._base = URL(base_url)
        if self._base.scheme not in ("http", "https") or not self._base.host:
            raise ConfigError(f"base_url must be an http(s) URL with a host, not {self._base.scheme or 'nothing'}://")
        self._prefix = str(self._base.with_query(None).with_fragment(None)).rstrip("/")
        self._base_query = dict(self._base.query) if self._base.query else None
        defaults = {"User-Agent": f"closedpaw_nb/{__version__}", "Accept": "*/*", **dict(headers)}
        checked = CIMultiDict(check_request_headers(defaults, where="the provider's headers"))
        # The session sends these with every request: aiohttp merges its default headers
        # into a request's in C, and the few of a call's own (Idempotency-Key) in Python.
        # Not when following redirects: then a key header must be dropped per request.
        self._session_headers = None if follow_redirects else checked
        self._headers: CIMultiDict[str] = checked if follow_redirects else CIMultiDict()
        # Built once: aiohttp copies what it is given, so a call without headers of its own
        # passes these as they are.
        self._json_headers = CIMultiDict(self._headers)
        self._json_headers.setdefault("Content-Type", "application/json")
        self._secret = {"authorization", "proxy-authorization", *(h.lower() for h in secret_headers)}
        self._follow = follow_redirects
        self._timeout = aiohttp.ClientTimeout(
            total=total_timeout or default_total_timeout(timeout),
            # No `connect` limit (waiting for a pooled connection + connecting): `total`
            # bounds that wait, and one timer less per call is measurable in G2.
            sock_connect=min(CONNECT_TIMEOUT, timeout),
            sock_read=timeout,
        )
        self._max_stream = max_stream_bytes
        self._proxy_setting = proxy
        # The environment is read once per client (it is a scan of os.environ, too slow
        # for every call); a redirect to another host looks again.
        self._base_proxy = self._proxy_for(self._base, fresh=True)
        self._ssl = ssl_context
        self._address_check = address_check
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        if address_check is not None:
            self._check_literal(self._base)

    # -- the session -----------------------------------------------------------------

    def _open_session(self) -> aiohttp.ClientSession:
        resolver = _CheckedResolver(self._address_check) if self._address_check else None
        connector = _Connector(
            limit=POOL_LIMIT,
            ssl=self._ssl or default_ssl_context(),
            resolver=resolver,
            ttl_dns_cache=10,
            keepalive_timeout=KEEPALIVE_SECONDS,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            cookie_jar=aiohttp.DummyCookieJar(),  # calls never share cookies
            request_class=_TimedRequest,
            headers=self._session_headers,
            max_headers=MAX_HEADER_FIELDS,
            auto_decompress=True,  # gzip/deflate, and br/zstd when their packages are installed
        )
        return self._session

    # -- calls -------------------------------------------------------------------------

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
        idempotency_key: str | None = None,
    ) -> HTTPResponse:
        """Send a request and read the whole (size-capped) body; `elapsed_ms` runs from
        the moment the request was sent (see `StreamingResponse.sent_at`).

        `idempotency_key` goes out as the `Idempotency-Key` header (the same on every retry
        of one call); `headers` are checked like the provider's own."""
        response, sent_at, context = await self._open(
            method, path, json, params, headers, timeout, model, idempotency_key
        )
        try:
            content = await _read_capped(response, context)
        except BaseException:
            response.close()  # the rest of the body is unread: the connection cannot be reused
            raise
        response.release()
        elapsed = (time.perf_counter() - sent_at) * 1000
        return HTTPResponse(response.status, response.headers, content, elapsed)

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
        idempotency_key: str | None = None,
    ) -> AsyncIterator[StreamingResponse]:
        """Send a request and yield the response as soon as its headers arrive."""
        response, sent_at, context = await self._open(
            method, path, json, params, headers, timeout, model, idempotency_key
        )
        finished = False
        try:
            yield StreamingResponse(response, context, sent_at, self._max_stream)
            finished = response.content.at_eof()
        finally:
            # A body left unread means the connection cannot carry another request.
            if finished:
                response.release()
            else:
                response.close()

    async def _open(
        self,
        method: str,
        path: str,
        json: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        timeout: float | None,
        model: str | None,
        idempotency_key: str | None,
    ) -> tuple[aiohttp.ClientResponse, float, dict[str, Any]]:
        """Send the request (following redirects only when asked); return the response with
        its head checked, when the request was sent, and the error context."""
        context: dict[str, Any] = {"provider": self.provider, "model": model}
        if self._closed:
            raise APIConnectionError("the client was closed", **context)
        session = self._session or self._open_session()
        body = None if json is None else encode_json(json)
        call_headers = self._json_headers if body is not None else self._headers
        if headers or idempotency_key:
            call_headers = CIMultiDict(call_headers)  # the shared defaults stay as they are
        if headers:
            try:
                call_headers.update(check_request_headers(headers, where="a request header", error=ValueError))
            except ValueError as exc:
                raise APIConnectionError(str(exc), **context) from None
        if idempotency_key:
            if not _TOKEN_VALUE.fullmatch(idempotency_key):
                raise APIConnectionError("the idempotency key must be 1-255 printable ASCII characters", **context)
            call_headers["Idempotency-Key"] = idempotency_key
        url = self._url(path, params)
        limits = self._timeout if timeout is None else _short_timeout(timeout)
        started = time.perf_counter()
        try:
            response = await self._sending(session, method, url, body, call_headers, limits)
            if self._follow and response.status in _REDIRECTS:
                response = await self._follow_redirects(session, response, method, url, body, call_headers, limits)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise map_aiohttp_error(exc, context) from None
        except ProviderError as exc:
            exc.provider, exc.model = self.provider, model
            raise
        try:
            _check_head(response, context)
        except BaseException:
            response.close()
            raise
        sent_at = response._sent.at  # type: ignore[attr-defined]  # see _TimedRequest
        return response, started if sent_at is None else sent_at, context

    def _sending(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: URL,
        body: bytes | None,
        headers: Mapping[str, str],
        limits: aiohttp.ClientTimeout,
    ) -> Awaitable[aiohttp.ClientResponse]:
        """The request to await (a plain function, so no coroutine layer on the per-call path)."""
        return session.request(
            method,
            url,
            # aiohttp writes bytes in one go; a large body goes as a stream instead.
            data=io.BytesIO(body) if body is not None and len(body) > _LARGE_BODY else body,
            headers=headers,
            timeout=limits,
            allow_redirects=False,
            proxy=self._proxy_for(url),
        )

    async def _follow_redirects(
        self,
        session: aiohttp.ClientSession,
        response: aiohttp.ClientResponse,
        method: str,
        url: URL,
        body: bytes | None,
        headers: Mapping[str, str],
        limits: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        """Follow up to MAX_REDIRECTS redirects; key headers never go to another origin."""
        origin = url.origin()
        for _ in range(MAX_REDIRECTS):
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or not location:
                return response
            response.close()
            try:
                url = url.join(URL(location))
            except ValueError:
                raise APIConnectionError("the provider redirected to an invalid URL") from None
            if url.scheme not in ("http", "https"):
                raise APIConnectionError("the provider redirected to a non-HTTP URL")
            if self._address_check is not None:
                self._check_literal(url)
            if url.origin() != origin:
                headers = CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in self._secret)
            if response.status in (301, 302, 303) and method != "HEAD":
                method, body = "GET", None
                headers = CIMultiDict((k, v) for k, v in headers.items() if k.lower() != "content-type")
            response = await self._sending(session, method, url, body, headers, limits)
        if response.status in _REDIRECTS and response.headers.get("Location"):
            response.close()
            raise APIConnectionError(f"the provider redirected more than {MAX_REDIRECTS} times")
        return response

    def _url(self, path: str, params: Mapping[str, Any] | None) -> URL:
        url = joined_url(self._prefix, path)
        if not params and self._base_query is None:
            return url
        query = {**(self._base_query or {}), **{k: str(v) for k, v in (params or {}).items()}}
        return url.update_query(query) if query else url

    def _proxy_for(self, url: URL, fresh: bool = False) -> str | None:
        if self._proxy_setting is not None:
            return self._proxy_setting or None
        if not fresh and url.scheme == self._base.scheme and url.host == self._base.host:
            return self._base_proxy
        return env_proxy(url.scheme or "", url.host or "")

    def _check_literal(self, url: URL, context: Mapping[str, Any] | None = None) -> None:
        """An IP literal is never resolved, so the resolver cannot check it: check it here."""
        assert self._address_check is not None
        try:
            address = str(ipaddress.ip_address((url.host or "").strip("[]")))
        except ValueError:
            return
        problem = self._address_check(address)
        if problem:
            raise APIConnectionError(f"refused to connect: {problem}", **(context or {"provider": self.provider}))

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()

    def __del__(self) -> None:
        # A client dropped without aclose() (its provider was never closed, or is being used
        # from a new event loop): its idle sockets are closed quietly by _Connector, instead
        # of aiohttp's "Unclosed client session" errors in the user's notebook.
        session = getattr(self, "_session", None)
        if session is not None and not session.closed:
            session.detach()

    @property
    def is_closed(self) -> bool:
        return self._closed


def _check_head(response: aiohttp.ClientResponse, context: dict[str, Any]) -> None:
    """Refuse what a client must not take as a final answer (RFC 9110), and oversized heads."""
    if response.status < 200:
        # 1xx are skipped by aiohttp; one that reaches us (101 Switching Protocols, or a
        # status outside 100-599 such as 099) is not an answer to a provider call.
        raise APIConnectionError(
            f"the provider answered with status {response.status}, which is not a final HTTP response", **context
        )
    raw = response.raw_headers
    # aiohttp caps each field at 8190 bytes: a head of 7 fields or fewer is within 64 KB.
    size = sum(len(name) + len(value) + 4 for name, value in raw) if len(raw) > 7 else 0
    if size > MAX_HEADER_BYTES:
        raise ResponseParseError(
            f"the response header section is larger than {MAX_HEADER_BYTES // 1024} KB ({size} bytes)", **context
        )


def _short_timeout(read: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(
        total=default_total_timeout(read), sock_connect=min(CONNECT_TIMEOUT, read), sock_read=read
    )


class _IdleTimedHandler(ResponseHandler):
    """aiohttp's connection protocol with a lazier read-idle (`sock_read`) timer.

    aiohttp cancels its timer and schedules a new one when a request is written and again
    for every chunk received: two timers per short call, plus their cancellations, in the
    event loop's heap (about 7% of a raw call's CPU at concurrency 64; benchmarks G2 and
    `benchmarks.instructions`). Here a chunk only moves the deadline, and one timer per
    connection, left running between requests, checks it when it fires: the limit means
    the same (the longest silence while a response is awaited), at a fraction of the cost.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self._idle_deadline: float | None = None  # None: no response is awaited

    def _reschedule_timeout(self) -> None:  # aiohttp: a request went out, or bytes came in
        timeout = self._read_timeout
        if not timeout:
            self._idle_deadline = None
            return
        self._idle_deadline = deadline = self._loop.time() + timeout
        handle = self._read_timeout_handle
        if handle is None or handle.when() > deadline:  # none yet, or set for a longer limit
            if handle is not None:
                handle.cancel()
            self._read_timeout_handle = self._loop.call_at(deadline, self._check_idle)

    def _drop_timeout(self) -> None:  # aiohttp: the response is complete, or reading paused
        self._idle_deadline = None

    def _check_idle(self) -> None:
        deadline = self._idle_deadline
        if deadline is not None and deadline - self._loop.time() > _TIMER_SLACK:
            self._read_timeout_handle = self._loop.call_at(deadline, self._check_idle)  # bytes came since
            return
        self._read_timeout_handle = None
        if deadline is not None:
            self._idle_deadline = None
            self._on_read_timeout()

    def is_connected(self) -> bool:
        # aiohttp asks this of a pooled, idle connection before reusing it (and of idle ones
        # when it cleans the pool): one the server sent bytes on since (a late 408, a second
        # response) must be closed, not reused, or those bytes would be read as the answer
        # to the next request. (A check here, not in the connector's `_get`: that is one
        # coroutine layer more on every call. Of a connection in use, only aiohttp's
        # `Connection.closed` asks this, and this client never reads it.)
        return super().is_connected() and not self.should_close

    def connection_lost(self, exc: BaseException | None) -> None:
        # (close() and abort() end here too.) The timer goes with the connection, not left
        # in the loop's heap until it fires.
        super().connection_lost(exc)
        self._idle_deadline = None
        if self._read_timeout_handle is not None:
            self._read_timeout_handle.cancel()
            self._read_timeout_handle = None


# The event loop runs a timer up to its clock resolution early: within this, a deadline is due.
_TIMER_SLACK = 0.001


class _Connector(aiohttp.TCPConnector):
    """aiohttp's connector with its connections speaking `_IdleTimedHandler` (which also
    keeps a connection the server sent bytes nobody asked for from being reused)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._factory = functools.partial(_IdleTimedHandler, loop=self._loop)  # type: ignore[assignment]

    def __del__(self, _warnings: Any = None) -> None:
        # A client dropped without aclose(): close its idle sockets quietly, on the loop that
        # owns them (the garbage collector may run this in any thread, and transports are not
        # thread-safe). At interpreter exit what this needs may already be gone: ignore that.
        if self._closed or not self._conns:
            return
        try:
            loop = self._loop
            if loop.is_closed():
                return
            if asyncio._get_running_loop() is loop:  # running in this thread: close now
                self._close()
            else:
                loop.call_soon_threadsafe(self._close)
        except Exception:
            pass


class AddressRefused(OSError):
    """The address check refused every address a host resolved to (or one of them)."""


class _CheckedResolver(AbstractResolver):
    """aiohttp's default resolver, with each answer checked before it is connected to.

    aiohttp connects to the addresses this returns (and caches them for its DNS TTL), so
    what is checked is what is used: a name that later rebinds to a refused address is
    refused at the next lookup.
    """

    def __init__(self, check: AddressCheck) -> None:
        self._inner = aiohttp.DefaultResolver()
        self._check = check

    async def resolve(self, host: str, port: int = 0, family: Any = 0) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for entry in found:
            problem = self._check(str(ipaddress.ip_address(entry["host"].split("%", 1)[0])))
            if problem:
                raise AddressRefused(problem)
        return found

    async def close(self) -> None:
        await self._inner.close()


# -- aiohttp's exceptions as ours --------------------------------------------------------------

_HEAD_TOO_LARGE = ("Too many headers", "Got more than", "Header value too long", "Header name too long")


def map_aiohttp_error(exc: BaseException, context: dict[str, Any], *, streaming: bool = False) -> ProviderError:
    """Our error for an aiohttp (or timeout) exception, described without URL or headers.

    Mid-stream failures (`streaming`) are StreamInterruptedError: text already yielded
    stays with the caller, and the call is not retried blindly.
    """
    error = _mapped(exc, context)
    if streaming and isinstance(error, APIConnectionError):
        what = "stalled past a time limit" if isinstance(error, APITimeoutError) else "broke"
        return StreamInterruptedError(f"the stream {what} ({error.message})", **context)
    return error


def _mapped(exc: BaseException, context: dict[str, Any]) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, (aiohttp.ConnectionTimeoutError, aiohttp.ServerTimeoutError)) and not isinstance(
        exc, aiohttp.SocketTimeoutError
    ):
        return APITimeoutError("timed out connecting to the provider", **context)
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return APITimeoutError("the provider did not answer in time (read timeout)", **context)
    if isinstance(exc, TimeoutError):
        return APITimeoutError("the exchange ran past its total time limit (total_timeout)", **context)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return APIConnectionError(
            f"could not connect to the provider: TLS certificate verification failed ({_certificate(exc)})", **context
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, AddressRefused):
            return APIConnectionError(f"refused to connect: {os_error}", **context)
        # strerror may name the address ("Connect call failed ('10.0.0.1', 443)"): the errno's text does not.
        reason = os.strerror(os_error.errno) if os_error.errno else type(os_error).__name__
        return APIConnectionError(f"could not connect to the provider ({reason})", **context)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return APIConnectionError("the provider closed the connection without a complete answer", **context)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return APIConnectionError(f"the response body was cut short or malformed ({_first_line(exc)})", **context)
    if isinstance(exc, aiohttp.ClientResponseError):
        message = str(exc.message)
        if message.startswith(_HEAD_TOO_LARGE):
            return ResponseParseError(
                f"the response header section is too large (over {MAX_HEADER_FIELDS} fields or "
                f"{MAX_HEADER_BYTES // 1024} KB)",
                **context,
            )
        return APIConnectionError(f"the provider's answer broke HTTP/1.1 ({_first_line(message)})", **context)
    if isinstance(exc, aiohttp.ClientOSError):
        reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
        return APIConnectionError(f"the connection failed ({reason})", **context)
    if isinstance(exc, (aiohttp.InvalidURL, ValueError)):
        return APIConnectionError(f"the request could not be sent ({type(exc).__name__})", **context)
    return APIConnectionError(f"the connection failed ({type(exc).__name__})", **context)


def _certificate(exc: aiohttp.ClientConnectorCertificateError) -> str:
    info = exc.certificate_error
    return redact(getattr(info, "verify_message", None) or type(info).__name__)[:120]


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    # aiohttp may quote the URL or raw header bytes: keep a short, URL-free, redacted line.
    return "" if "://" in line else redact(line[:120])
