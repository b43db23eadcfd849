"""The seed's own client calls keep working, or fail clearly.

The seed registered providers with query parameters (`?provider_type=...&name=...`, no
body) and its models route answered `{"provider": ..., "models": [<id>, ...]}`. Both
forms are served; a key is never taken from a query string, and never logged.
"""

from __future__ import annotations

import logging

import httpx
import pytest

from closedpaw_nb import ChatResponse, ProviderConfig, ProviderManager
from closedpaw_nb.errors import APIConnectionError
from closedpaw_nb.providers import BaseProvider
from closedpaw_nb.server import create_app, start_server
from closedpaw_nb.server.deps import is_key_like
from conftest import sim_config

from .conftest import AUTH, BASE, TOKEN, error_of

REGISTER = "/api/providers/register"
SEED_PARAMS = {"provider_type", "name", "base_url", "default_model"}
KEY_NAMES = [
    "api_key",
    "API_KEY",
    "apikey",
    "apiKey",
    "Api-Key",
    "key",
    "token",
    "Token",
    "access_token",
    "x-api-key",
    "openai_api_key",
]
# Not key-shaped and never registered anywhere: only the `?api_key=` rule can scrub it.
PLAIN_KEY = "PlainQueryKey0123456789abcdef"


def seed_params(sim, name="seed-llm", **extra) -> dict:
    """The seed's registration of an OpenAI-compatible server, as query parameters."""
    return {
        "provider_type": "custom",
        "name": name,
        "base_url": sim.base_url("custom"),
        "default_model": "sim-small",
        **extra,
    }


def without_name(info: dict) -> dict:
    return {k: v for k, v in info.items() if k != "name"}


async def names(client) -> set[str]:
    return set((await client.get("/api/providers")).json()["providers"])


# -- registration in the seed's form ------------------------------------------------------


async def test_query_form_registers_exactly_as_the_json_form(client, sim):
    by_query = await client.post(REGISTER, params=seed_params(sim))
    assert by_query.status_code == 201, by_query.text
    by_body = await client.post(REGISTER, json=seed_params(sim, name="json-llm"))
    assert by_body.status_code == 201, by_body.text
    assert by_query.json()["name"] == "seed-llm"
    assert without_name(by_query.json()) == without_name(by_body.json())
    assert by_query.json()["has_key"] is False


async def test_query_form_for_ollama_and_the_default_name(client, sim):
    response = await client.post(REGISTER, params={"provider_type": "ollama", "base_url": sim.base_url("ollama")})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "ollama" and response.json()["has_key"] is False
    models = await client.get("/api/providers/ollama/models")
    assert models.status_code == 200 and "sim-small:latest" in models.json()["models"]
    chat = await client.post(
        "/api/chat",
        json={"provider": "ollama", "model": "sim-small:latest", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert chat.status_code == 200, chat.text
    assert chat.json()["provider"] == "ollama"


async def test_query_form_meets_the_same_checks(client, make_app, sim):
    unsafe = await client.post(REGISTER, params=seed_params(sim, base_url="http://169.254.169.254/latest"))
    assert unsafe.status_code == 422 and error_of(unsafe)["type"] == "unsafe_base_url"
    assert (await client.post(REGISTER, params=seed_params(sim))).status_code == 201
    again = await client.post(REGISTER, params=seed_params(sim))
    assert again.status_code == 409 and error_of(again)["type"] == "conflict"
    no_url = await client.post(REGISTER, params={"provider_type": "custom", "name": "nourl"})
    assert no_url.status_code == 422 and "base_url" in error_of(no_url)["message"]
    strict = make_app(allow_local_base_urls=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(strict), base_url=BASE, headers=AUTH) as c:
        local = await c.post(REGISTER, params=seed_params(sim, name="other"))
    assert local.status_code == 422 and "--allow-local" in error_of(local)["message"]
    assert "other" not in await names(client) and "nourl" not in await names(client)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"provider_type": "skynet"}, "query.provider_type"),
        ({"provider_type": "custom", "name": "has space"}, "query.name"),
        ({"provider_type": "custom", "name": ""}, "query.name"),
        ({"provider_type": "custom", "base_url": ""}, "query.base_url"),
        ({"provider_type": "custom", "default_model": "bad model?x=1"}, "query.default_model"),
    ],
)
async def test_bad_query_values_name_the_parameter(client, params, field):
    response = await client.post(REGISTER, params=params)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["type"] == "validation_error"
    assert field in [f["field"] for f in error["fields"]] and field in error["message"]


async def test_query_form_needs_provider_type(client):
    response = await client.post(REGISTER, params={"name": "x"})
    assert response.status_code == 422
    error = error_of(response)
    assert error["fields"] == [{"field": "query.provider_type", "problem": "Field required"}]
    assert "JSON body" in error["message"]


