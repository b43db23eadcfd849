"""The official openai SDK judges the /openai/v1 mount (and Ollama's /v1 compat)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from closedpaw_nb.sim import Fault, SimServer

from .conftest import KEY

MESSAGES = [
    {"role": "system", "content": "Be terse."},
    {"role": "user", "content": "Tell me about rivers"},
]


@pytest.fixture
def client(sim: SimServer, closer: Callable[[Any], Any]) -> Callable[..., openai.OpenAI]:
    def make(key: str = KEY, **kwargs: object) -> openai.OpenAI:
        options: dict[str, object] = {"max_retries": 0, **kwargs}
        return closer(openai.OpenAI(base_url=sim.base_url("openai"), api_key=key, **options))  # type: ignore[arg-type]

    return make


def test_chat_text_usage_and_finish(sim: SimServer, client: Callable[..., Any]) -> None:
    reply = client().chat.completions.create(model="sim-small", messages=MESSAGES, seed=7)
    text = reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "sim-small"
    # sim-small answers 24 one-word tokens; the input is 2 + 4 words.
    assert reply.usage.completion_tokens == 24 == len(text.split())
    assert reply.usage.prompt_tokens == 6
    assert reply.usage.total_tokens == 30
    assert text.endswith(".")


def test_same_input_same_text_and_seed_changes_it(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    first = c.chat.completions.create(model="sim-small", messages=MESSAGES, seed=7)
    again = c.chat.completions.create(model="sim-small", messages=MESSAGES, seed=7)
    other = c.chat.completions.create(model="sim-small", messages=MESSAGES, seed=8)
    assert first.choices[0].message.content == again.choices[0].message.content
    assert first.choices[0].message.content != other.choices[0].message.content


def test_max_completion_tokens_gives_length(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    full = c.chat.completions.create(model="sim-large", messages=MESSAGES).choices[0].message.content
    reply = c.chat.completions.create(model="sim-large", messages=MESSAGES, max_completion_tokens=5)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 5
    assert full.startswith(reply.choices[0].message.content)


def test_stop_sequence(sim: SimServer, client: Callable[..., Any]) -> None:
    reply = client().chat.completions.create(model="sim-small", messages=MESSAGES, stop=["."])
    text = reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"
    assert "." not in text and text
    assert reply.usage.completion_tokens == len(text.split())


def test_stream_with_usage_matches_chat(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    whole = c.chat.completions.create(model="sim-large", messages=MESSAGES, seed=3)
    chunks = list(
        c.chat.completions.create(
            model="sim-large", messages=MESSAGES, seed=3, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant" and not chunks[0].choices[0].delta.content
    deltas = [ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert "".join(deltas) == whole.choices[0].message.content
    assert len(deltas) == whole.usage.completion_tokens == 48
    finish = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finish == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 48
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    assert all(ch.usage is None for ch in chunks[:-1])


def test_stream_without_include_usage_has_no_usage(sim: SimServer, client: Callable[..., Any]) -> None:
    chunks = list(client().chat.completions.create(model="sim-small", messages=MESSAGES, stream=True))
    assert all(ch.usage is None for ch in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stream_wire_format(sim: SimServer, client: Callable[..., Any]) -> None:
    body = {"model": "sim-small", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream(
        "POST", sim.base_url("openai") + "/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"}
    ) as r:
        raw = r.read().decode()
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert '"choices":[]' in events[-2]


def test_models_list_and_retrieve(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    ids = [m.id for m in c.models.list()]
    assert {"sim-small", "sim-large"} <= set(ids)
    assert c.models.retrieve("sim-large").id == "sim-large"
    assert "simulated" in c.models.retrieve("sim-large").owned_by


def test_invalid_key_is_authentication_error(sim: SimServer, client: Callable[..., Any]) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        client(key="invalid-key-xyz").models.list()
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert "invalid-key-xyz" not in str(info.value) and "invalid-key-xyz" not in info.value.response.text


def test_missing_key_is_401_without_code(sim: SimServer, client: Callable[..., Any]) -> None:
    r = httpx.get(sim.base_url("openai") + "/models")
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "invalid_request_error" and r.json()["error"]["code"] is None


def test_missing_model_is_not_found(sim: SimServer, client: Callable[..., Any]) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client().chat.completions.create(model="missing-model", messages=MESSAGES)
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client().models.retrieve("missing-model")


def test_system_prompt_is_a_system_message_and_request_id(sim: SimServer, client: Callable[..., Any]) -> None:
    raw = client().chat.completions.with_raw_response.create(model="sim-small", messages=MESSAGES)
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.headers["x-closedpaw-simulated"] == "1"
    sent = sim.simulator.requests_for("openai")[-1]
    assert sent.path == "/openai/v1/chat/completions"
    assert sent.json["messages"][0] == {"role": "system", "content": "Be terse."}
    assert sent.headers["authorization"] == f"Bearer {KEY}"


def test_stream_options_without_stream_is_400(sim: SimServer, client: Callable[..., Any]) -> None:
    with pytest.raises(openai.BadRequestError):
        client().chat.completions.create(model="sim-small", messages=MESSAGES, stream_options={"include_usage": True})


def test_sdk_retries_scripted_429_then_succeeds(sim: SimServer, client: Callable[..., Any]) -> None:
    sim.simulator.add_fault(Fault("status", provider="openai", status=429, headers={"retry-after-ms": "5"}))
    reply = client(max_retries=1).chat.completions.create(model="sim-small", messages=MESSAGES)
    assert reply.usage.completion_tokens == 24
    sent = sim.simulator.requests_for("openai")
    assert [r.headers.get("x-stainless-retry-count") for r in sent] == ["0", "1"]


def test_insufficient_quota_429(sim: SimServer, client: Callable[..., Any]) -> None:
    sim.simulator.add_fault(Fault("status", provider="openai", status=429, code="insufficient_quota"))
    with pytest.raises(openai.RateLimitError) as info:
        client().chat.completions.create(model="sim-small", messages=MESSAGES)
    assert info.value.code == "insufficient_quota" and info.value.type == "insufficient_quota"


def test_in_stream_error_raises_api_error_after_deltas(sim: SimServer, client: Callable[..., Any]) -> None:
    sim.simulator.add_fault(Fault("stream_error", provider="openai", after=3))
    seen: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client().chat.completions.create(model="sim-small", messages=MESSAGES, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                seen.append(chunk.choices[0].delta.content)
    assert len(seen) == 3
    assert not isinstance(info.value, openai.APIStatusError)


def test_ollama_openai_compat_needs_no_key(sim: SimServer, closer: Callable[[Any], Any]) -> None:
    c = closer(openai.OpenAI(base_url=sim.url + "/ollama/v1", api_key="ollama", max_retries=0))
    reply = c.chat.completions.create(model="sim-small", messages=MESSAGES)
    assert reply.usage.completion_tokens == 24
    assert httpx.get(sim.url + "/ollama/v1/models").status_code == 200


# -- structured output, tools, images (issue 18) ------------------------------------------

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
}
ASK_WEATHER = [{"role": "user", "content": "Use get_weather for Paris"}]
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


def test_tool_call_not_streamed_parses_into_sdk_types(sim: SimServer, client: Callable[..., Any]) -> None:
    reply = client().chat.completions.create(model="sim-small", messages=ASK_WEATHER, tools=[WEATHER])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None and choice.message.refusal is None
    (call,) = choice.message.tool_calls
    assert isinstance(call, openai.types.chat.ChatCompletionMessageFunctionToolCall)
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert isinstance(args["city"], str) and 1 <= args["days"] <= 7
    assert reply.usage.completion_tokens > 0


def test_tool_call_streamed_accumulates_like_the_whole_reply(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    whole = c.chat.completions.create(model="sim-small", messages=ASK_WEATHER, tools=[WEATHER])
    with c.chat.completions.stream(model="sim-small", messages=ASK_WEATHER, tools=[WEATHER]) as stream:
        fragments = sum(1 for e in stream if e.type == "tool_calls.function.arguments.delta")
        final = stream.get_final_completion()
    (expected,) = whole.choices[0].message.tool_calls
    (call,) = final.choices[0].message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == (
        expected.id,
        expected.function.name,
        expected.function.arguments,
    )
    assert final.choices[0].finish_reason == "tool_calls" and fragments >= 2


def test_tool_call_stream_sends_id_and_name_once_per_index(sim: SimServer, client: Callable[..., Any]) -> None:
    chunks = list(
        client().chat.completions.create(model="sim-small", messages=ASK_WEATHER, tools=[WEATHER], stream=True)
    )
    entries = [
        tc for ch in chunks if ch.choices and ch.choices[0].delta.tool_calls for tc in ch.choices[0].delta.tool_calls
    ]
    assert all(e.index == 0 for e in entries)
    assert [e.id is not None for e in entries] == [True] + [False] * (len(entries) - 1)
    assert [e.function.name is not None for e in entries].count(True) == 1
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("choice", "called"),
    [
        ("none", None),
        ("auto", "get_weather"),
        ("required", "get_weather"),
        ({"type": "function", "function": {"name": "get_time"}}, "get_time"),
    ],
)
def test_tool_choice(sim: SimServer, client: Callable[..., Any], choice: Any, called: str | None) -> None:
    clock = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
    reply = client().chat.completions.create(
        model="sim-small", messages=ASK_WEATHER, tools=[WEATHER, clock], tool_choice=choice
    )
    calls = reply.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ([called] if called else [])


def test_auto_calls_no_tool_the_prompt_does_not_name(sim: SimServer, client: Callable[..., Any]) -> None:
    reply = client().chat.completions.create(model="sim-small", messages=MESSAGES, tools=[WEATHER])
    assert reply.choices[0].finish_reason == "stop" and not reply.choices[0].message.tool_calls


def test_tool_result_turn_answers_in_text_quoting_it(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    first = c.chat.completions.create(model="sim-small", messages=ASK_WEATHER, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    follow = [*ASK_WEATHER, first.choices[0].message.model_dump(exclude_none=True)]
    follow.append({"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"})
    reply = c.chat.completions.create(model="sim-small", messages=follow, tools=[WEATHER])
    assert reply.choices[0].finish_reason == "stop"
    assert "18C and sunny" in reply.choices[0].message.content


def test_parse_with_a_pydantic_model(sim: SimServer, client: Callable[..., Any]) -> None:
    pydantic = pytest.importorskip("pydantic")

    class City(pydantic.BaseModel):
        name: str
        population: int
        capital: bool

    sim.simulator.near_miss_rate = 0.0
    try:
        reply = client().chat.completions.parse(
            model="sim-small", messages=[{"role": "user", "content": "Describe a city"}], response_format=City
        )
    finally:
        sim.simulator.near_miss_rate = 0.1
    message = reply.choices[0].message
    assert isinstance(message.parsed, City) and message.refusal is None
    body = sim.simulator.requests_for("openai")[-1].json
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True


def test_json_object_mode_and_near_misses(sim: SimServer, client: Callable[..., Any]) -> None:
    import jsonschema

    c = client()
    reply = c.chat.completions.create(
        model="sim-small",
        messages=[{"role": "user", "content": "Reply in json"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(reply.choices[0].message.content), dict)
    schema = WEATHER["function"]["parameters"]
    fmt = {"type": "json_schema", "json_schema": {"name": "w", "schema": schema, "strict": True}}
    sim.simulator.near_miss_rate = 0.5
    try:
        texts = [
            c.chat.completions.create(
                model="sim-small", messages=[{"role": "user", "content": f"City {i}"}], response_format=fmt
            )
            .choices[0]
            .message.content
            for i in range(20)
        ]
    finally:
        sim.simulator.near_miss_rate = 0.1
    valid = [jsonschema.Draft202012Validator(schema).is_valid(json.loads(t)) for t in texts]
    assert 0 < valid.count(False) < 20  # some near misses, still JSON, and some valid answers


def test_image_parts_are_accepted_and_counted(sim: SimServer, client: Callable[..., Any]) -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]
    reply = client().chat.completions.create(model="sim-small", messages=[{"role": "user", "content": content}])
    assert reply.choices[0].message.content.startswith("I see 2 images.")
