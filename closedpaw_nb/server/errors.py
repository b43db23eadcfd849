"""Every error the API returns, as one JSON shape: `{"error": {"type": ..., "message": ...}}`.

| raised                         | status | type                                  |
|--------------------------------|--------|---------------------------------------|
| `ApiError`                     | its own| its own (`not_found`, `conflict`...)  |
| `UnsafeBaseURLError`           | 422    | `unsafe_base_url`                     |
| `ConfigError`                  | 422    | `config_error`                        |
| `NotFoundError` (provider 404) | 404    | `NotFoundError`: no such model there  |
| `ProviderError` (the others)   | 502    | the error class, e.g. `RateLimitError`|
| `VaultLockedError`             | 503    | `vault_locked`                        |
| request validation             | 422    | `validation_error` (+ `fields`)       |
| Starlette `HTTPException`      | its own| `not_found`, `method_not_allowed`...  |
| anything else                  | 500    | `internal_error`, a generic message   |

Messages pass through `redact()`, and nothing here ever puts an exception's traceback,
an input value or a file path into a response: the unexpected case is logged (redacted)
and answered with a fixed sentence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ConfigError, NotFoundError, ProviderError, VaultError, VaultLockedError
from ..transport.redact import get_logger, redact

__all__ = [
    "ApiError",
    "CatchAllMiddleware",
    "UnsafeBaseURLError",
    "error_body",
    "error_response",
    "install_error_handlers",
]

log = get_logger("closedpaw_nb.server")

MAX_MESSAGE = 1000
GENERIC_500 = "the server hit an unexpected error; it has been logged on the server (nothing was changed)"

_STATUS_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


class ApiError(Exception):
    """An error the routes raise on purpose, with its HTTP status and a message to act on.

    Args:
        status_code: HTTP status of the response.
        type: Machine-readable error type, e.g. "not_found".
        message: What went wrong and what to do about it.
        headers: Extra response headers (e.g. WWW-Authenticate).
        extra: Extra fields of the error object (e.g. `fields`).
    """

    def __init__(
        self, status_code: int, type: str, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.type = type
        self.message = message
        self.headers = headers
        self.extra = extra


class UnsafeBaseURLError(ConfigError):
    """A base_url the server refuses to send requests (and keys) to."""


def error_body(type: str, message: str, **extra: Any) -> dict[str, Any]:
    """The error envelope; `extra` adds fields (None values are left out)."""
    inner = {"type": type, "message": redact(message)[:MAX_MESSAGE]}
    inner.update({k: v for k, v in extra.items() if v is not None})
    return {"error": inner}


def error_response(
    status_code: int, type: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A JSONResponse carrying the error envelope."""
    return JSONResponse(error_body(type, message, **extra), status_code=status_code, headers=headers)


def provider_error_body(exc: ProviderError) -> dict[str, Any]:
    """The envelope for a failed provider call: its class name, redacted text and facts."""
    return error_body(
        type(exc).__name__,
        str(exc),
        provider=exc.provider or None,
        upstream_status=exc.status_code,
        retry_after=exc.retry_after,
    )


def _field_problems(exc: RequestValidationError) -> list[dict[str, str]]:
    # Only the location and pydantic's sentence: the `input` value could be a key sent
    # in the wrong field, so it is never echoed.
    return [
        {"field": ".".join(str(p) for p in err.get("loc", ())), "problem": str(err.get("msg", ""))}
        for err in exc.errors()
    ]


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [{k: redact(v)[:300] for k, v in p.items()} for p in _field_problems(exc)]
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5]) or "the request is malformed"
    return error_response(422, "validation_error", f"invalid request: {summary}", fields=problems[:20])


async def _on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status_code, exc.type, exc.message, headers=exc.headers, **exc.extra)


async def _on_config_error(request: Request, exc: ConfigError) -> JSONResponse:
    kind = "unsafe_base_url" if isinstance(exc, UnsafeBaseURLError) else "config_error"
    return error_response(422, kind, str(exc))


async def _on_provider_error(request: Request, exc: ProviderError) -> JSONResponse:
    # The provider's 404 means the request named something it does not have (usually a model):
    # the caller's to fix, so a 404 here too, not a gateway failure.
    status = 404 if isinstance(exc, NotFoundError) else 502
    return JSONResponse(provider_error_body(exc), status_code=status)


async def _on_vault_error(request: Request, exc: VaultError) -> JSONResponse:
    if isinstance(exc, VaultLockedError):
        return error_response(503, "vault_locked", "the key vault is locked by another process; try again shortly")
    log.warning("key vault unusable: %s", exc)
    return error_response(500, "vault_error", "the server's key vault could not be read; see the server log")


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    kind = _STATUS_TYPES.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}; the API is described at /docs"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}; the API is described at /docs"
    elif exc.status_code == 400:  # FastAPI's only 400: a body it could not decode
        message = "the request body could not be read: send UTF-8 JSON with Content-Type: application/json"
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, kind, message, headers=getattr(exc, "headers", None))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every known exception into the error envelope."""
    # Starlette types a handler as taking any Exception; each of these takes only the class
    # it is registered for, which is all Starlette ever passes it.
    handlers: dict[type[Exception], Callable[[Request, Any], Awaitable[JSONResponse]]] = {
        RequestValidationError: _on_validation,
        ApiError: _on_api_error,
        ConfigError: _on_config_error,
        ProviderError: _on_provider_error,
        VaultError: _on_vault_error,
        StarletteHTTPException: _on_http_error,
    }
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, handler)


class CatchAllMiddleware:
    """Answers any unexpected exception with a generic 500 JSON and logs it, redacted.

    FastAPI's own `Exception` handler re-raises after responding, which puts the
    traceback into the server's default log and, under test transports, into the
    client; this middleware ends the exception here instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; answer an exception that escapes it with the generic 500."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if started:  # a streamed body already began; the connection just ends
                return
            await error_response(500, "internal_error", GENERIC_500)(scope, receive, send)