async def test_no_body_and_no_parameters_says_what_to_send(client):
    response = await client.post(REGISTER)
    assert response.status_code == 422
    error = error_of(response)
    assert error["type"] == "validation_error" and error["fields"][0]["field"] == "body"
    assert "JSON body" in error["message"] and "provider_type" in error["message"]


async def test_json_null_is_not_taken_for_no_body(client, sim):
    null = {"content": b"null", "headers": {"content-type": "application/json"}}
    response = await client.post(REGISTER, **null)
    assert response.status_code == 422 and error_of(response)["fields"][0]["field"] == "body"
    both = await client.post(REGISTER, params=seed_params(sim), **null)
    assert both.status_code in (400, 422), both.text
    assert "seed-llm" not in await names(client)


async def test_body_and_query_together_are_refused(client, sim):
    response = await client.post(REGISTER, params={"name": "from-query"}, json=seed_params(sim, name="from-body"))
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "bad_request"
    assert "JSON body or as query parameters" in error["message"] and "name" in error["message"]
    assert not {"from-query", "from-body"} & await names(client)


async def test_unknown_and_repeated_query_parameters_are_refused(client, sim):
    for extra in ({"models": "sim-small"}, {"timeout": "30"}, {"Provider_Type": "custom"}):
        response = await client.post(REGISTER, params=seed_params(sim, **extra))
        assert response.status_code == 422, (extra, response.text)
        error = error_of(response)
        assert f"'{next(iter(extra))}'" in error["message"]
        assert all(p in error["message"] for p in SEED_PARAMS)  # says what the route takes
    twice = await client.post(REGISTER, params=[("provider_type", "custom"), ("name", "a"), ("name", "b")])
    assert twice.status_code == 422 and "more than once" in error_of(twice)["message"]
    assert not {"seed-llm", "a", "b"} & await names(client)


# -- keys never travel in a query string --------------------------------------------------


@pytest.mark.parametrize("key_name", KEY_NAMES)
async def test_a_key_in_the_query_string_is_refused(client, sim, canary, key_name):
    response = await client.post(REGISTER, params=seed_params(sim, **{key_name: canary}))
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "key_in_query"
    assert "JSON body" in error["message"] and '"api_key"' in error["message"]
    assert canary not in response.text and canary not in str(response.headers)
    assert "seed-llm" not in await names(client)


def test_what_counts_as_a_key_like_name():
    assert all(is_key_like(name) for name in KEY_NAMES)
    assert all(is_key_like(name) for name in ("secret", "Password", "authorization", "client_secret", "id-token"))
    assert not any(is_key_like(name) for name in (*SEED_PARAMS, "timeout", "models", "monkey", "keys_count"))


async def test_a_key_in_the_query_string_is_refused_with_a_body_and_on_every_route(client, sim, canary):
    with_body = await client.post(REGISTER, params={"api_key": canary}, json=seed_params(sim))
    assert with_body.status_code == 400 and error_of(with_body)["type"] == "key_in_query"
    for method, path in [
        ("GET", "/api/providers"),
        ("GET", "/api/providers/openai/models"),
        ("POST", "/api/chat"),
        ("DELETE", "/api/providers/openai"),
    ]:
        response = await client.request(method, path, params={"token": canary})
        assert response.status_code == 400, (method, path, response.text)
        assert canary not in response.text
    assert "openai" in await names(client)  # the DELETE did not happen


async def test_a_long_key_like_name_is_not_repeated(client, canary):
    response = await client.get("/api/providers", params={f"{canary}-token": "1"})
    assert response.status_code == 400
    assert canary not in response.text and canary[:20] not in response.text


