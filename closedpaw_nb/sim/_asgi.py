"""Low-level ASGI helpers: writing replies, watching for disconnects, dropping connections.

Dropping a connection is not part of ASGI. Under uvicorn, ``receive`` is a bound method of
the request cycle, which holds the asyncio transport; we use it to close the socket (or reset
it with ``SO_LINGER 0``) so that a client sees a real connection error. Under any other
server we fall back to raising, which makes the server close or fail the response.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

__all__ = ["body", "drop_connection", "race", "start", "until_disconnect", "wait_closing"]


async def start(
    send: Send, status: int, headers: Mapping[str, str], media_type: str, length: int | None = None
) -> None:
    """Send the status line and headers."""
    raw = [(b"content-type", media_type.encode())]
    if length is not None:
        raw.append((b"content-length", str(length).encode()))
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})


async def body(send: Send, data: bytes, more: bool = True) -> None:
    """Send one body chunk (``more=False`` ends the response)."""
    await send({"type": "http.response.body", "body": data, "more_body": more})


async def until_disconnect(receive: Receive) -> None:
    """Return once the client has gone (or the response is complete)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def wait_closing(closing: threading.Event, poll: float = 0.05) -> None:
    """Return once the server is shutting down."""
    while not closing.is_set():
        await asyncio.sleep(poll)


async def race(main: Awaitable[bool | None], receive: Receive) -> None:
    """Run ``main`` until it finishes or the client disconnects, whichever is first.

    ``main`` returns True when it dropped the connection itself; we then wait for the
    server to notice, so it does not log an incomplete response as an application error.
    """
    work = asyncio.ensure_future(main)
    gone = asyncio.ensure_future(until_disconnect(receive))
    try:
        done, _ = await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        if work in done and work.result():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(gone), timeout=5)
    finally:
        for task in (work, gone):
            task.cancel()
        await asyncio.gather(work, gone, return_exceptions=True)


def _transport(receive: Receive) -> asyncio.Transport | None:
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    # Duck-typed: uvloop's transports (uvicorn picks uvloop when installed) are not
    # asyncio.BaseTransport subclasses.
    return transport if hasattr(transport, "abort") and hasattr(transport, "get_extra_info") else None


def drop_connection(receive: Receive, *, reset: bool) -> bool:
    """Close the client connection now: a TCP reset when ``reset``, else a FIN after flushing.

    Returns True (for :func:`race`). Raises ``ConnectionAbortedError`` when the server does not
    expose its transport; the server then ends the connection its own way.
    """
    transport = _transport(receive)
    if transport is None:
        raise ConnectionAbortedError("simulated connection drop")
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    return True
