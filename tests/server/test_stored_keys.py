"""A key the server holds (vault or environment) is never sent to an origin it was not given for."""

from __future__ import annotations

import httpx
import pytest

from closedpaw_nb import ProviderConfig, ProviderManager
from closedpaw_nb.server import create_app

from .conftest import AUTH, BASE, TOKEN, error_of

FRESH = "sk-test-fresh-key-5e6f7a8b9c0d"


@pytest.fixture
async def vault_manager(canary):
    """A manager whose key lookup (a DataVault stand-in) knows the canary under two names."""
    stored = {"myproxy": canary, "openai": canary}
    mgr = ProviderManager(key_lookup=stored.get)
    yield mgr
    await mgr.close_all()


@pytest.fixture
async def vclient(vault_manager, dns):
    dns.records["evil.example"] = ["93.184.216.34"]
    app = create_app(vault_manager, token=TOKEN, allow_local_base_urls=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE, headers=AUTH) as c:
        yield c


def canary_seen(sim, canary) -> bool:
    return any(canary in str(r.headers) or canary in str(r.json) or canary in r.query for r in sim.simulator.requests)


async def test_premise_the_manager_alone_would_use_the_stored_key(vault_manager, sim, canary):
    # Without the server's rule, this registration would carry the canary to the simulator.
    provider = ProviderManager(key_lookup=vault_manager.key_lookup).register_provider(
        ProviderConfig("custom", name="myproxy", base_url=sim.base_url("custom"))
    )
    assert provider.config.api_key.reveal() == canary


async def test_vault_key_not_sent_to_a_new_origin(vclient, vault_manager, sim, canary):
    body = {
        "provider_type": "custom",
        "name": "myproxy",
        "base_url": sim.base_url("custom"),
        "default_model": "sim-small",
    }
    response = await vclient.post("/api/providers/register", json=body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["type"] == "api_key_required"
    assert "api_key" in error["message"] and "DataVault entry 'myproxy'" in error["message"]
    assert "myproxy" not in vault_manager
    chat = await vclient.post(
        "/api/chat", json={"provider": "myproxy", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert chat.status_code == 404
    assert not canary_seen(sim, canary)


async def test_env_key_not_sent_to_a_new_origin(vclient, monkeypatch, canary):
    monkeypatch.setenv("MISTRAL_API_KEY", canary)
    body = {"provider_type": "mistral", "name": "mistral-mirror", "base_url": "https://evil.example/v1"}
    response = await vclient.post("/api/providers/register", json=body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["type"] == "api_key_required"
    assert "MISTRAL_API_KEY" in error["message"] and "https://api.mistral.ai" in error["message"]
    assert canary not in response.text


async def test_cloud_type_at_a_new_origin_needs_the_key_in_the_body(vclient):
    body = {"provider_type": "anthropic", "name": "claude-proxy", "base_url": "https://evil.example"}
    response = await vclient.post("/api/providers/register", json=body)
    assert response.status_code == 422
    assert error_of(response)["type"] == "api_key_required"
    response = await vclient.post("/api/providers/register", json={**body, "api_key": FRESH})
    assert response.status_code == 201, response.text


async def test_re_registering_at_a_new_origin_needs_the_key_again(vclient, vault_manager, canary):
    official = await vclient.post("/api/providers/register", json={"provider_type": "openai"})
    assert official.status_code == 201  # the stored key goes to api.openai.com only
    assert official.json()["has_key"] is True
    assert (await vclient.delete("/api/providers/openai")).status_code == 200
    moved = await vclient.post(
        "/api/providers/register", json={"provider_type": "openai", "base_url": "https://evil.example/v1"}
    )
    assert moved.status_code == 422
    assert "openai" not in vault_manager


async def test_supplied_key_is_the_only_key_sent(vclient, sim, canary):
    body = {
        "provider_type": "custom",
        "name": "myproxy",
        "base_url": sim.base_url("custom"),
        "default_model": "sim-small",
        "api_key": FRESH,
    }
    assert (await vclient.post("/api/providers/register", json=body)).status_code == 201
    chat = await vclient.post(
        "/api/chat", json={"provider": "myproxy", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert chat.status_code == 200, chat.text
    sent = [r for r in sim.simulator.requests if r.path.endswith("/chat/completions")]
    assert sent and sent[-1].headers["authorization"] == f"Bearer {FRESH}"
    assert not canary_seen(sim, canary)


async def test_custom_without_any_stored_key_needs_none(vclient, sim):
    body = {"provider_type": "custom", "name": "keyless", "base_url": sim.base_url("custom")}
    assert (await vclient.post("/api/providers/register", json=body)).status_code == 201