async def test_missing_key_says_it_goes_in_the_json_body(client, monkeypatch):
    for var in ("OPENAI_API_KEY", "MISTRAL_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    by_query = await client.post(REGISTER, params={"provider_type": "mistral"})
    by_body = await client.post(REGISTER, json={"provider_type": "mistral"})
    for response in (by_query, by_body):
        assert response.status_code == 422, response.text
        error = error_of(response)
        assert error["type"] == "api_key_required"
        assert "JSON body" in error["message"] and '"api_key"' in error["message"]
        assert "MISTRAL_API_KEY" in error["message"] and "query string" in error["message"]
    assert "mistral" not in await names(client)


@pytest.fixture
async def vclient(canary, dns):
    """A client of a server whose key lookup (a DataVault stand-in) holds the canary."""
    stored = {"openai": canary, "myproxy": canary}
    manager = ProviderManager(key_lookup=stored.get)
    app = create_app(manager, token=TOKEN, allow_local_base_urls=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE, headers=AUTH) as c:
        yield c
    await manager.close_all()


async def test_query_form_uses_a_stored_key_only_at_the_official_origin(vclient, sim, canary):
    official = await vclient.post(REGISTER, params={"provider_type": "openai"})
    assert official.status_code == 201, official.text
    assert official.json()["has_key"] is True and official.json()["base_url"] == "https://api.openai.com/v1"
    moved = await vclient.post(REGISTER, params=seed_params(sim, name="myproxy"))
    assert moved.status_code == 422
    error = error_of(moved)
    assert error["type"] == "api_key_required" and "JSON request body" in error["message"]
    assert canary not in official.text + moved.text
    assert not any(canary in str(r.headers) for r in sim.simulator.requests)


def test_openapi_documents_the_seed_form_as_deprecated(app):
    operation = app.openapi()["paths"][REGISTER]["post"]
    params = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    assert set(params) == SEED_PARAMS
    assert all(p["deprecated"] is True and not p.get("required") for p in params.values())
    assert all("seed's form" in p["description"] for p in params.values())
    assert operation["requestBody"].get("required") is not True
    assert "400" in operation["responses"] and "api_key" not in params


# -- the models route in the seed's shape -------------------------------------------------


class SeedStyleProvider(BaseProvider):
    """A provider written against the seed: `list_models()` returns plain strings."""

    async def chat(self, messages, model=None, **kwargs):
        return ChatResponse(content="ok", model=self.resolve_model(model), provider=self.name)

    async def list_models(self):
        return ["seed-b", "seed-a"]


class UnreachableProvider(SeedStyleProvider):
    async def list_models(self):
        raise APIConnectionError("could not connect to the model server", provider=self.name)


async def test_models_are_ids_with_details_beside_them(client):
    response = await client.get("/api/providers/openai/models")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"provider", "models", "details"}
    assert body["provider"] == "openai"
    assert all(isinstance(m, str) for m in body["models"]) and "sim-small" in body["models"]
    assert [d["id"] for d in body["details"]] == body["models"]
    assert all(set(d) == {"id", "display_name", "context_length"} for d in body["details"])


async def test_models_of_a_provider_returning_plain_strings(client, manager):
    manager.register_provider(
        ProviderConfig("custom", name="seedish", default_model="seed-a"), provider_class=SeedStyleProvider
    )
    response = await client.get("/api/providers/seedish/models")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "provider": "seedish",
        "models": ["seed-b", "seed-a"],
        "details": [
            {"id": "seed-b", "display_name": None, "context_length": None},
            {"id": "seed-a", "display_name": None, "context_length": None},
        ],
    }


async def test_a_failing_listing_keeps_its_error(client, manager, sim):
    manager.register_provider(
        ProviderConfig("custom", name="down", default_model="m"), provider_class=UnreachableProvider
    )
    response = await client.get("/api/providers/down/models")
    assert response.status_code == 502
    error = error_of(response)
    assert error["type"] == "APIConnectionError" and error["provider"] == "down"
    manager.register_provider(
        sim_config(sim, "openai", name="badkey", key="invalid-key-0123456789", settings={"max_retries": 0})
    )
    response = await client.get("/api/providers/badkey/models")
    assert response.status_code == 502 and error_of(response)["upstream_status"] == 401


# -- a real uvicorn: the access log never shows a key -------------------------------------


@pytest.fixture
def logged_server(sim, canary, caplog):
    """uvicorn on 127.0.0.1 with its access log on, its records captured by caplog."""
    manager = ProviderManager()
    manager.register_provider(sim_config(sim, "anthropic", key=canary))
    server = start_server(create_app(manager, token=TOKEN, allow_local_base_urls=True), log_level="info")
    access = logging.getLogger("uvicorn.access")  # it does not propagate to the root logger
    access.addHandler(caplog.handler)
    yield server
    access.removeHandler(caplog.handler)
    server.stop()


def test_access_log_never_shows_a_key_from_the_query_string(logged_server, sim, canary, caplog, capfd):
    caplog.set_level(logging.INFO)
    planted = [
        ("api_key", canary),
        ("apikey", PLAIN_KEY),
        ("API_KEY", PLAIN_KEY),
        ("token", PLAIN_KEY),
        ("key", PLAIN_KEY),
        ("access_token", PLAIN_KEY),
    ]
    with httpx.Client(base_url=logged_server.url, headers=AUTH, timeout=10) as client:
        for name, value in planted:
            response = client.post(REGISTER, params={"provider_type": "ollama", name: value})
            assert response.status_code == 400, response.text
            assert value not in response.text and value not in str(response.headers)
        assert client.post(REGISTER, params=seed_params(sim)).status_code == 201  # the keyless seed form
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    refused = [line for line in lines if f"{REGISTER}?" in line and '" 400' in line]
    assert len(refused) == len(planted), lines  # the request lines were logged, query and all...
    assert all("=***" in line for line in refused), refused  # ...with the key masked
    assert any('" 201' in line for line in lines)
    out, err = capfd.readouterr()
    for text in (caplog.text, "\n".join(lines), out, err):
        assert canary not in text and PLAIN_KEY not in text
