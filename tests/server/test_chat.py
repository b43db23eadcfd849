"""POST /api/chat against every wire protocol of the simulator, plain and streamed."""

from __future__ import annotations

import pytest

from closedpaw_nb.sim import Fault
from conftest import sim_config

from .conftest import error_of
from .sse import parse_sse

HI = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why is the sky blue?"}]
PROTOCOLS = ["openai", "anthropic", "google", "mistral", "ollama", "custom"]


@pytest.fixture
def every_protocol(manager, sim):
    """One provider per protocol (openai is the manager's own, with the canary key)."""
    for ptype in PROTOCOLS[1:]:
        manager.register_provider(sim_config(sim, ptype, settings={"max_retries": 0}))
    return PROTOCOLS


async def stream_events(client, body) -> list[tuple[str, dict]]:
    async with client.stream("POST", "/api/chat", json={**body, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return parse_sse([line async for line in response.aiter_lines()])


@pytest.mark.parametrize("provider", PROTOCOLS)
async def test_chat_each_protocol(client, every_protocol, provider, canary):
    response = await client.post("/api/chat", json={"provider": provider, "messages": HI})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["provider"] == provider and body["model"]
    assert body["content"].strip()
    assert body["prompt_tokens"] > 0 and body["completion_tokens"] > 0
    assert body["tokens_used"] == body["prompt_tokens"] + body["completion_tokens"]
    assert canary not in response.text


@pytest.mark.parametrize("provider", PROTOCOLS)
async def test_stream_each_protocol(client, every_protocol, provider):
    events = await stream_events(client, {"provider": provider, "messages": HI})
    names = [name for name, _ in events]
    assert names[-1] == "done" and set(names[:-1]) == {"delta"} and len(names) >= 3
    text = "".join(data["text"] for name, data in events if name == "delta")
    done = events[-1][1]
    assert done["content"] == text
    assert done["provider"] == provider and done["completion_tokens"] > 0
    assert done["ttft_ms"] is not None and done["ttft_ms"] <= done["latency_ms"]
    plain = (await client.post("/api/chat", json={"provider": provider, "messages": HI})).json()
    assert plain["content"] == text  # the simulator is deterministic: same answer either way


async def test_knobs_reach_the_provider(client, sim):
    response = await client.post(
        "/api/chat",
        json={
            "messages": HI,
            "model": "sim-large",
            "max_tokens": 3,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop": ["zzz"],
            "seed": 7,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["finish_reason"] == "length"
    assert response.json()["completion_tokens"] <= 3
    sent = [r.json for r in sim.simulator.requests if r.path.endswith("/chat/completions")][-1]
    assert sent["model"] == "sim-large" and sent["temperature"] == 0.5 and sent["seed"] == 7
    assert sent["stop"] == ["zzz"] and sent["top_p"] == 0.9


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": []}, "body.messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "body.messages.0.role"),
        ({"messages": [{"role": "user"}]}, "body.messages.0.content"),
        ({"messages": "hello"}, "body.messages"),
        ({"messages": HI, "temperature": 3}, "body.temperature"),
        ({"messages": HI, "max_tokens": 0}, "body.max_tokens"),
        ({"messages": HI, "stream": "maybe"}, "body.stream"),
        ({"messages": HI, "model": "../../etc?x=1"}, "body.model"),
        ({"messages": HI, "frequency": 1}, "body.frequency"),
        ({}, "body.messages"),
    ],
)
async def test_bad_chat_requests_name_the_field(client, body, field):
    response = await client.post("/api/chat", json=body)
    assert response.status_code == 422, response.text
    assert field in [f["field"] for f in error_of(response)["fields"]]


@pytest.mark.parametrize("stream", [False, True])
async def test_unknown_provider_is_404(client, stream):
    response = await client.post("/api/chat", json={"provider": "nope", "messages": HI, "stream": stream})
    assert response.status_code == 404
    assert "'nope'" in error_of(response)["message"]


async def test_no_provider_registered_is_404(client):
    assert (await client.delete("/api/providers/openai")).status_code == 200
    response = await client.post("/api/chat", json={"messages": HI})
    assert response.status_code == 404
    assert "POST /api/providers/register" in error_of(response)["message"]


@pytest.mark.parametrize("stream", [False, True])
async def test_an_unknown_model_before_any_text_is_a_json_404(client, canary, stream):
    # The provider's own 404: the caller named a model it does not have (a 502 would blame the gateway).
    response = await client.post("/api/chat", json={"messages": HI, "model": "missing-model", "stream": stream})
    assert response.status_code == 404
    error = error_of(response)
    assert error["type"] == "NotFoundError"
    assert error["upstream_status"] == 404 and "missing-model" in error["message"]
    assert canary not in response.text


async def test_upstream_rate_limit_is_reported_with_retry_after(client, sim):
    sim.simulator.add_fault(Fault("status", provider="openai", status=429, headers={"retry-after": "7"}))
    response = await client.post("/api/chat", json={"messages": HI})
    assert response.status_code == 502
    error = error_of(response)
    assert error["type"] == "RateLimitError" and error["retry_after"] == 7


async def test_error_mid_stream_is_an_sse_error_event(client, sim, canary):
    sim.simulator.add_fault(Fault("stream_error", provider="openai", after=2, status=500))
    events = await stream_events(client, {"messages": HI})
    names = [name for name, _ in events]
    assert names == ["delta", "delta", "error"], names
    error = events[-1][1]["error"]
    assert error["type"] in ("InternalServerError", "APIStatusError") and error["provider"] == "openai"
    assert canary not in str(events)


async def test_cut_stream_is_an_sse_error_event(client, sim):
    sim.simulator.add_fault(Fault("cut_stream", provider="openai", after=2))
    events = await stream_events(client, {"messages": HI})
    assert [n for n, _ in events][:2] == ["delta", "delta"]
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "StreamInterruptedError"


async def test_bad_key_upstream_never_echoes_the_key(client, manager, sim):
    manager.register_provider(
        sim_config(sim, "anthropic", key="invalid-key-0123456789abcdef", settings={"max_retries": 0})
    )
    response = await client.post("/api/chat", json={"provider": "anthropic", "messages": HI})
    assert response.status_code == 502
    assert error_of(response)["type"] == "AuthenticationError"
    assert "invalid-key-0123456789abcdef" not in response.text
