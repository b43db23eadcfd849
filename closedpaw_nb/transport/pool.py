"""The HTTP/1.1 connection pool under `_http.HTTPClient`: asyncio protocols + httptools.

Why not httpcore (under httpx): a benchmark sweep is CPU-bound on one event loop, and
every microsecond the client spends per call turns into queueing delay charged to the
provider. At 64 calls in flight httpx + httpcore + anyio spent about 0.7 ms of CPU per
call; this pool, with httptools (llhttp, the parser behind uvicorn and Node.js) doing
the parsing, about 0.2 ms (benchmarks/, goal G3: its "floor" arm). This module knows
nothing of httpx or of providers: it moves bytes.

What it does: keep-alive per origin (most recently used first), at most `max_connections`
open with FIFO waiting beyond that, idle connections closed after `keepalive_expiry` or
as soon as the server closes them, connect/read/write/pool timeouts, TLS through `ssl`,
back pressure in both directions, request lines and headers checked against injection,
and a connection that ended an exchange in any state but "complete" (error,
cancellation, early close, `Connection: close`) is closed rather than reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httptools

__all__ = [
    "ConnectFailed",
    "ConnectTimedOut",
    "ConnectionBroken",
    "ConnectionPool",
    "PoolError",
    "PoolTimedOut",
    "ProtocolViolation",
    "ReadTimedOut",
    "ResponseHead",
    "WriteTimedOut",
]

Origin = tuple[str, str, int]  # scheme, host, port
Headers = Iterable[tuple[bytes, bytes]]
READ_BUFFER_LIMIT = 256 * 1024  # unread body bytes buffered before the socket stops being read
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a header name (RFC 9110)
_LINE_BREAKERS = re.compile(rb"[\x00\r\n]")


class PoolError(Exception):
    """Base of the pool's errors (`client.py` maps each into closedpaw_nb's error tree)."""


class ConnectFailed(PoolError):
    """The TCP or TLS connection could not be made."""


class ConnectTimedOut(PoolError):
    """Connecting took longer than the connect timeout."""


class PoolTimedOut(PoolError):
    """No connection became free within the pool timeout."""


class WriteTimedOut(PoolError):
    """The request could not be written within the write timeout."""


class ReadTimedOut(PoolError):
    """The server sent nothing for longer than the read timeout."""


class ConnectionBroken(PoolError):
    """The connection closed or reset in the middle of an exchange."""


class ProtocolViolation(PoolError):
    """Bytes that are not valid HTTP/1.1: the server's, or a request line or header of
    ours that would break a line (header injection)."""


@dataclass
class ResponseHead:
    """A response whose headers have arrived; iterate `body` for the rest.

    Attributes:
        sent_at: `time.perf_counter()` once the whole request had been handed to the
            socket: where latency and TTFT start.
    """

    status_code: int
    headers: list[tuple[bytes, bytes]]
    reason: bytes
    sent_at: float
    body: ResponseBody


class _Connection(asyncio.Protocol):
    """One socket, the response being parsed on it, and the futures a request waits on.

    httptools (llhttp) parses; its callbacks (`on_*`) fill in the current response.
    """

    def __init__(self, origin: Origin, loop: asyncio.AbstractEventLoop) -> None:
        self.origin = origin
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.in_use = False
        self.lost = False
        self.idle_since = 0.0
        self._parser: Any = None
        self._reset_response()
        self._reading_paused = False
        self._data_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None

    def _reset_response(self) -> None:
        self.status_code = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self._chunks: deque[bytes] = deque()
        self._unread = 0
        self._error: PoolError | None = None
        self._keep_alive = False
        self._extra_message = False
        self._expect_body = True

    # -- asyncio.Protocol callbacks ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # create_connection() gives a Transport

    def data_received(self, data: bytes) -> None:
        if not self.in_use or self._parser is None:
            # Bytes on an idle keep-alive connection: the server is closing it (or
            # misbehaving); either way it cannot carry the next request.
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._error = ProtocolViolation(f"the server's response is not valid HTTP/1.1 ({exc})")
            self.close()
        if self._unread > READ_BUFFER_LIMIT and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]  # connected: connection_made set it
        self._wake_reader()

    def eof_received(self) -> bool:
        self._end_of_input(clean=True)
        return False  # let asyncio close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_of_input(clean=exc is None)
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def pause_writing(self) -> None:
        self._drain_waiter = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        self._drain_waiter = None

    # -- httptools callbacks -----------------------------------------------------------

    # Anything after the response is complete is a second, unasked-for message: it is
    # ignored, and the connection is not reused.

    def on_message_begin(self) -> None:
        if self.complete:
            self._extra_message = True

    def on_status(self, reason: bytes) -> None:
        if not self.complete:
            self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.complete:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue and friends: wait for the real answer
            self.headers, self.reason = [], b""
            return
        self.status_code, self.head_done = status, True
        self._keep_alive = self._parser.should_keep_alive()
        if not self._expect_body:  # the answer to HEAD has a Content-Length but no body
            self.complete = True

    def on_body(self, chunk: bytes) -> None:
        if not self.complete:
            self._chunks.append(chunk)
            self._unread += len(chunk)

    def on_message_complete(self) -> None:
        if self.head_done:
            self.complete = True

    # -- used by the pool --------------------------------------------------------------

    async def send(self, message: bytes, timeout: float | None, expect_body: bool = True) -> None:
        """Write a request, waiting while the socket buffer is full; `expect_body` is
        False for HEAD, whose answer describes a body it does not carry."""
        if self.lost:
            raise ConnectionBroken("the connection closed before the request was sent")
        self._reset_response()
        self._expect_body = expect_body
        self._parser = httptools.HttpResponseParser(self)
        self.transport.write(message)  # type: ignore[union-attr]  # connected: connection_made set it
        waiter = self._drain_waiter
        if waiter is not None:
            try:
                async with asyncio.timeout(timeout):
                    await waiter
            except TimeoutError:
                raise WriteTimedOut("the request could not be sent in time") from None
            if self.lost:
                raise ConnectionBroken("the connection closed while the request was being sent")

    async def read_head(self, timeout: float | None) -> None:
        """Wait until the response's status line and headers are in."""
        while not self.head_done:
            await self._more(timeout)

    async def read_body(self, timeout: float | None) -> bytes | None:
        """The body bytes that have arrived (waiting for some), or None at its end."""
        while not self._chunks:
            if self.complete:
                return None
            await self._more(timeout)
        chunks, self._chunks, self._unread = self._chunks, deque(), 0
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()  # type: ignore[union-attr]  # connected: connection_made set it
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def reusable(self) -> bool:
        return not self.lost and self.complete and self._keep_alive and not self._extra_message

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()

    async def _more(self, timeout: float | None) -> None:
        if self._error is not None:
            raise self._error
        if self.lost:
            raise ConnectionBroken("the server closed the connection mid-response")
        self._data_waiter = self.loop.create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._data_waiter
        except TimeoutError:
            raise ReadTimedOut("the server sent nothing within the read timeout") from None
        finally:
            self._data_waiter = None

    def _end_of_input(self, clean: bool) -> None:
        # A body with neither Content-Length nor chunked framing ends when the server
        # closes cleanly (llhttp would need an explicit "finish" that httptools does not
        # offer); a reset is a broken exchange, never the end of a body.
        if (
            clean
            and self.in_use
            and self.head_done
            and not self.complete
            and self._error is None
            and not any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers)
        ):
            self.complete = True
            self._keep_alive = False
        self.lost = True
        self._wake_reader()

    def _wake_reader(self) -> None:
        if self._data_waiter is not None and not self._data_waiter.done():
            self._data_waiter.set_result(None)


