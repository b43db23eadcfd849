"""Anthropic, Gemini and Ollama beyond text, through `ProviderManager` over real HTTP to the
simulator: images on the wire in each API's form, schema answers in `parsed` (and near
misses in `parse_error`), tool calls parsed the same streamed and not, tool results sent
back in each API's shape, tool_choice per API, refusals and where the counts came from."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest
from pydantic import BaseModel

from closedpaw_nb import ChatMessage, ProviderManager
from closedpaw_nb.content import ImagePart
from closedpaw_nb.errors import ConfigError
from closedpaw_nb.providers._wire import StreamState
from closedpaw_nb.sim import Simulator, serve_in_thread
from closedpaw_nb.tools import ToolCall, run_tools
from conftest import sim_config

NATIVE = ["anthropic", "google", "ollama"]
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")


class Person(BaseModel):
    name: str
    age: int


def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: The city's name.
    """
    return f"18C in {city}"


WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
# Names the tool (the simulated models call a named tool) and asks for one (Ollama has no tool_choice).
ASK = "Use the tool get_weather: what is the weather in Paris?"


@pytest.fixture
async def manager(sim):
    manager = ProviderManager()
    for kind in NATIVE:
        manager.register_provider(sim_config(sim, kind, settings={"max_retries": 0}))
    yield manager
    await manager.close_all()


def last_body(sim, kind: str) -> dict:
    return sim.simulator.requests_for(kind)[-1].json


# -- images ----------------------------------------------------------------------------------


