"""The provider management routes against simulator-backed providers, and their bad inputs."""

from __future__ import annotations

import pytest

from conftest import sim_config

from .conftest import error_of

TYPES = ["ollama", "openai", "anthropic", "google", "mistral", "custom"]


def custom_body(sim, name="local-llm", **extra):
    return {
        "provider_type": "custom",
        "name": name,
        "base_url": sim.base_url("custom"),
        "api_key": "sk-test-local-0123456789",
        "default_model": "sim-small",
        **extra,
    }


async def test_status_shows_has_key_and_fingerprint_never_the_key(client, canary):
    response = await client.get("/api/providers")
    assert response.status_code == 200
    body = response.json()
    assert body["default"] == "openai"
    info = body["providers"]["openai"]
    assert info["has_key"] is True
    assert info["key_fingerprint"].startswith("sha256:") and len(info["key_fingerprint"]) == 15
    assert canary not in response.text
    assert canary[-8:] not in response.text and canary[:16] not in response.text


async def test_register_then_listed(client, sim):
    response = await client.post("/api/providers/register", json=custom_body(sim))
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "local-llm"
    assert response.json()["has_key"] is True
    assert "sk-test-local-0123456789" not in response.text
    listed = (await client.get("/api/providers")).json()["providers"]
    assert set(listed) == {"openai", "local-llm"}
    assert listed["local-llm"]["base_url"] == sim.base_url("custom")
    assert "sk-test-local-0123456789" not in str(listed)


async def test_register_ollama_at_the_simulator(client, sim):
    body = {
        "provider_type": "ollama",
        "name": "ollama-sim",
        "base_url": sim.base_url("ollama"),
        "models": ["sim-small"],
        "default_model": "sim-small",
        "rate_limit": 600,
        "timeout": 30,
        "settings": {"max_retries": 0},
    }
    response = await client.post("/api/providers/register", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["rate_limit"] == 600
    assert response.json()["has_key"] is False


async def test_invalid_provider_type(client):
    response = await client.post("/api/providers/register", json={"provider_type": "skynet", "name": "x"})
    assert response.status_code == 422
    error = error_of(response)
    assert error["type"] == "validation_error"
    assert error["fields"][0]["field"] == "body.provider_type"
    for t in TYPES:
        assert t in error["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "has space"}, "body.name"),
        ({"name": "a:b"}, "body.name"),
        ({"name": ""}, "body.name"),
        ({"timeout": -1}, "body.timeout"),
        ({"timeout": "soon"}, "body.timeout"),
        ({"rate_limit": 0}, "body.rate_limit"),
        ({"models": "sim-small"}, "body.models"),
        ({"default_model": "bad model?x=1"}, "body.default_model"),
        ({"enabled": "perhaps"}, "body.enabled"),
        ({"api_keys": "sk-typo"}, "body.api_keys"),  # unknown field: no silent drop
        ({"api_key": "has a space"}, "body.api_key"),
        ({"settings": {"follow_redirects": True}}, "body.settings.follow_redirects"),
        ({"settings": {"max_retries": 99}}, "body.settings.max_retries"),
        ({"settings": {"extra_headers": {"X-Evil": "a\r\nb"}}}, "body.settings.extra_headers.X-Evil"),
    ],
)
async def test_bad_fields_name_the_field(client, sim, change, field):
    response = await client.post("/api/providers/register", json=custom_body(sim, **change))
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["type"] == "validation_error"
    assert field in [f["field"] for f in error["fields"]]
    assert field in error["message"]
    assert "local-llm" not in (await client.get("/api/providers")).json()["providers"]


async def test_validation_errors_never_echo_the_input(client, sim, canary):
    response = await client.post("/api/providers/register", json=custom_body(sim, api_key=f"{canary} x"))
    assert response.status_code == 422
    response2 = await client.post("/api/providers/register", json={"provider_type": canary})
    assert response2.status_code == 422
    response3 = await client.post("/api/providers/register", json=custom_body(sim, **{canary: 1}))
    assert response3.status_code == 422
    for r in (response, response2, response3):
        assert canary not in r.text


