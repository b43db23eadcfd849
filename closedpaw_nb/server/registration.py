"""Registering a provider over HTTP: the checks a notebook caller does not need.

A registration comes in one of two forms: the JSON body (`RegisterRequest`), or the
seed's query parameters `provider_type`, `name`, `base_url` and `default_model` with
no body. `registration_request()` turns either into a `RegisterRequest`, so both meet
exactly the same checks. The query form can carry no key: a key in a URL ends up in
access logs, so `deps.no_keys_in_query` refuses one before any route runs.

In order: a duplicate name is a 409; an unsafe base_url is a 422 (see `urlcheck`);
a key the server holds (DataVault entry or environment variable) is only ever used
with the provider's official origin, so a registration that points elsewhere must
carry its own `api_key`; a provider that needs a key and has none is a 422 saying
where the key goes; then the manager validates and stores the provider.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import ValidationError

from ..config import ProviderConfig, resolve_api_key
from ..manager import ProviderManager
from ..providers import BaseProvider, provider_class
from ..types import ProviderType
from .errors import ApiError
from .models import BaseURL, ModelName, ProviderInfo, ProviderName, RegisterRequest
from .urlcheck import Resolver, check_base_url, classify_ip, origin, refusal, system_resolve

__all__ = ["SeedQuery", "register", "registration_request", "seed_query"]

KEY_IN_BODY = (
    "send the key in the JSON body of POST /api/providers/register, e.g. "
    '{"provider_type": "openai", "api_key": "..."}; a key is never accepted in a query string'
)
_SEED_FORM = "The seed's form (deprecated): a registration given as query parameters, with no body. "


@dataclass(frozen=True)
class SeedQuery:
    """The seed's registration query parameters; None where one was not given."""

    provider_type: ProviderType | None = None
    name: str | None = None
    base_url: str | None = None
    default_model: str | None = None

    def given(self) -> list[str]:
        """The names of the parameters that were given, in declaration order."""
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]


async def seed_query(
    request: Request,
    provider_type: Annotated[
        ProviderType | None,
        Query(deprecated=True, description=_SEED_FORM + "Which API the provider speaks; required in this form."),
    ] = None,
    name: Annotated[
        ProviderName | None, Query(deprecated=True, description=_SEED_FORM + "Unique name; defaults to provider_type.")
    ] = None,
    base_url: Annotated[
        BaseURL | None,
        Query(deprecated=True, description=_SEED_FORM + "API root; omit for the provider's official endpoint."),
    ] = None,
    default_model: Annotated[
        ModelName | None, Query(deprecated=True, description=_SEED_FORM + "Model used when a chat names none.")
    ] = None,
) -> SeedQuery:
    """The seed's query parameters of `POST /api/providers/register` (a FastAPI dependency).

    No `api_key` parameter exists, on purpose: keys go in the JSON body only.

    Raises:
        ApiError: 422 when one of them is given twice (which value was meant is unknowable).
    """
    seed = SeedQuery(provider_type, name, base_url, default_model)
    repeated = [p for p in seed.given() if len(request.query_params.getlist(p)) > 1]
    if repeated:
        raise ApiError(
            422,
            "validation_error",
            f"query parameter(s) {', '.join(repeated)} given more than once; give each at most once",
            fields=[{"field": f"query.{p}", "problem": "given more than once"} for p in repeated],
        )
    return seed


def registration_request(body: RegisterRequest | None, seed: SeedQuery, raw_body: bytes) -> RegisterRequest:
    """The registration a request describes, in whichever single form it used.

    `raw_body` tells "no body" from a body that did not become a RegisterRequest (a
    JSON `null`, which some FastAPI versions read as no body).

    Raises:
        ApiError: 400 when a body and query parameters are both given; 422 when neither
            is, or when the body is not a JSON object.
    """
    given = seed.given()
    sent_body = bool(raw_body.strip())
    if sent_body and given:
        raise ApiError(
            400,
            "bad_request",
            "send a registration either as a JSON body or as query parameters "
            f"(got both: the body and {', '.join(given)}); use one, preferably "
            "the JSON body (the query parameters are the seed's deprecated form)",
        )
    if body is not None:
        return body
    if sent_body:
        raise ApiError(
            422,
            "validation_error",
            'the body must be a JSON object such as {"provider_type": "ollama"}',
            fields=[{"field": "body", "problem": "Input should be an object"}],
        )
    if seed.provider_type is None:
        raise _nothing_to_register(given)
    return _from_query(seed)


def _nothing_to_register(given: list[str]) -> ApiError:
    where = "query.provider_type" if given else "body"
    return ApiError(
        422,
        "validation_error",
        'a registration needs a JSON body such as {"provider_type": "openai", "api_key": "..."}, or '
        "the seed's query parameters with at least provider_type (provider_type, name, base_url, "
        "default_model; no key)",
        fields=[{"field": where, "problem": "Field required"}],
    )


