"""Serving the app with uvicorn: a listening socket, and a server in a background thread.

The socket is made here rather than by uvicorn so that it can be bound to port 0 (a
free port, known before serving starts) and so that TCP_NODELAY is set: without it,
Nagle's algorithm and delayed ACKs hold small loopback responses and SSE deltas back
by about 40 ms each.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI

from ..transport.addresses import is_loopback_host

__all__ = ["RunningServer", "bind", "is_loopback", "start_server", "url_of", "uvicorn_config"]

def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server reachable from this machine only."""
    return is_loopback_host(host)


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on `host:port` (port 0: any free port) with TCP_NODELAY set."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP as well: asyncio sets TCP_NODELAY on accepted sockets only when
    # the socket says it is TCP; the listener's own option covers the rest.
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


def uvicorn_config(app: FastAPI, log_level: str = "info") -> uvicorn.Config:
    """Uvicorn settings for the API: no proxy-header trust, no server banner header."""
    return uvicorn.Config(app, log_level=log_level, proxy_headers=False, server_header=False,
                          lifespan="on", timeout_graceful_shutdown=5)


@dataclass
class RunningServer:
    """An API server running in a background thread.

    Attributes:
        url: Root URL, e.g. `http://127.0.0.1:54321`.
        sock: The listening socket.
    """

    url: str
    sock: socket.socket
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, close the app's provider connections and the socket."""
        self._server.should_exit = True
        self._thread.join(timeout)
        self.sock.close()


def start_server(app: FastAPI, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> RunningServer:
    """Serve `app` in a daemon thread and return once it accepts connections.

    Raises:
        RuntimeError: uvicorn did not start within 10 seconds.
    """
    sock = bind(host, port)
    server = uvicorn.Server(uvicorn_config(app, log_level))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="closedpaw-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the ClosedPaw API server did not start")
        time.sleep(0.01)
    return RunningServer(url_of(sock), sock, server, thread)