async def test_malformed_and_missing_bodies(client):
    response = await client.post(
        "/api/providers/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert error_of(response)["type"] == "validation_error"
    response = await client.post("/api/providers/register", json={"name": "x"})
    assert response.status_code == 422
    assert "body.provider_type" in error_of(response)["message"]


async def test_config_errors_from_the_manager_are_422(client):
    response = await client.post("/api/providers/register", json={"provider_type": "custom", "name": "nourl"})
    assert response.status_code == 422
    error = error_of(response)
    assert error["type"] == "config_error"
    assert "base_url" in error["message"]


async def test_duplicate_name_is_409(client, sim):
    assert (await client.post("/api/providers/register", json=custom_body(sim))).status_code == 201
    again = await client.post("/api/providers/register", json=custom_body(sim))
    assert again.status_code == 409
    error = error_of(again)
    assert error["type"] == "conflict"
    assert "local-llm" in error["message"] and "DELETE" in error["message"]
    clash = await client.post("/api/providers/register", json=custom_body(sim, name="openai"))
    assert clash.status_code == 409


async def test_models_of_one_provider(client):
    response = await client.get("/api/providers/openai/models")
    assert response.status_code == 200
    body = response.json()
    assert body["provider"] == "openai"
    assert "sim-small" in body["models"]  # the seed's shape: ids
    assert [m["id"] for m in body["details"]] == body["models"]


async def test_unknown_provider_is_404_with_a_clear_message(client):
    for method, path in [
        ("GET", "/api/providers/nope/models"),
        ("POST", "/api/providers/nope/default"),
        ("DELETE", "/api/providers/nope"),
    ]:
        response = await client.request(method, path)
        assert response.status_code == 404, path
        error = error_of(response)
        assert error["type"] == "not_found"
        assert "'nope'" in error["message"] and "registered: openai" in error["message"]


async def test_upstream_failure_is_502_with_its_type(client, manager, sim):
    manager.register_provider(
        sim_config(sim, "openai", name="badkey", key="invalid-key-0123456789", settings={"max_retries": 0})
    )
    response = await client.get("/api/providers/badkey/models")
    assert response.status_code == 502
    error = error_of(response)
    assert error["type"] == "AuthenticationError"
    assert error["provider"] == "badkey" and error["upstream_status"] == 401
    assert "invalid-key-0123456789" not in response.text


async def test_models_of_all_providers(client, manager, sim):
    for ptype in ("anthropic", "google", "mistral"):
        manager.register_provider(sim_config(sim, ptype))
    response = await client.get("/api/providers/models")
    assert response.status_code == 200
    models = response.json()["models"]
    assert set(models) == {"openai", "anthropic", "google", "mistral"}
    assert all("sim-small" in ids for ids in models.values()), models


async def test_health_of_all_providers(client, manager, sim, canary):
    manager.register_provider(sim_config(sim, "anthropic"))
    manager.register_provider(sim_config(sim, "mistral", name="broken", key="invalid-0123456789"))
    response = await client.get("/api/providers/health", params={"timeout": 5})
    assert response.status_code == 200
    body = response.json()
    assert (body["healthy"], body["total"]) == (2, 3)
    assert body["providers"]["openai"]["status"] == "ok"
    assert body["providers"]["openai"]["model_count"] >= 1
    assert body["providers"]["broken"]["status"] == "auth_failed"
    assert not body["providers"]["broken"]["ok"]
    assert canary not in response.text and "invalid-0123456789" not in response.text


async def test_health_timeout_is_validated(client):
    response = await client.get("/api/providers/health", params={"timeout": 0})
    assert response.status_code == 422
    assert "query.timeout" in error_of(response)["message"]


async def test_set_default(client, manager, sim):
    manager.register_provider(sim_config(sim, "anthropic"))
    response = await client.post("/api/providers/anthropic/default")
    assert response.status_code == 200
    assert response.json() == {"default": "anthropic"}
    assert (await client.get("/api/providers")).json()["default"] == "anthropic"
    chat = await client.post("/api/chat", json={"messages": [{"role": "user", "content": "hi"}]})
    assert chat.json()["provider"] == "anthropic"


async def test_delete(client, manager, sim):
    assert (await client.post("/api/providers/register", json=custom_body(sim))).status_code == 201
    response = await client.delete("/api/providers/openai")
    assert response.status_code == 200
    assert response.json() == {"deleted": "openai", "default": "local-llm"}
    assert "openai" not in manager
    assert (await client.delete("/api/providers/openai")).status_code == 404


async def test_static_routes_are_not_taken_for_names(client, manager, sim):
    # A provider may even be called "health" or "models": the static routes still win for GET.
    manager.register_provider(sim_config(sim, "openai", name="health"))
    manager.register_provider(sim_config(sim, "openai", name="models"))
    assert "healthy" in (await client.get("/api/providers/health")).json()
    assert "models" in (await client.get("/api/providers/models")).json()
    assert (await client.get("/api/providers/models/models")).json()["provider"] == "models"
    assert (await client.delete("/api/providers/health")).json()["deleted"] == "health"


async def test_unknown_route_and_method_are_json(client):
    response = await client.get("/api/nothing")
    assert response.status_code == 404
    assert "/docs" in error_of(response)["message"]
    response = await client.put("/api/providers")
    assert response.status_code == 405
    assert error_of(response)["type"] == "method_not_allowed"
    assert "GET" in response.headers["allow"]


async def test_unexpected_error_is_a_generic_500(client, manager, canary, monkeypatch, caplog):
    def explode():
        raise RuntimeError(f"boom {canary} in /home/someone/closedpaw_nb/manager.py line 1")

    monkeypatch.setattr(manager, "get_status", explode)
    response = await client.get("/api/providers")
    assert response.status_code == 500
    error = error_of(response)
    assert error["type"] == "internal_error"
    for leak in (canary, "boom", "/home/", "manager.py", "Traceback", "RuntimeError"):
        assert leak not in response.text
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "boom" in logged and canary not in logged  # logged for the operator, redacted


async def test_unknown_query_parameters_are_422(client):
    response = await client.get("/api/providers/health", params={"timout": 5})
    assert response.status_code == 422
    error = error_of(response)
    assert "'timout'" in error["message"] and "takes timeout" in error["message"]
    assert error["fields"] == [{"field": "query.timout", "problem": "unknown parameter"}]
    response = await client.get("/api/providers", params={"verbose": 1})
    assert response.status_code == 422 and "takes none" in error_of(response)["message"]


async def test_undecodable_body_is_400_with_advice(client):
    response = await client.post("/api/chat", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert response.status_code in (400, 422)
    assert "JSON" in error_of(response)["message"]
