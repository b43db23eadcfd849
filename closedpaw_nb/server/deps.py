"""What every API route shares.

The manager, the 404 for unknown names, the bearer scheme in the docs, the refusal of
keys and unknown parameters in the query string, and the documented error responses.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPBearer

from ..manager import ProviderManager
from .errors import ApiError
from .models import ErrorBody

__all__ = [
    "API_DEPENDENCIES",
    "ERRORS",
    "NOT_FOUND",
    "UPSTREAM",
    "Manager",
    "ProviderName",
    "get_manager",
    "is_key_like",
    "known_query_only",
    "no_keys_in_query",
    "require_provider",
]

# Documents the bearer scheme in OpenAPI (the "Authorize" button in /docs). The check
# itself is BearerTokenMiddleware, which also covers /docs, /openapi.json and unknown paths.
bearer_scheme = HTTPBearer(auto_error=False, description="The token printed when the server started.")

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "A Host header that is not allowed, a body that is not UTF-8 JSON, "
        "or a key-like query parameter (keys go in a JSON body).",
    },
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token."},
    413: {"model": ErrorBody, "description": "The request body is over the server's cap (`--max-body-bytes`)."},
    422: {"model": ErrorBody, "description": "A field is invalid; `error.fields` says which."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No provider of that name."}}
UPSTREAM: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "The provider has no such model (its own 404)."},
    502: {"model": ErrorBody, "description": "The provider failed."},
}

ProviderName = Annotated[str, Path(max_length=200, description="A registered provider name.")]


# Parameter names (lower-cased, punctuation dropped) that would carry a credential:
# api_key, apiKey, API-KEY, key, token, access_token, x-api-key, openai_api_key...
_KEY_NAMES = frozenset(
    {"key", "auth", "authorization", "bearer", "credential", "credentials", "password", "passwd", "secret"}
)
_KEY_SUFFIXES = ("apikey", "token", "secret", "secretkey", "privatekey", "accesskey", "password")


def is_key_like(name: str) -> bool:
    """Whether a query parameter name looks like it carries an API key or token."""
    folded = re.sub(r"[^a-z0-9]", "", name.lower())
    return folded in _KEY_NAMES or folded.endswith(_KEY_SUFFIXES)


async def no_keys_in_query(request: Request) -> None:
    """Refuse (400) a key-like query parameter on every route, whatever its value.

    No route takes a key in the URL: URLs are written to access logs, proxies and
    browser history. The answer says where a key belongs and never repeats the value
    (`_redact.SecretFilter` scrubs such parameters from uvicorn's access log line).
    """
    names = sorted({name for name in request.query_params if is_key_like(name)})
    if not names:
        return
    # Only short names are repeated back: a long "name" may itself be a pasted key.
    short = [n if len(n) <= 24 else "…" for n in names[:5]]
    shown = ", ".join(repr(n) for n in short)
    raise ApiError(
        400,
        "key_in_query",
        f"query parameter {shown} looks like an API key or token; keys are never accepted in a URL "
        "(URLs are logged): send a provider key in the JSON body of POST /api/providers/register, "
        'e.g. {"provider_type": "openai", "api_key": "..."}, and the API token in the Authorization '
        "header. A key sent in a URL may already be in a log somewhere: consider rotating it.",
        fields=[{"field": f"query.{n}", "problem": "keys are not accepted in a URL"} for n in short],
    )


async def known_query_only(request: Request) -> None:
    """Refuse (422) query parameters the route does not take.

    Unknown body fields are refused too: a misspelt `?timout=` would otherwise be
    ignored without a word.
    """
    allowed = _query_names(request.scope["route"].dependant)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise ApiError(
            422,
            "validation_error",
            f"unknown query parameter(s) {shown}; this route takes {', '.join(sorted(allowed)) or 'none'}",
            fields=[{"field": f"query.{name[:40]}", "problem": "unknown parameter"} for name in unknown[:20]],
        )


def _query_names(dependant: Any) -> frozenset[str]:
    """The query parameters a route declares, its dependencies' included."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


# Every API route documents the bearer scheme and refuses keys, then unknown names, in
# the query string (in that order, so that `?api_key=` gets the answer about keys).
API_DEPENDENCIES = [Security(bearer_scheme), Depends(no_keys_in_query), Depends(known_query_only)]


def get_manager(request: Request) -> ProviderManager:
    """The ProviderManager this app serves."""
    manager: ProviderManager = request.app.state.manager  # Starlette's app state is untyped
    return manager


Manager = Annotated[ProviderManager, Depends(get_manager)]


def require_provider(manager: ProviderManager, name: str) -> str:
    """`name` if it is registered, else a 404 that lists the registered names."""
    if name not in manager:
        known = ", ".join(manager.names) or "none"
        raise ApiError(
            404,
            "not_found",
            f"no provider named {name!r} (registered: {known}); register it with POST /api/providers/register",
        )
    return name
