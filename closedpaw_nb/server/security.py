"""Who may talk to the API: the bearer token, the Host-header check and (opt-in) CORS.

The model is Jupyter Server's: the API listens on loopback, a random token is made at
start and must be sent as `Authorization: Bearer <token>` on every route except the
bare liveness route, and a request whose Host header names anything but an allowed
host is refused, which defeats DNS rebinding (a hostile page whose domain has been
re-pointed at 127.0.0.1). CORS is off unless exact origins are listed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_response

__all__ = [
    "DEFAULT_ALLOWED_HOSTS",
    "MIN_TOKEN_LENGTH",
    "PUBLIC_PATHS",
    "BearerTokenMiddleware",
    "HostCheckMiddleware",
    "JSONCORSMiddleware",
    "check_token",
    "new_token",
    "normalize_host",
]

DEFAULT_ALLOWED_HOSTS = ("127.0.0.1", "localhost", "::1")
#: Routes that answer without a token: liveness only, which reveals nothing.
PUBLIC_PATHS = frozenset({"/healthz"})
MIN_TOKEN_LENGTH = 16


def new_token() -> str:
    """A fresh random API token (32 bytes of entropy, URL-safe)."""
    return secrets.token_urlsafe(32)


def check_token(token: str) -> str:
    """`token` if it is long enough to resist guessing, else ValueError saying why."""
    if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"the API token must be a string of at least {MIN_TOKEN_LENGTH} characters")
    if not token.isascii() or not token.isprintable() or " " in token:
        raise ValueError("the API token must be printable ASCII without spaces (it travels in a header)")
    return token


def normalize_host(host: str) -> str:
    """A host name or address in comparable form: lower case, no brackets, no trailing dot."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.rstrip(".")


def _host_of(header: str) -> str:
    """The host part of a Host header value (`name`, `name:port`, `[v6]` or `[v6]:port`)."""
    if header.startswith("["):
        return normalize_host(header.split("]", 1)[0] + "]")
    return normalize_host(header.rsplit(":", 1)[0] if header.count(":") == 1 else header)


class HostCheckMiddleware:
    """Refuses (400) requests whose Host header is not one of `allowed_hosts`.

    Args:
        app: The wrapped ASGI app.
        allowed_hosts: Exact host names or addresses (ports are ignored).
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(normalize_host(h) for h in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on if its Host is allowed, else answer 400."""
        if scope["type"] == "websocket":  # the API has none; refuse the handshake outright
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host", "")
            if _host_of(host) not in self.allowed:
                await self._refuse(host)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refuse(self, host: str) -> Response:
        shown = ", ".join(sorted(self.allowed))
        return error_response(
            400,
            "invalid_host",
            f"Host header {host[:100]!r} is not allowed (allowed: {shown}); connect via one of those "
            "names, or start the server with --allowed-host NAME",
        )


class BearerTokenMiddleware:
    """Requires `Authorization: Bearer <token>` on every path but `PUBLIC_PATHS`.

    It sits outside routing, so unknown paths, `/docs` and `/openapi.json` need the
    token too, and a request without one never reaches body parsing.

    Args:
        app: The wrapped ASGI app.
        token: The secret every request must carry.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = check_token(token).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on if it carries the token (or is public), else answer 401."""
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        problem = self._problem(Headers(scope=scope).getlist("authorization"))
        if problem:
            await error_response(401, "unauthorized", problem, headers={"WWW-Authenticate": "Bearer"})(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)

    def _problem(self, values: list[str]) -> str | None:
        """Why the request is not authorized, or None when it is."""
        hint = (
            "send 'Authorization: Bearer <token>' with the token the server printed at start "
            "(or the value of the environment variable named by --token-env)"
        )
        if len(values) != 1:
            return f"missing bearer token: {hint}" if not values else "send exactly one Authorization header"
        scheme, _, given = values[0].partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return f"the Authorization header is not a bearer token: {hint}"
        # Compared as bytes in constant time; latin-1 mirrors how ASGI decoded the header.
        if not secrets.compare_digest(given.strip().encode("latin-1"), self._token):
            return f"wrong bearer token: {hint}"
        return None


class JSONCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with refused preflights answered in the error envelope."""

    def preflight_response(self, request_headers: Headers) -> Response:
        """Starlette's preflight answer, with a refusal rewritten as the error envelope."""
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = bytes(response.body).decode("utf-8", "replace")
        # Keep the CORS headers Starlette computed (e.g. Vary); drop its text body's length/type.
        kept = {k: v for k, v in response.headers.items() if k.startswith("access-control") or k == "vary"}
        return error_response(
            response.status_code,
            "cors_rejected",
            f"{reason}: this origin, method or header is not allowed by the server's CORS list",
            headers=kept,
        )
