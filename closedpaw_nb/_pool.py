"""A leaner httpcore connection pool for `_http.HTTPClient` (imported when a client is built).

httpcore's pool re-examines every pooled connection on each request and each response
close, and two parts of that pass are costly: the "too many idle connections" test
builds a list of all connections once per connection (quadratic), and the liveness
probe of an idle connection asks anyio for its socket through a freshly built
attribute table. With the 64+ keep-alive connections a benchmark holds, that costs
milliseconds of CPU per call, more than the call itself. `_LeanPool` makes the same
decisions in linear time (and never double-books a connection, see below), and
`_LeanBackend` hands the probe a socket fetched once.

Its streams also note when they last wrote: after a response arrives, that is when the
request left, which `_http.py` uses as the origin of latency and TTFT.

Only the default transport's plain pool is changed (never a proxy's), and only when
httpcore still has the internals this relies on; otherwise the stock pool stays. This
module and `_http.py` are the only ones that touch the HTTP stack.
"""

from __future__ import annotations

import select
import time
from typing import Any

import httpcore

__all__ = ["use_lean_pool"]


class _LeanPool(httpcore.AsyncConnectionPool):
    """httpcore's pool with `_assign_requests_to_connections` in linear time.

    It makes httpcore's decisions, with one exception: a connection already handed to
    a request whose task has not run yet still looks idle, and httpcore may hand it to a
    second request, which then fails with ConnectionNotAvailable and queues again (at 64
    calls in flight, several times per call). Here a claimed connection is skipped.
    """

    def _assign_requests_to_connections(self) -> list[Any]:
        closing: list[Any] = []
        connections = self._connections
        for connection in list(connections):
            if connection.is_closed():
                connections.remove(connection)
            # Expired, or idle beyond the keep-alive limit. httpcore compares the count of
            # *all* connections there (a list of one entry per connection); len() is that
            # count without building the list.
            elif connection.has_expired() or (
                connection.is_idle() and len(connections) > self._max_keepalive_connections
            ):
                connections.remove(connection)
                closing.append(connection)
        claimed = {id(r.connection) for r in self._requests if r.connection is not None}
        for pool_request in self._requests:
            if pool_request.is_queued():
                self._assign(pool_request, connections, closing, claimed)
        return closing

    def _assign(self, pool_request: Any, connections: list[Any], closing: list[Any], claimed: set[int]) -> None:
        origin = pool_request.request.url.origin
        for connection in connections:  # the first available one, as httpcore picks
            if id(connection) not in claimed and connection.can_handle_request(origin) and connection.is_available():
                break
        else:
            if len(connections) >= self._max_connections:
                idle = next((c for c in connections if c.is_idle() and id(c) not in claimed), None)
                if idle is None:
                    return  # the request stays queued until a connection frees up
                connections.remove(idle)
                closing.append(idle)
            connection = self.create_connection(origin)
            connections.append(connection)
        claimed.add(id(connection))
        pool_request.assign_to_connection(connection)


class _LeanStream(httpcore.AsyncNetworkStream):
    """A network stream that answers the pool's "is_readable" probe from a cached socket,
    and notes when it last wrote (the end of a request: where timings start)."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket = inner.get_extra_info("socket")
        self.written_at: float | None = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)
        self.written_at = time.perf_counter()

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _LeanStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return _socket_readable(self._socket)
        return self._inner.get_extra_info(info)


class _LeanBackend(httpcore.AsyncNetworkBackend):
    """Wraps the pool's network backend so that every stream it opens is a `_LeanStream`."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None, socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return _LeanStream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return _LeanStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _socket_readable(sock: Any) -> bool:
    """httpcore's test: an idle keep-alive socket with data waiting was closed by the server."""
    fd = sock.fileno()
    if fd < 0:
        return True  # gone: treat as readable, like httpcore does
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


_POOL_INTERNALS = ("_connections", "_requests", "_max_connections", "_max_keepalive_connections",
                   "_network_backend", "_assign_requests_to_connections", "create_connection")


def use_lean_pool(client: Any) -> None:
    """Give an httpx.AsyncClient's default transport the lean pool, when httpcore allows."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if type(pool) is not httpcore.AsyncConnectionPool or not all(hasattr(pool, a) for a in _POOL_INTERNALS):
        return
    if not hasattr(select, "poll"):  # Windows: keep httpcore's own probe
        return
    pool.__class__ = _LeanPool
    pool._network_backend = _LeanBackend(pool._network_backend)
