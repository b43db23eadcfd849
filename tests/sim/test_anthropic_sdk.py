"""The official anthropic SDK judges the /anthropic mount."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import pytest

from closedpaw_nb.sim import Fault, SimServer

from .conftest import KEY

MESSAGES = [{"role": "user", "content": "Tell me about rivers"}]


@pytest.fixture
def client(sim: SimServer, closer: Callable[[Any], Any]) -> Callable[..., anthropic.Anthropic]:
    def make(key: str = KEY, **kwargs: object) -> anthropic.Anthropic:
        options: dict[str, object] = {"max_retries": 0, **kwargs}
        return closer(anthropic.Anthropic(base_url=sim.base_url("anthropic"), api_key=key, **options))  # type: ignore[arg-type]

    return make


def test_chat_text_usage_and_stop_reason(sim: SimServer, client: Callable[..., Any]) -> None:
    msg = client().messages.create(model="sim-small", max_tokens=100, system="Be terse.", messages=MESSAGES)
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    text = msg.content[0].text
    assert msg.usage.output_tokens == 24 == len(text.split())
    assert msg.usage.input_tokens == 6
    assert msg.role == "assistant" and msg.model == "sim-small"


def test_max_tokens_and_stop_sequence(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    capped = c.messages.create(model="sim-small", max_tokens=4, messages=MESSAGES)
    assert capped.stop_reason == "max_tokens" and capped.usage.output_tokens == 4
    stopped = c.messages.create(model="sim-small", max_tokens=100, messages=MESSAGES, stop_sequences=["."])
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "."
    assert "." not in stopped.content[0].text


def test_max_tokens_is_required(sim: SimServer, client: Callable[..., Any]) -> None:
    r = httpx.post(
        sim.base_url("anthropic") + "/v1/messages",
        json={"model": "sim-small", "messages": MESSAGES},
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["request_id"] == r.headers["request-id"]


def test_stream_events_match_chat(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    # This SDK version has no temperature argument; the wire field still exists.
    args = {"model": "sim-large", "max_tokens": 100, "messages": MESSAGES, "extra_body": {"temperature": 0.5}}
    whole = c.messages.create(**args)
    events = list(c.messages.create(**args, stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [e.delta.text for e in events if e.type == "content_block_delta"]
    assert "".join(deltas) == whole.content[0].text
    assert events[-2].usage.output_tokens == len(deltas) == whole.usage.output_tokens
    assert events[-2].delta.stop_reason == "end_turn"
    assert events[0].message.usage.input_tokens == whole.usage.input_tokens


def test_stream_helper_accumulates_final_message(sim: SimServer, client: Callable[..., Any]) -> None:
    with client().messages.stream(model="sim-small", max_tokens=10, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.content[0].text == text
    assert final.usage.output_tokens == 10 and final.stop_reason == "max_tokens"


def test_ping_event_on_the_wire(sim: SimServer, client: Callable[..., Any]) -> None:
    body = {"model": "sim-small", "max_tokens": 5, "messages": MESSAGES, "stream": True}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    raw = httpx.post(sim.base_url("anthropic") + "/v1/messages", json=body, headers=headers)
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert "event: ping\n" in raw.text and "[DONE]" not in raw.text


def test_models_paging_with_limit_1(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    first = c.models.list(limit=1)
    assert len(first.data) == 1 and first.has_more is True
    assert first.first_id == first.last_id == first.data[0].id
    ids = [m.id for m in c.models.list(limit=1)]  # auto-pagination follows after_id
    assert ids == ["sim-small", "sim-large"]
    back = c.models.list(limit=1, before_id="sim-large")
    assert [m.id for m in back.data] == ["sim-small"] and back.has_more is False
    info = c.models.retrieve("sim-large")
    assert "simulated" in info.display_name
    sent = sim.simulator.requests_for("anthropic")
    assert any("after_id=sim-small" in r.query for r in sent)


def test_invalid_key_is_authentication_error(sim: SimServer, client: Callable[..., Any]) -> None:
    with pytest.raises(anthropic.AuthenticationError) as info:
        client(key="invalid-abc").messages.create(model="sim-small", max_tokens=5, messages=MESSAGES)
    assert info.value.status_code == 401
    assert info.value.body["error"]["type"] == "authentication_error"
    assert info.value.body["request_id"].startswith("req_")
    assert "invalid-abc" not in info.value.response.text


def test_x_api_key_header_and_version_are_accepted(sim: SimServer, client: Callable[..., Any]) -> None:
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    assert httpx.get(sim.base_url("anthropic") + "/v1/models", headers=headers).status_code == 200
    no_version = httpx.get(sim.base_url("anthropic") + "/v1/models", headers={"x-api-key": KEY})
    assert no_version.status_code == 400
    assert httpx.get(sim.base_url("anthropic") + "/v1/models").status_code == 401


def test_missing_model_is_not_found(sim: SimServer, client: Callable[..., Any]) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        client().messages.create(model="missing-claude", max_tokens=5, messages=MESSAGES)
    assert info.value.body["error"]["type"] == "not_found_error"


def test_system_is_top_level_and_request_id_header(sim: SimServer, client: Callable[..., Any]) -> None:
    raw = client().messages.with_raw_response.create(
        model="sim-small", max_tokens=5, system="Be terse.", messages=MESSAGES
    )
    assert raw.headers["request-id"].startswith("req_")
    sent = sim.simulator.requests_for("anthropic")[-1]
    assert sent.json["system"] == "Be terse."
    assert all(m["role"] != "system" for m in sent.json["messages"])
    assert sent.headers["anthropic-version"]  # this SDK sends 2026-10-21; 2023-06-01 is also accepted


def test_529_is_overloaded_error(sim: SimServer, client: Callable[..., Any]) -> None:
    sim.simulator.add_fault(Fault("status", provider="anthropic", status=529))
    with pytest.raises(anthropic.OverloadedError) as info:
        client().messages.create(model="sim-small", max_tokens=5, messages=MESSAGES)
    assert info.value.status_code == 529
    assert info.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_sdk_retries_529_then_succeeds(sim: SimServer, client: Callable[..., Any]) -> None:
    sim.simulator.add_fault(Fault("status", provider="anthropic", status=529, headers={"retry-after-ms": "5"}))
    msg = client(max_retries=1).messages.create(model="sim-small", max_tokens=5, messages=MESSAGES)
    assert msg.usage.output_tokens == 5
    assert len(sim.simulator.requests_for("anthropic")) == 2


def test_in_stream_error_event(sim: SimServer, client: Callable[..., Any]) -> None:
    sim.simulator.add_fault(Fault("stream_error", provider="anthropic", after=2))
    texts: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as info:
        for event in client().messages.create(model="sim-small", max_tokens=50, messages=MESSAGES, stream=True):
            if event.type == "content_block_delta":
                texts.append(event.delta.text)
    assert len(texts) == 2
    # The error arrives after a 200, so the SDK's status error still carries 200.
    assert info.value.status_code == 200
    assert info.value.body["error"]["type"] == "overloaded_error"


# -- tools, images and structured output (issue 18) ----------------------------------------

TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"


def test_tool_use_block_with_forced_choice(sim: SimServer, client: Callable[..., Any]) -> None:
    msg = client().messages.create(
        model="sim-small", max_tokens=100, messages=ASK, tools=TOOLS, tool_choice={"type": "any"}
    )
    assert msg.stop_reason == "tool_use"
    (block,) = msg.content
    assert isinstance(block, anthropic.types.ToolUseBlock)
    assert block.name == "get_weather" and set(block.input) == {"city"} and block.id.startswith("toolu_")
    assert msg.usage.output_tokens > 0


def test_streamed_tool_use_accumulates_to_the_same_call(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    args: dict[str, Any] = {"model": "sim-small", "max_tokens": 100, "messages": ASK, "tools": TOOLS}
    whole = c.messages.create(**args, tool_choice={"type": "tool", "name": "get_weather"})
    with c.messages.stream(**args, tool_choice={"type": "tool", "name": "get_weather"}) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use" and final.content == whole.content
    assert final.usage.output_tokens == whole.usage.output_tokens
    fragments = [e.delta.partial_json for e in events if e.type == "content_block_delta"]
    assert fragments[0] == "" and len(fragments) > 2 and json.loads("".join(fragments)) == whole.content[0].input
    starts = [e for e in events if e.type == "content_block_start"]
    assert [s.content_block.type for s in starts] == ["tool_use"] and starts[0].content_block.input == {}


def test_no_tool_call_under_auto_without_its_name_or_under_none(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    auto = c.messages.create(model="sim-small", max_tokens=50, messages=MESSAGES, tools=TOOLS)
    assert auto.stop_reason == "end_turn" and auto.content[0].type == "text"
    ask_by_name = [{"role": "user", "content": "Call get_weather for Rome"}]
    none = c.messages.create(
        model="sim-small", max_tokens=50, messages=ask_by_name, tools=TOOLS, tool_choice={"type": "none"}
    )
    assert none.stop_reason == "end_turn"
    named = c.messages.create(model="sim-small", max_tokens=50, messages=ask_by_name, tools=TOOLS)
    assert named.stop_reason == "tool_use"
    sent = sim.simulator.requests_for("anthropic")[-2].json
    assert sent["tool_choice"] == {"type": "none"} and sent["tools"][0]["input_schema"]["required"] == ["city"]


def test_tool_result_turn_is_answered(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    first = c.messages.create(model="sim-small", max_tokens=50, messages=ASK, tools=TOOLS, tool_choice={"type": "any"})
    call = first.content[0]
    messages = [
        *ASK,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C"}]},
    ]
    final = c.messages.create(model="sim-small", max_tokens=50, messages=messages, tools=TOOLS)
    assert final.stop_reason == "end_turn" and final.content[0].text == "The tool returned: 18C."


def test_image_blocks_are_read_and_bad_base64_is_a_400(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}
    url = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}}
    content = [image, url, {"type": "text", "text": "What is this?"}]
    msg = c.messages.create(model="sim-small", max_tokens=50, messages=[{"role": "user", "content": content}])
    assert msg.content[0].text.startswith("I see 2 images.")
    broken = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "@@not base64@@"}}
    with pytest.raises(anthropic.BadRequestError) as info:
        c.messages.create(model="sim-small", max_tokens=5, messages=[{"role": "user", "content": [broken]}])
    assert info.value.body["error"]["type"] == "invalid_request_error"


def test_native_structured_output_parses_into_the_model(sim: SimServer, client: Callable[..., Any]) -> None:
    from pydantic import BaseModel

    class Person(BaseModel):
        name: str
        age: int

    sim.simulator.near_miss_rate = 0.0
    try:
        c = client()
        parsed = c.messages.parse(model="sim-small", max_tokens=100, messages=MESSAGES, output_format=Person)
        with c.messages.stream(model="sim-small", max_tokens=100, messages=MESSAGES, output_format=Person) as stream:
            streamed = stream.get_final_message()
    finally:
        sim.simulator.near_miss_rate = 0.1
    assert isinstance(parsed.parsed_output, Person)
    assert streamed.parsed_output == parsed.parsed_output
    sent = sim.simulator.requests_for("anthropic")[-1].json
    assert sent["output_config"]["format"]["type"] == "json_schema"


def test_forced_tool_structured_output(sim: SimServer, client: Callable[..., Any]) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    record = [{"name": "record_person", "description": "Record a person.", "input_schema": schema}]
    msg = client().messages.create(
        model="sim-small",
        max_tokens=100,
        messages=MESSAGES,
        tools=record,
        tool_choice={"type": "tool", "name": "record_person"},
    )
    assert msg.stop_reason == "tool_use" and msg.content[0].name == "record_person"
    assert isinstance(msg.content[0].input["name"], str)
