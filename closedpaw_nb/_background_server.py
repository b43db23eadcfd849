"""Uvicorn on a socket we bind, in a daemon thread: how the simulator and the HTTP API are
served from Python (tests, notebooks) and how their CLIs bind before printing a URL.

Not part of the core: only `sim` and `server` import it, and uvicorn is theirs to need.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn

__all__ = ["BackgroundServer", "bind", "serve_in_background", "url_of"]

START_TIMEOUT = 10.0


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on `host:port` (port 0: any free port) with TCP_NODELAY set."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP as well: asyncio sets TCP_NODELAY on accepted sockets only when the
    # socket says it is TCP, and without it Nagle + delayed ACKs hold small stream deltas
    # back by ~40 ms; the listener's own option covers the rest.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    """The http:// root URL of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass
class BackgroundServer:
    """A uvicorn server running in a daemon thread.

    Attributes:
        url: Root URL, e.g. `http://127.0.0.1:54321`.
        sock: The listening socket.
    """

    url: str
    sock: socket.socket
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _before_stop: Callable[[], None] | None = field(default=None, repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (open requests get up to `timeout` seconds) and close the socket."""
        if self._before_stop is not None:
            self._before_stop()
        self._server.should_exit = True
        self._thread.join(timeout)
        self.sock.close()


def serve_in_background(
    config: uvicorn.Config,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str = "closedpaw-server",
    before_stop: Callable[[], None] | None = None,
) -> BackgroundServer:
    """Serve `config`'s app in a daemon thread and return once it accepts connections.

    Raises:
        RuntimeError: uvicorn did not start within START_TIMEOUT seconds.
    """
    import uvicorn

    sock = bind(host, port)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"{name} did not start within {START_TIMEOUT:g} s")
        time.sleep(0.01)
    return BackgroundServer(url_of(sock), sock, server, thread, before_stop)
