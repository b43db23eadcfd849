"""Serving the app with uvicorn: its settings, and a server in a background thread.

The socket is bound by `_background_server.bind` rather than by uvicorn, so that it can
be bound to port 0 (a free port, known before serving starts) with TCP_NODELAY set.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from .._background_server import BackgroundServer, bind, serve_in_background, url_of
from ..transport.addresses import is_loopback_host
from .limits import DEFAULT_MAX_HEADER_BYTES

__all__ = ["RunningServer", "bind", "is_loopback", "start_server", "url_of", "uvicorn_config"]


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server reachable from this machine only."""
    return is_loopback_host(host)


def uvicorn_config(
    app: FastAPI, log_level: str = "info", max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
) -> uvicorn.Config:
    """Uvicorn settings for the API: no proxy-header trust, no server banner header, and the
    request head capped at `max_header_bytes` (uvicorn's h11 parser enforces the cap; its
    httptools parser has none, so h11 is chosen explicitly)."""
    return uvicorn.Config(
        app,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        http="h11",
        h11_max_incomplete_event_size=max_header_bytes,
    )


# The API served from Python (tests, notebooks): a uvicorn thread like the simulator's.
RunningServer = BackgroundServer


def start_server(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
) -> RunningServer:
    """Serve `app` in a daemon thread and return once it accepts connections.

    Raises:
        RuntimeError: uvicorn did not start within 10 seconds.
    """
    config = uvicorn_config(app, log_level, max_header_bytes)
    return serve_in_background(config, host=host, port=port, name="closedpaw-api")