class ResponseBody:
    """The body of one response; hands its connection back when read to the end, and
    closes it when abandoned early (`aclose`) or broken."""

    def __init__(self, pool: ConnectionPool, connection: _Connection, timeout: float | None) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            return
        try:
            while (chunk := await connection.read_body(self._timeout)) is not None:
                yield chunk
        except BaseException:
            self.abandon()
            raise
        self._connection = None
        self._pool.release(connection)

    def abandon(self) -> None:
        """Stop reading: the connection is closed, since the rest of the body is unread."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self._pool.discard(connection)

    async def aclose(self) -> None:
        self.abandon()


class _Waiter(asyncio.Future["_Connection | None"]):
    """A queued request: resolves to a connection to its origin, or None for a free slot."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> None:
        super().__init__(loop=loop)
        self.origin = origin


class ConnectionPool:
    """Keep-alive HTTP/1.1 connections for one client, on the event loop that uses it.

    Args:
        max_connections: Open connections at most (all origins); further requests
            wait in FIFO order for one to come free.
        max_keepalive_connections: Idle connections kept at most.
        keepalive_expiry: Seconds an idle connection is kept.
        ssl_context: Called once, on the first https connection, for the TLS context.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        max_keepalive_connections: int,
        keepalive_expiry: float = 5.0,
        ssl_context: Callable[[], ssl.SSLContext] = ssl.create_default_context,
    ) -> None:
        self._max_connections = max_connections
        self._max_keepalive = max_keepalive_connections
        self._keepalive_expiry = keepalive_expiry
        self._ssl_factory = ssl_context
        self._ssl_context: ssl.SSLContext | None = None
        self._idle: dict[Origin, list[_Connection]] = {}
        self._idle_count = 0
        self._open = 0
        self._waiters: deque[_Waiter] = deque()
        self._closed = False

    @property
    def open_connections(self) -> int:
        """Connections open or being opened (idle ones included)."""
        return self._open

    @property
    def idle_connections(self) -> int:
        return self._idle_count

    async def request(
        self,
        method: bytes,
        origin: Origin,
        target: bytes,
        headers: Headers,
        body: bytes,
        timeouts: Mapping[str, float | None],
    ) -> ResponseHead:
        """Send one request and return once the response headers are in.

        `headers` must include Host (and Content-Length when there is a body); a header
        or target that could smuggle a second line raises ProtocolViolation.
        `timeouts` has httpx's keys (connect, read, write, pool); a missing one or None
        means no limit. Raises a `PoolError`.
        """
        if self._closed:
            raise ConnectionBroken("the client was closed")
        message = _serialize(method, target, headers, body)
        connection = await self._acquire(origin, timeouts)
        read_timeout = timeouts.get("read")
        try:
            await connection.send(message, timeouts.get("write"), expect_body=method != b"HEAD")
            sent_at = time.perf_counter()
            await connection.read_head(read_timeout)
        except BaseException:
            self.discard(connection)
            raise
        return ResponseHead(
            connection.status_code,
            connection.headers,
            connection.reason,
            sent_at,
            ResponseBody(self, connection, read_timeout),
        )

    def release(self, connection: _Connection) -> None:
        """Take back a connection whose exchange finished: the first waiter gets it (or
        its slot), else it goes idle if it can be reused."""
        if self._closed or not connection.reusable():
            self.discard(connection)
            return
        waiter = self._next_waiter()
        if waiter is not None:
            if waiter.origin == connection.origin:
                waiter.set_result(connection)
            else:
                connection.close()  # the slot, not the connection, is what it can use
                waiter.set_result(None)
            return
        if self._idle_count >= self._max_keepalive:
            self.discard(connection)
            return
        connection.in_use = False
        connection.idle_since = connection.loop.time()
        self._idle.setdefault(connection.origin, []).append(connection)
        self._idle_count += 1

    def discard(self, connection: _Connection) -> None:
        """Close a connection that is not idle (mid-exchange, broken or surplus); its slot
        goes to the first waiter."""
        connection.close()
        self._free_slot()

    async def aclose(self) -> None:
        """Close idle connections now, and the others as their exchanges end."""
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
                self._open -= 1
        self._idle.clear()
        self._idle_count = 0
        while (waiter := self._next_waiter()) is not None:
            waiter.set_exception(ConnectionBroken("the client was closed"))

    # -- acquiring a connection ------------------------------------------------------------
    #
    # Slots are handed over, never released into the open: a request that has to wait
    # queues (FIFO), and a finished exchange gives its connection (same origin) or its
    # slot (another origin, or a connection that cannot be reused) straight to the first
    # waiter. A caller arriving later can therefore never overtake a queued one.

    async def _acquire(self, origin: Origin, timeouts: Mapping[str, float | None]) -> _Connection:
        if not self._waiters:
            connection = self._take_idle(origin)
            if connection is not None:
                connection.in_use = True
                return connection
            if self._open < self._max_connections or self._evict_idle():
                self._open += 1
                return await self._open_in_slot(origin, timeouts)
        handed = await self._wait_for_a_turn(origin, timeouts.get("pool"))
        if handed is not None:
            return handed
        return await self._open_in_slot(origin, timeouts)  # a slot was handed over

    async def _open_in_slot(self, origin: Origin, timeouts: Mapping[str, float | None]) -> _Connection:
        """Open a connection in a slot already counted in `_open`."""
        try:
            connection = await self._connect(origin, timeouts.get("connect"))
        except BaseException:
            self._free_slot()
            raise
        connection.in_use = True
        return connection

    def _take_idle(self, origin: Origin) -> _Connection | None:
        """The most recently used live idle connection to `origin`; dead or expired ones
        met on the way are closed."""
        connections = self._idle.get(origin)
        while connections:
            connection = connections.pop()
            self._idle_count -= 1
            if connection.lost or connection.loop.time() - connection.idle_since > self._keepalive_expiry:
                connection.close()
                self._open -= 1
                continue
            return connection
        return None

    def _evict_idle(self) -> bool:
        """At the connection limit, close one idle connection to another origin."""
        for connections in self._idle.values():
            if connections:
                connections.pop(0).close()
                self._idle_count -= 1
                self._open -= 1
                return True
        return False

    async def _wait_for_a_turn(self, origin: Origin, timeout: float | None) -> _Connection | None:
        """Queue until a connection to `origin` (returned) or a free slot (None) is handed over."""
        waiter = _Waiter(asyncio.get_running_loop(), origin)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except BaseException as exc:
            if not waiter.done() or waiter.cancelled():
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            elif waiter.exception() is None:
                # Handed something in the same turn as our timeout or cancellation: pass it on.
                handed = waiter.result()
                if handed is None:
                    self._free_slot()
                else:
                    self.release(handed)
            if isinstance(exc, TimeoutError):
                raise PoolTimedOut("no connection came free within the pool timeout") from None
            raise

    def _next_waiter(self) -> _Waiter | None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    def _free_slot(self) -> None:
        """A slot came free: hand it to the first waiter, or count it out."""
        waiter = self._next_waiter()
        if waiter is not None:
            waiter.set_result(None)
        else:
            self._open -= 1

    async def _connect(self, origin: Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        context = None
        if scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = self._ssl_factory()
            context = self._ssl_context
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(origin, loop),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
        except TimeoutError:
            raise ConnectTimedOut("timed out connecting") from None
        except OSError as exc:  # refused, unreachable, DNS, TLS handshake or certificate
            # The reason only: asyncio's message names the address.
            reason = exc.reason if isinstance(exc, ssl.SSLError) else type(exc).__name__
            raise ConnectFailed(f"could not connect ({reason})") from None
        return connection


def _serialize(method: bytes, target: bytes, headers: Headers, body: bytes) -> bytes:
    """The request's bytes, refusing anything that would end a line early (header
    injection) or is not a header name."""
    if not _TOKEN.fullmatch(method) or not target or _LINE_BREAKERS.search(target) or b" " in target:
        raise ProtocolViolation("the request line is not valid HTTP/1.1")
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        if not _TOKEN.fullmatch(name) or _LINE_BREAKERS.search(value):
            raise ProtocolViolation(f"header {name[:40]!r} is not valid HTTP/1.1 (a line break in its value?)")
        parts += [name, b": ", value, b"\r\n"]
    parts += [b"\r\n", body]
    return b"".join(parts)
