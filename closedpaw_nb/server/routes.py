"""Provider management routes (the seed's paths and meanings) and the liveness route.

Static paths (`/api/providers/health`, `/api/providers/models`, `/api/providers/register`)
are declared before the ones with a `{provider_name}` segment, so a name can never
shadow them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from ..transport.redact import redact
from ..types import HealthStatus, ModelInfo
from .deps import (
    API_DEPENDENCIES,
    ERRORS,
    NOT_FOUND,
    UPSTREAM,
    Manager,
    ProviderName,
    require_provider,
)
from .models import (
    AllModels,
    DefaultSet,
    Deleted,
    ErrorBody,
    HealthEntry,
    HealthReport,
    Liveness,
    ModelEntry,
    ProviderInfo,
    ProviderModels,
    ProvidersStatus,
    RegisterRequest,
)
from .registration import SeedQuery, register, registration_request, seed_query

__all__ = ["liveness_router", "providers_router"]

liveness_router = APIRouter()
providers_router = APIRouter(
    prefix="/api/providers", tags=["providers"], responses=ERRORS, dependencies=API_DEPENDENCIES
)


@liveness_router.get("/healthz", tags=["liveness"], summary="Liveness (no token needed)")
async def healthz() -> Liveness:
    """Answers while the process is up; says nothing about providers and needs no token."""
    return Liveness()


@providers_router.get("", summary="Status of all providers")
async def list_providers(manager: Manager) -> ProvidersStatus:
    """Every registered provider's public config (`has_key` and a fingerprint, never a key)."""
    return ProvidersStatus(**manager.get_status())


@providers_router.get("/health", summary="Health of all providers")
async def health(
    manager: Manager,
    timeout: Annotated[float, Query(gt=0, le=60, description="Seconds each probe may take.")] = 15.0,
) -> HealthReport:
    """Probe every provider concurrently with an unbilled models call.

    One slow provider costs only its own timeout.
    """
    statuses = await manager.check_health_all(timeout=timeout)
    entries = {name: _health_entry(status) for name, status in statuses.items()}
    return HealthReport(healthy=sum(e.ok for e in entries.values()), total=len(entries), providers=entries)


@providers_router.get("/models", summary="Models of all providers")
async def all_models(manager: Manager) -> AllModels:
    """Model ids of every enabled provider, fetched concurrently; a failing provider maps to []."""
    return AllModels(models=await manager.list_all_models())


@providers_router.post(
    "/register",
    status_code=201,
    summary="Register a provider",
    responses={
        400: {
            "model": ErrorBody,
            "description": "Both a JSON body and query parameters, a key-like query "
            "parameter, a Host header that is not allowed, or a body that "
            "is not UTF-8 JSON.",
        },
        409: {"model": ErrorBody, "description": "The name is taken."},
    },
)
async def register_provider(
    request: Request,
    manager: Manager,
    seed: Annotated[SeedQuery, Depends(seed_query)],
    # Typed without `| None` so that the schema offers an object, not `null`, as the
    # body; the None default makes the body optional (the seed's form has none).
    body: Annotated[
        RegisterRequest,
        Body(
            description="The registration (the current form). Leave the body out only to use the "
            "seed's query parameters."
        ),
    ] = None,  # type: ignore[assignment]  # optional body: see above
) -> ProviderInfo:
    """Register a provider, described by a JSON body or by the seed's query parameters.

    The seed's form (`?provider_type=...&name=...&base_url=...&default_model=...`, no
    body) is deprecated but works for providers that need no key or whose key the server
    holds for their official endpoint: a key is never accepted in a query string (400),
    it goes in the JSON body. Both forms at once are a 400.

    Either way the base_url is checked (http(s) only, no credentials, no link-local or
    metadata addresses, local addresses only for ollama/custom when the server allows
    them), and a key the server holds is never sent to a new origin.
    """
    # The raw bytes tell "no body" from one that was sent; FastAPI has already read and cached them.
    registration = registration_request(body, seed, await request.body())
    state = request.app.state
    return await register(manager, registration, allow_local=state.allow_local_base_urls, resolve=state.resolve)


@providers_router.get("/{provider_name}/models", summary="Models of one provider", responses={**NOT_FOUND, **UPSTREAM})
async def provider_models(provider_name: ProviderName, manager: Manager) -> ProviderModels:
    """Models from the provider's models endpoint, or its configured list if that fails.

    `models` holds the ids (the seed's answer); `details` the same models with their
    display name and context length where the API gives them.
    """
    provider = manager.get_provider(require_provider(manager, provider_name))
    # list_model_info() accepts what any list_models() returns, plain strings included;
    # a failing listing raises and maps like any provider error (errors.py).
    infos = await provider.list_model_info() if provider is not None else []
    return ProviderModels(
        provider=provider_name, models=[m.id for m in infos], details=[_model_entry(m) for m in infos]
    )


@providers_router.post("/{provider_name}/default", summary="Set the default provider", responses=NOT_FOUND)
async def set_default(provider_name: ProviderName, manager: Manager) -> DefaultSet:
    """Make this provider the one a chat uses when it names none."""
    manager.set_default(require_provider(manager, provider_name))
    return DefaultSet(default=provider_name)


@providers_router.delete("/{provider_name}", summary="Remove a provider", responses=NOT_FOUND)
async def delete_provider(provider_name: ProviderName, manager: Manager) -> Deleted:
    """Unregister the provider and close its connections."""
    await manager.unregister(require_provider(manager, provider_name))
    return Deleted(deleted=provider_name, default=manager.default)


def _health_entry(status: HealthStatus) -> HealthEntry:
    row = status.to_dict()
    row["detail"] = redact(row["detail"])
    return HealthEntry(**row)


def _model_entry(model: ModelInfo) -> ModelEntry:
    return ModelEntry(id=model.id, display_name=model.display_name, context_length=model.context_length)
