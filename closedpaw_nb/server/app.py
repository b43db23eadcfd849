"""`create_app()`: the FastAPI application with its security layers in place.

Requests pass, outermost first: the Host check (400), CORS when origins are listed,
the bearer token (401), the catch-all that turns an unexpected exception into a
generic 500, then FastAPI's routing with its error handlers (see `errors`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from .. import __version__
from ..config import ProviderConfig
from ..manager import ProviderManager
from ..types import ProviderType
from .chat import chat_router
from .errors import CatchAllMiddleware, install_error_handlers
from .limits import DEFAULT_MAX_BODY_BYTES, BodyLimitMiddleware
from .routes import liveness_router, providers_router
from .security import (
    DEFAULT_ALLOWED_HOSTS,
    BearerTokenMiddleware,
    HostCheckMiddleware,
    JSONCORSMiddleware,
    check_token,
    new_token,
)
from .urlcheck import Resolver, system_resolve

__all__ = ["create_app", "default_manager"]

DESCRIPTION = """Manage LLM providers and chat with them over HTTP.

Every route except `GET /healthz` needs `Authorization: Bearer <token>`; the token is
printed when the server starts (or read from the variable named by `--token-env`).
Errors are always `{"error": {"type": ..., "message": ...}}`. API keys are accepted on
registration and never returned: providers show `has_key` and a `key_fingerprint`.
"""


def default_manager() -> ProviderManager:
    """A new manager holding the seed's default Ollama entry (nothing is contacted yet)."""
    manager = ProviderManager()
    manager.register_provider(ProviderConfig(ProviderType.OLLAMA, name="ollama"))
    return manager


def create_app(
    manager: ProviderManager | None = None,
    *,
    token: str | None = None,
    allowed_hosts: Iterable[str] = DEFAULT_ALLOWED_HOSTS,
    cors_origins: Iterable[str] = (),
    allow_local_base_urls: bool = False,
    resolve: Resolver = system_resolve,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """Build the ClosedPaw HTTP API around a ProviderManager.

    The app owns no event loop of its own: run it with one server (uvicorn) and the
    manager's connection pools bind to that server's loop. Connections are closed
    when the app shuts down.

    Args:
        manager: The providers to serve; a new one with the seed's Ollama entry if None.
        token: The bearer token every request must carry (at least 16 characters);
            a random one if None, readable by the caller as `app.state.token`.
        allowed_hosts: Host header values accepted (DNS-rebinding defence); ports are ignored.
        cors_origins: Exact browser origins allowed to call the API; none by default,
            and "*" is refused.
        allow_local_base_urls: Let ollama and custom providers be registered at
            loopback or private addresses.
        resolve: Host name -> addresses lookup for the base_url check (tests fake it).
        max_body_bytes: Largest request body accepted; a larger one is a 413. (The request
            head is capped by the server: `runner.uvicorn_config(max_header_bytes=...)`.)

    Returns:
        The FastAPI application.

    Raises:
        ValueError: A token that is too short, or a wildcard CORS origin.
    """
    manager = manager if manager is not None else default_manager()
    token = check_token(token) if token is not None else new_token()
    app = FastAPI(title="ClosedPaw HTTP API", version=__version__, description=DESCRIPTION, lifespan=_lifespan(manager))
    app.state.manager = manager
    app.state.token = token
    app.state.allow_local_base_urls = allow_local_base_urls
    app.state.resolve = resolve
    install_error_handlers(app)
    for router in (liveness_router, providers_router, chat_router):
        app.include_router(router)
    _add_security(app, token, list(allowed_hosts), list(cors_origins), max_body_bytes)
    return app


def _add_security(
    app: FastAPI, token: str, allowed_hosts: list[str], cors_origins: list[str], max_body_bytes: int
) -> None:
    """Install the middleware stack; the last one added runs first."""
    if not allowed_hosts:
        raise ValueError("allowed_hosts must name at least one host, e.g. '127.0.0.1'")
    if any(o.strip() == "*" for o in cors_origins):
        raise ValueError("cors_origins must list exact origins such as 'http://localhost:8888', not '*'")
    if max_body_bytes <= 0:
        raise ValueError("max_body_bytes must be a positive number of bytes")
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)  # after the token check
    app.add_middleware(BearerTokenMiddleware, token=token)
    if cors_origins:
        # No credentials: the token travels in a header the page sets, not in a cookie.
        app.add_middleware(
            JSONCORSMiddleware,
            allow_origins=cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(HostCheckMiddleware, allowed_hosts=allowed_hosts)


def _lifespan(manager: ProviderManager) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Close the manager's connections when the server stops (they belong to its loop)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await manager.close_all()

    return lifespan
