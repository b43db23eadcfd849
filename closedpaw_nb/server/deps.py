"""What every API route shares.

The manager, the 404 for unknown names, the bearer scheme in the docs, the refusal of
unknown query parameters, and the documented error responses.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPBearer

from ..manager import ProviderManager
from .errors import ApiError
from .models import ErrorBody

__all__ = ["API_DEPENDENCIES", "ERRORS", "NOT_FOUND", "UPSTREAM", "Manager", "ProviderName", "get_manager",
           "known_query_only", "require_provider"]

# Documents the bearer scheme in OpenAPI (the "Authorize" button in /docs). The check
# itself is BearerTokenMiddleware, which also covers /docs, /openapi.json and unknown paths.
bearer_scheme = HTTPBearer(auto_error=False, description="The token printed when the server started.")

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A Host header that is not allowed, or a body that is not UTF-8 JSON."},
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token."},
    422: {"model": ErrorBody, "description": "A field is invalid; `error.fields` says which."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No provider of that name."}}
UPSTREAM: dict[int | str, dict[str, Any]] = {502: {"model": ErrorBody, "description": "The provider failed."}}

ProviderName = Annotated[str, Path(max_length=200, description="A registered provider name.")]


async def known_query_only(request: Request) -> None:
    """Refuse (422) query parameters the route does not take.

    Unknown body fields are refused too: a misspelt `?timout=` would otherwise be
    ignored without a word.
    """
    allowed = _query_names(request.scope["route"].dependant)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise ApiError(422, "validation_error",
                       f"unknown query parameter(s) {shown}; this route takes {', '.join(sorted(allowed)) or 'none'}",
                       fields=[{"field": f"query.{name[:40]}", "problem": "unknown parameter"} for name in unknown[:20]])


def _query_names(dependant: Any) -> frozenset[str]:
    """The query parameters a route declares, its dependencies' included."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


# Every API route documents the bearer scheme and refuses unknown query parameters.
API_DEPENDENCIES = [Security(bearer_scheme), Depends(known_query_only)]


def get_manager(request: Request) -> ProviderManager:
    """The ProviderManager this app serves."""
    return request.app.state.manager  # type: ignore[no-any-return]


Manager = Annotated[ProviderManager, Depends(get_manager)]


def require_provider(manager: ProviderManager, name: str) -> str:
    """`name` if it is registered, else a 404 that lists the registered names."""
    if name not in manager:
        known = ", ".join(manager.names) or "none"
        raise ApiError(404, "not_found", f"no provider named {name!r} (registered: {known}); "
                                         "register it with POST /api/providers/register")
    return name