def _from_query(seed: SeedQuery) -> RegisterRequest:
    """The query form as the body it stands for (the query types already checked it)."""
    try:
        return RegisterRequest(**{name: getattr(seed, name) for name in seed.given()})
    except ValidationError as exc:  # a second line only: never a 500, never an input echoed
        problems = [{"field": ".".join(("query", *map(str, e["loc"]))), "problem": e["msg"]} for e in exc.errors()]
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        raise ApiError(422, "validation_error", f"invalid query parameters: {summary}", fields=problems[:20]) from None


def _at_official_origin(base_url: str | None, official: str | None) -> bool:
    return base_url is None or (official is not None and origin(base_url) == origin(official))


def address_check(provider_type: ProviderType, allow_local: bool) -> Callable[[str], str | None]:
    """The SSRF policy `check_base_url` applies at registration, as a per-address check the
    HTTP client runs on every address it is about to connect to (see `HTTPClient`): a name
    that resolves differently later (DNS rebinding) meets the same rule."""

    def check(address: str) -> str | None:
        return refusal(address, classify_ip(ipaddress.ip_address(address)), provider_type, allow_local)

    return check


def _config(body: RegisterRequest, name: str, allow_local: bool) -> ProviderConfig:
    """The ProviderConfig the body describes (its own validation raises ConfigError)."""
    settings: dict[str, Any] = body.settings.model_dump(exclude_none=True) if body.settings else {}
    settings["address_check"] = address_check(body.provider_type, allow_local)
    key = body.api_key.get_secret_value() if body.api_key is not None else None
    return ProviderConfig(
        body.provider_type,
        name=name,
        api_key=key,
        base_url=body.base_url,
        models=list(body.models),
        default_model=body.default_model,
        enabled=body.enabled,
        rate_limit=body.rate_limit,
        timeout=body.timeout,
        settings=settings,
    )


def _refuse_stored_key(
    config: ProviderConfig, cls: type[BaseProvider], manager: ProviderManager, official: str | None
) -> None:
    """Raise 422 when a key the server holds would go to an origin it was not given for."""
    if config.api_key or _at_official_origin(config.base_url, official):
        return
    stored = resolve_api_key(config, cls.env_api_key, manager.key_lookup)
    if not (cls.needs_api_key or stored):
        return  # no key at all will be sent: nothing to protect
    where = f"its official endpoint {official}" if official else "no custom endpoint"
    sources = " or ".join((f"the DataVault entry {config.name!r}", *cls.env_api_key))
    raise ApiError(
        422,
        "api_key_required",
        f"{config.name!r} points at {config.base_url}, which is not {config.provider_type}'s official "
        f"endpoint; a key the server holds ({sources}) is only sent to {where}. "
        'Include api_key in the JSON request body ({"api_key": "..."}, never in the query string) '
        "to use a key with this endpoint.",
    )


def _refuse_missing_key(config: ProviderConfig, cls: type[BaseProvider], manager: ProviderManager) -> None:
    """Raise 422 when the provider needs a key and none is known, saying where the key goes.

    The manager refuses the same config, but its advice (`api_key=...`) is for Python
    callers; an HTTP caller, above all one using the seed's query form, must learn that
    the key belongs in the JSON body.
    """
    if not cls.needs_api_key or resolve_api_key(config, cls.env_api_key, manager.key_lookup):
        return
    sources = " or ".join((f"a DataVault entry {config.name!r}", *cls.env_api_key))
    raise ApiError(
        422,
        "api_key_required",
        f"{config.name!r} ({config.provider_type}) needs an API key and the server holds none "
        f"({sources}): {KEY_IN_BODY}",
    )


async def register(
    manager: ProviderManager, body: RegisterRequest, *, allow_local: bool, resolve: Resolver = system_resolve
) -> ProviderInfo:
    """Check and register the provider `body` describes; return how it is now shown.

    Raises:
        ApiError: 409 for a duplicate name, 422 when a stored key would go to a new origin
            or a key is needed and none is known.
        UnsafeBaseURLError: The base_url may not be used (422).
        ConfigError: The manager refused the config (422).
    """
    name = body.name or body.provider_type.value
    _refuse_duplicate(manager, name)
    cls = provider_class(body.provider_type)
    official = cls.official_base_url()
    if body.base_url is not None:
        await check_base_url(
            body.base_url, body.provider_type, allow_local=allow_local, official=official, resolve=resolve
        )
    config = _config(body, name, allow_local)
    _refuse_stored_key(config, cls, manager, official)
    _refuse_missing_key(config, cls, manager)
    _refuse_duplicate(manager, name)  # again: another request may have taken it during the lookup
    manager.register_provider(config)
    return ProviderInfo(**manager.get_status()["providers"][name])


def _refuse_duplicate(manager: ProviderManager, name: str) -> None:
    if name in manager:
        raise ApiError(
            409,
            "conflict",
            f"a provider named {name!r} is already registered; pick another name or DELETE /api/providers/{name} first",
        )