async def test_images_reach_each_wire_in_its_own_form(sim, manager):
    message = ChatMessage("user", ["What is in this picture?", ImagePart.from_bytes(PNG)])
    raw = base64.b64encode(PNG).decode()
    for kind in NATIVE:
        response = await manager.chat([message], provider=kind)
        assert response.content.startswith("I see 1 image."), kind
    anthropic = last_body(sim, "anthropic")["messages"][0]["content"]
    assert anthropic[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": raw}}
    assert anthropic[0] == {"type": "text", "text": "What is in this picture?"}
    google = last_body(sim, "google")["contents"][0]["parts"]
    assert google[1] == {"inlineData": {"mimeType": "image/png", "data": raw}}
    ollama = last_body(sim, "ollama")["messages"][0]
    assert ollama == {"role": "user", "content": "What is in this picture?", "images": [raw]}


async def test_url_images_go_to_anthropic_and_are_refused_where_the_api_takes_none(sim, manager):
    message = ChatMessage("user", ["What is this?", ImagePart.from_url("https://example.com/cat.png")])
    await manager.chat([message], provider="anthropic")
    block = last_body(sim, "anthropic")["messages"][0]["content"][1]
    assert block == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    for kind in ("google", "ollama"):
        with pytest.raises(ConfigError, match="not sent: .*URL"):
            await manager.chat([message], provider=kind)
        assert len(sim.simulator.requests_for(kind)) == 0


# -- structured output -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", NATIVE)
@pytest.mark.parametrize("stream", [False, True])
async def test_a_schema_answer_lands_in_parsed_as_a_model_instance(sim, manager, kind, stream):
    sim.simulator.near_miss_rate = 0.0
    try:
        if stream:
            response = await manager.stream("Who wrote it?", provider=kind, response_format=Person).get_response()
        else:
            response = await manager.chat("Who wrote it?", provider=kind, response_format=Person)
    finally:
        sim.simulator.near_miss_rate = 0.1
    assert isinstance(response.parsed, Person), (response.content, response.parse_error)
    assert response.parse_error is None and response.finish_reason == "stop"
    assert json.loads(response.content) == response.parsed.model_dump()
    assert response.usage_source == "reported" and response.completion_tokens


async def test_each_api_is_asked_for_the_schema_natively(sim, manager):
    schema = Person.model_json_schema()
    for kind in NATIVE:
        await manager.chat("Who?", provider=kind, response_format=Person)
    sent = last_body(sim, "anthropic")["output_config"]["format"]
    assert sent["type"] == "json_schema" and sent["schema"]["additionalProperties"] is False
    assert sent["schema"]["properties"] == schema["properties"]
    config = last_body(sim, "google")["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": schema}
    assert last_body(sim, "ollama")["format"] == schema
    await manager.chat("Any JSON, please", provider="ollama", response_format="json")
    assert last_body(sim, "ollama")["format"] == "json"


async def test_anthropic_json_mode_and_the_tool_setting_use_a_forced_tool(sim):
    manager = ProviderManager()
    manager.register_provider(sim_config(sim, "anthropic", settings={"structured_output": "tool"}))
    try:
        for stream in (False, True):
            call = manager.stream if stream else None
            if call is None:
                response = await manager.chat("Who?", provider="anthropic", response_format=Person)
            else:
                response = await call("Who?", provider="anthropic", response_format=Person).get_response()
            body = last_body(sim, "anthropic")
            assert "output_config" not in body
            assert body["tool_choice"] == {"type": "tool", "name": "structured_response"}
            assert body["tools"][0]["input_schema"] == Person.model_json_schema()
            # The forced tool's input is the answer: content, parsed, and not a tool call.
            assert isinstance(response.parsed, Person) and response.tool_calls == []
            assert response.finish_reason == "stop" and json.loads(response.content) == response.parsed.model_dump()
        response = await manager.chat("Anything", provider="anthropic", response_format="json")
        assert last_body(sim, "anthropic")["tools"][0]["input_schema"] == {"type": "object"}
        assert isinstance(response.parsed, dict)
    finally:
        await manager.close_all()


async def test_a_near_miss_is_a_parse_error_not_an_exception():
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    with serve_in_thread(simulator=Simulator(time_scale=0, near_miss_rate=1.0)) as server:
        manager = ProviderManager()
        for kind in NATIVE:
            manager.register_provider(sim_config(server, kind))
        try:
            for kind in NATIVE:
                response = await manager.chat("Describe someone", provider=kind, response_format=schema)
                assert response.parsed is None, kind
                assert response.parse_error and "does not match" in response.parse_error, kind
                assert json.loads(response.content)  # JSON, just not valid against the schema
        finally:
            await manager.close_all()


# -- tools -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", NATIVE)
async def test_tool_calls_parse_the_same_streamed_and_not(sim, manager, kind):
    options = {"provider": kind, "tools": [WEATHER], "tool_choice": "required"}
    whole = await manager.chat(ASK, **options)
    streamed = await manager.stream(ASK, **options).get_response()
    for response in (whole, streamed):
        assert response.finish_reason == "tool_calls"
        assert [type(c) for c in response.tool_calls] == [ToolCall]
        assert response.tool_calls[0].name == "get_weather"
        assert set(response.tool_calls[0].arguments) == {"city"} and response.tool_calls[0].parse_error is None
        assert response.usage_source == "reported"
    # Gemini's thought signature is per response: equal calls, each with its own signature.
    assert [replace(c, signature=None) for c in streamed.tool_calls] == [
        replace(c, signature=None) for c in whole.tool_calls
    ]
    assert (streamed.tool_calls[0].signature is None) == (whole.tool_calls[0].signature is None) == (kind != "google")


async def test_anthropic_stream_fragments_are_joined(sim, manager):
    response = await manager.stream(
        ASK, provider="anthropic", tools=[WEATHER], tool_choice="get_weather"
    ).get_response()
    wire = sim.simulator.requests_for("anthropic")[-1]
    assert wire.json["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert response.tool_calls[0].id.startswith("toolu_") and response.content == ""


@pytest.mark.parametrize("kind", NATIVE)
async def test_a_tool_result_round_trips_through_run_tools(sim, manager, kind):
    run = await run_tools(manager.chat, ASK, [get_weather], tool_choice="required", provider=kind)
    assert run.rounds == 2
    call = run.messages[1].tool_calls[0]
    assert run.content == f"The tool returned: 18C in {call.arguments['city']}."
    body = last_body(sim, kind)
    if kind == "anthropic":
        assistant, result = body["messages"][1:]
        assert assistant["content"] == [
            {"type": "tool_use", "id": call.id, "name": "get_weather", "input": call.arguments}
        ]
        assert result["role"] == "user"
        assert result["content"] == [
            {"type": "tool_result", "tool_use_id": call.id, "content": run.messages[2].content}
        ]
    elif kind == "google":
        model, result = body["contents"][1:]
        # The call goes back as it came, with its thought signature (Gemini 3 refuses it without).
        assert call.signature and len(base64.b64decode(call.signature)) == 24
        part = {"functionCall": {"name": "get_weather", "args": call.arguments}, "thoughtSignature": call.signature}
        assert model == {"role": "model", "parts": [part]}
        output = run.messages[2].content
        assert result == {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": output}}}],
        }
        assert call.id == "call_0"  # Gemini sent no id: a made-up one is never sent back
    else:
        assistant, result = body["messages"][1:]
        assert assistant["tool_calls"][0]["function"] == {
            "index": 0,
            "name": "get_weather",
            "arguments": call.arguments,
        }
        assert result == {
            "role": "tool",
            "content": run.messages[2].content,
            "tool_name": "get_weather",
            "tool_call_id": call.id,
        }


@pytest.mark.parametrize(
    ("choice", "anthropic", "google"),
    [
        ("auto", {"type": "auto"}, {"mode": "AUTO"}),
        ("none", {"type": "none"}, {"mode": "NONE"}),
        ("required", {"type": "any"}, {"mode": "ANY"}),
        (
            "get_weather",
            {"type": "tool", "name": "get_weather"},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
async def test_tool_choice_maps_per_api(sim, manager, choice, anthropic, google):
    tools = [WEATHER, {**WEATHER, "name": "get_time", "description": "The time."}]
    for kind in NATIVE:
        await manager.chat("What is the weather in Paris?", provider=kind, tools=tools, tool_choice=choice)
    body = last_body(sim, "anthropic")
    assert body["tool_choice"] == anthropic
    assert body["tools"][0] == {
        "name": "get_weather",
        "description": WEATHER["description"],
        "input_schema": WEATHER["parameters"],
    }
    body = last_body(sim, "google")
    assert body["toolConfig"] == {"functionCallingConfig": google}
    assert body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] == WEATHER["parameters"]
    # Ollama has no tool_choice: "none" sends no tools, a name only that tool.
    sent = [t["function"]["name"] for t in last_body(sim, "ollama").get("tools", [])]
    assert sent == {"none": [], "get_weather": ["get_weather"]}.get(choice, ["get_weather", "get_time"])


async def test_tool_choice_none_means_a_text_answer(sim, manager):
    for kind in ("anthropic", "google"):
        response = await manager.chat(ASK, provider=kind, tools=[WEATHER], tool_choice="none")
        assert response.tool_calls == [] and response.finish_reason == "stop" and response.content


# -- refusals and usage provenance -------------------------------------------------------------


def test_anthropic_refusal_fills_refusal(manager):
    provider = manager.get_provider("anthropic")
    state = StreamState("m")
    provider.parse_response(
        {
            "content": [],
            "stop_reason": "refusal",
            "stop_details": {"type": "refusal", "category": "cyber", "explanation": "Not this."},
            "usage": {"input_tokens": 5, "output_tokens": 0},
        },
        state,
    )
    response = provider._response(state, latency_ms=1.0)
    assert response.refusal == "Not this." and response.finish_reason == "content_filter"
    assert response.usage_source == "reported" and response.provider_details == {"raw_finish_reason": "refusal"}


def test_usage_source_is_missing_when_the_api_sent_no_counts(manager):
    ollama = manager.get_provider("ollama")
    state = StreamState("m")
    ollama.parse_response({"model": "m", "message": {"role": "assistant", "content": "hi"}, "done": True}, state)
    response = ollama._response(state, latency_ms=1.0)
    assert response.usage_source == "missing" and response.completion_tokens is None
    google = manager.get_provider("google")
    state = StreamState("m")
    google.parse_response({"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}]}, state)
    response = google._response(state, latency_ms=1.0)
    assert response.usage_source == "missing" and response.prompt_tokens is None
