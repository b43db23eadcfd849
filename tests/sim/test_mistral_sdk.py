"""The official mistralai SDK judges the /mistral mount."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from mistralai.client import Mistral, errors, models

from closedpaw_nb.sim import SimServer

from .conftest import KEY

AUTH = {"authorization": f"Bearer {KEY}"}
MESSAGES = [
    {"role": "system", "content": "Be terse."},
    {"role": "user", "content": "Tell me about rivers"},
]


@pytest.fixture
def client(sim: SimServer, closer: Callable[[Any], Any]) -> Callable[..., Mistral]:
    def make(key: str = KEY) -> Mistral:
        return closer(Mistral(api_key=key, server_url=sim.base_url("mistral")))

    return make


def test_chat_text_usage_and_finish(sim: SimServer, client: Callable[..., Any]) -> None:
    resp = client().chat.complete(model="sim-small", messages=MESSAGES, random_seed=7)
    text = resp.choices[0].message.content
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.completion_tokens == 24 == len(text.split())
    assert resp.usage.prompt_tokens == 6 and resp.usage.total_tokens == 30


def test_random_seed_and_max_tokens(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    a = c.chat.complete(model="sim-small", messages=MESSAGES, random_seed=1).choices[0].message.content
    b = c.chat.complete(model="sim-small", messages=MESSAGES, random_seed=2).choices[0].message.content
    assert a != b
    capped = c.chat.complete(model="sim-small", messages=MESSAGES, random_seed=1, max_tokens=6)
    assert capped.choices[0].finish_reason == "length" and capped.usage.completion_tokens == 6
    assert a.startswith(capped.choices[0].message.content)


def test_stream_usage_on_finish_chunk(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    whole = c.chat.complete(model="sim-large", messages=MESSAGES)
    events = list(c.chat.stream(model="sim-large", messages=MESSAGES))
    chunks = [e.data for e in events]
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks)
    assert text == whole.choices[0].message.content
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.usage.completion_tokens == 48 == whole.usage.completion_tokens
    assert all(ch.usage is None for ch in chunks[:-1])


def test_stream_wire_ends_with_done(sim: SimServer) -> None:
    body = {"model": "sim-small", "messages": MESSAGES, "stream": True}
    r = httpx.post(sim.base_url("mistral") + "/v1/chat/completions", json=body, headers=AUTH)
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.text.endswith("data: [DONE]\n\n")


def test_models_list(sim: SimServer, client: Callable[..., Any]) -> None:
    listed = client().models.list()
    ids = [m.id for m in listed.data]
    assert {"sim-small", "sim-large"} <= set(ids)
    card = listed.data[0]
    assert isinstance(card, models.BaseModelCard) and card.capabilities.completion_chat
    assert "Simulated" in card.description


@pytest.mark.parametrize(
    "field,value", [("stream_options", {"include_usage": True}), ("max_completion_tokens", 5), ("seed", 7)]
)
def test_unknown_fields_are_422_extra_forbidden(sim: SimServer, field: str, value: Any) -> None:
    body = {"model": "sim-small", "messages": MESSAGES, field: value}
    r = httpx.post(sim.base_url("mistral") + "/v1/chat/completions", json=body, headers=AUTH)
    assert r.status_code == 422
    parsed = errors.HTTPValidationErrorData.model_validate(r.json())  # the SDK's own 422 schema
    assert parsed.detail[0].type == "extra_forbidden" and parsed.detail[0].loc == ["body", field]


def test_invalid_key_is_sdk_error_401(sim: SimServer, client: Callable[..., Any]) -> None:
    with pytest.raises(errors.SDKError) as info:
        client(key="invalid-mistral").chat.complete(model="sim-small", messages=MESSAGES)
    assert info.value.status_code == 401
    assert info.value.body.startswith('{"message":"Unauthorized","request_id":')
    assert "invalid-mistral" not in info.value.body


def test_missing_model_is_404(sim: SimServer, client: Callable[..., Any]) -> None:
    with pytest.raises(errors.SDKError) as info:
        client().chat.complete(model="missing-mistral", messages=MESSAGES)
    assert info.value.status_code == 404 and '"type":"invalid_model"' in info.value.body


def test_system_message_placement_and_request_id(sim: SimServer, client: Callable[..., Any]) -> None:
    client().chat.complete(model="sim-small", messages=MESSAGES, max_tokens=3)
    sent = sim.simulator.requests_for("mistral")[-1]
    assert sent.path == "/mistral/v1/chat/completions"
    assert sent.json["messages"][0] == {"role": "system", "content": "Be terse."}
    assert "stream_options" not in sent.json and "seed" not in sent.json
    r = httpx.get(sim.base_url("mistral") + "/v1/models", headers=AUTH)
    assert r.headers["x-request-id"] and r.headers["x-closedpaw-simulated"] == "1"


# -- structured output, tools, images (issue 18) ------------------------------------------

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ASK_WEATHER = [{"role": "user", "content": "Use get_weather for Paris"}]
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


def test_tool_call_not_streamed(sim: SimServer, client: Callable[..., Any]) -> None:
    resp = client().chat.complete(model="sim-small", messages=ASK_WEATHER, tools=[WEATHER], tool_choice="any")
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert isinstance(call, models.ToolCall)
    assert re.fullmatch(r"[a-zA-Z0-9]{9}", call.id) and call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)


def test_tool_call_streamed_whole_in_one_delta(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    whole = c.chat.complete(model="sim-small", messages=ASK_WEATHER, tools=[WEATHER])
    chunks = [e.data for e in c.chat.stream(model="sim-small", messages=ASK_WEATHER, tools=[WEATHER])]
    with_calls = [ch for ch in chunks if ch.choices[0].delta.tool_calls]
    assert len(with_calls) == 1
    (call,) = with_calls[0].choices[0].delta.tool_calls
    (expected,) = whole.choices[0].message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == (
        expected.id,
        expected.function.name,
        expected.function.arguments,
    )
    assert with_calls[0].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_tool_choice_none_and_tool_result_turn(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    none = c.chat.complete(model="sim-small", messages=ASK_WEATHER, tools=[WEATHER], tool_choice="none")
    assert none.choices[0].finish_reason == "stop" and not none.choices[0].message.tool_calls
    first = c.chat.complete(model="sim-small", messages=ASK_WEATHER, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    follow = [
        *ASK_WEATHER,
        first.choices[0].message,
        {"role": "tool", "tool_call_id": call.id, "name": "get_weather", "content": "18C"},
    ]
    reply = c.chat.complete(model="sim-small", messages=follow, tools=[WEATHER])
    assert "18C" in reply.choices[0].message.content


def test_parse_with_a_pydantic_model(sim: SimServer, client: Callable[..., Any]) -> None:
    pydantic = pytest.importorskip("pydantic")

    class City(pydantic.BaseModel):
        name: str
        population: int

    sim.simulator.near_miss_rate = 0.0
    try:
        resp = client().chat.parse(
            model="sim-small", messages=[{"role": "user", "content": "Describe a city"}], response_format=City
        )
    finally:
        sim.simulator.near_miss_rate = 0.1
    assert isinstance(resp.choices[0].message.parsed, City)
    assert sim.simulator.requests_for("mistral")[-1].json["response_format"]["type"] == "json_schema"


def test_image_chunk_is_accepted(sim: SimServer, client: Callable[..., Any]) -> None:
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": PNG}]
    resp = client().chat.complete(model="sim-small", messages=[{"role": "user", "content": content}])
    assert resp.choices[0].message.content.startswith("I see 1 image.")
    sent = sim.simulator.requests_for("mistral")[-1].json["messages"][0]["content"][1]
    assert sent == {"type": "image_url", "image_url": PNG}
