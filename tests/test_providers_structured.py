"""Images, structured output, tool calls and usage provenance on the OpenAI-compatible family
(openai, mistral, custom), over real HTTP to the simulator through `ProviderManager`."""

from __future__ import annotations

import json

import pytest

from closedpaw_nb import ProviderManager
from closedpaw_nb.content import image
from closedpaw_nb.tools import Tool, run_tools
from closedpaw_nb.types import ChatMessage, ChatResponse
from conftest import sim_config

FAMILY = ["openai", "mistral", "custom"]
MOUNT = {"custom": "openai"}
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478"
    "9c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)
CITY = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "population": {"type": "integer", "minimum": 0},
        "founded": {"type": "string", "format": "date"},
    },
    "required": ["name", "population"],
    "additionalProperties": False,
}


def get_weather(city: str, days: int = 1) -> str:
    """Weather forecast for a city.

    Args:
        city: The city's name.
        days: How many days ahead.
    """
    return f"sunny in {city} for {days} day(s)"


@pytest.fixture
async def manager(sim):
    mgr = ProviderManager()
    for provider_type in FAMILY:
        mgr.register_provider(sim_config(sim, provider_type))
    yield mgr
    await mgr.close_all()


def last_body(sim, provider_type: str) -> dict:
    return sim.simulator.requests_for(MOUNT.get(provider_type, provider_type))[-1].json


@pytest.fixture
def near_misses(sim):
    """Set the simulator's near-miss rate for one test."""
    old = sim.simulator.near_miss_rate

    def set_rate(rate: float) -> None:
        sim.simulator.near_miss_rate = rate

    yield set_rate
    sim.simulator.near_miss_rate = old


@pytest.mark.parametrize("provider_type", FAMILY)
async def test_images_go_out_as_image_url_parts(sim, manager, provider_type):
    message = ChatMessage("user", ["What is this?", image(PNG), image("https://example.com/chart.png")])
    response = await manager.chat([message], provider=provider_type)
    parts = last_body(sim, provider_type)["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "What is this?"}
    assert parts[1]["type"] == "image_url" and parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert parts[2] == {"type": "image_url", "image_url": {"url": "https://example.com/chart.png"}}
    assert response.content.startswith("I see 2 images.")


@pytest.mark.parametrize("provider_type", FAMILY)
@pytest.mark.parametrize("stream", [False, True])
async def test_json_schema_answer_lands_in_parsed(sim, manager, near_misses, provider_type, stream):
    near_misses(0.0)
    response = await ask(manager, provider_type, stream, "Describe a city", response_format=CITY)
    assert response.parse_error is None
    assert isinstance(response.parsed, dict) and set(response.parsed) >= {"name", "population"}
    assert json.loads(response.content) == response.parsed
    fmt = last_body(sim, provider_type)["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    # strict mode: every property required, the optional one nullable
    assert fmt["json_schema"]["schema"]["required"] == ["name", "population", "founded"]
    assert fmt["json_schema"]["schema"]["properties"]["founded"]["type"] == ["string", "null"]


@pytest.mark.parametrize("provider_type", FAMILY)
async def test_a_pydantic_model_gives_an_instance(manager, near_misses, provider_type):
    pydantic = pytest.importorskip("pydantic")

    class City(pydantic.BaseModel):
        name: str
        population: int

    near_misses(0.0)
    response = await manager.chat("Describe a city", provider=provider_type, response_format=City)
    assert isinstance(response.parsed, City)


@pytest.mark.parametrize("provider_type", FAMILY)
async def test_json_mode(sim, manager, provider_type):
    response = await manager.chat("Answer in JSON", provider=provider_type, response_format="json")
    assert last_body(sim, provider_type)["response_format"] == {"type": "json_object"}
    assert isinstance(response.parsed, dict) and "answer" in response.parsed


@pytest.mark.parametrize("provider_type", FAMILY)
async def test_near_misses_are_parse_errors_not_exceptions(manager, near_misses, provider_type):
    near_misses(1.0)
    response = await manager.chat("Describe a city", provider=provider_type, response_format=CITY)
    assert response.parsed is None
    assert response.parse_error and "schema" in response.parse_error
    assert isinstance(json.loads(response.content), dict)  # still JSON: a near miss, not garbage


async def ask(manager, provider_type: str, stream: bool, prompt, **options) -> ChatResponse:
    if not stream:
        return await manager.chat(prompt, provider=provider_type, **options)
    chat_stream = manager.stream(prompt, provider=provider_type, **options)
    async for _ in chat_stream:
        pass
    return chat_stream.response


@pytest.mark.parametrize("provider_type", FAMILY)
async def test_tool_calls_parse_the_same_streamed_and_not(manager, provider_type):
    whole = await ask(manager, provider_type, False, "Call get_weather for Paris", tools=[get_weather])
    streamed = await ask(manager, provider_type, True, "Call get_weather for Paris", tools=[get_weather])
    assert whole.finish_reason == streamed.finish_reason == "tool_calls"
    assert [c.to_dict() for c in whole.tool_calls] == [c.to_dict() for c in streamed.tool_calls]
    (call,) = whole.tool_calls
    assert call.name == "get_weather" and isinstance(call.arguments["city"], str) and call.parse_error is None
    assert whole.usage_source == streamed.usage_source == "reported"


@pytest.mark.parametrize("provider_type", FAMILY)
async def test_tool_result_round_trip_with_run_tools(sim, manager, provider_type):
    run = await run_tools(manager.chat, "Call get_weather please", [get_weather], provider=provider_type)
    assert run.rounds == 2 and not run.response.tool_calls
    assert "sunny in" in run.response.content
    messages = last_body(sim, provider_type)["messages"]
    assistant, result = messages[-2], messages[-1]
    assert assistant["tool_calls"][0]["type"] == "function"
    assert result["role"] == "tool" and result["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert ("name" in result) is (provider_type == "mistral")


async def test_mistral_maps_foreign_call_ids_to_its_nine_character_form(sim, manager):
    call = {"id": "call_0fypS1hVX", "name": "get_weather", "arguments": {"city": "Rome"}}
    history = [
        ChatMessage("user", "Call get_weather"),
        ChatMessage("assistant", "", tool_calls=[call]),
        ChatMessage("tool", "18C", tool_call_id="call_0fypS1hVX"),
    ]
    response = await manager.chat(history, provider="mistral", tools=[get_weather])
    assert "18C" in response.content
    sent = last_body(sim, "mistral")["messages"]
    mapped = sent[1]["tool_calls"][0]["id"]
    assert len(mapped) == 9 and mapped.isalnum() and sent[2]["tool_call_id"] == mapped
    assert sent[2]["name"] == "get_weather"


CHOICES = {
    "openai": {"required": "required", "auto": "auto", "none": "none"},
    "custom": {"required": "required", "auto": "auto", "none": "none"},
    "mistral": {"required": "any", "auto": "auto", "none": "none"},
}


@pytest.mark.parametrize("provider_type", FAMILY)
@pytest.mark.parametrize("choice", ["required", "auto", "none", "get_time"])
async def test_tool_choice_maps_per_api(sim, manager, provider_type, choice):
    clock = Tool("get_time", "The time now")
    response = await manager.chat(
        "What should I wear?", provider=provider_type, tools=[get_weather, clock], tool_choice=choice
    )
    sent = last_body(sim, provider_type)["tool_choice"]
    if choice == "get_time":
        assert sent == {"type": "function", "function": {"name": "get_time"}}
        assert [c.name for c in response.tool_calls] == ["get_time"]
    else:
        assert sent == CHOICES[provider_type][choice]
        # the prompt names no tool: only a forced choice calls one (the first)
        assert [c.name for c in response.tool_calls] == (["get_weather"] if choice == "required" else [])


@pytest.mark.parametrize("provider_type", ["openai", "custom"])
async def test_streams_ask_for_usage(sim, manager, provider_type):
    response = await ask(manager, provider_type, True, "Tell me about rivers")
    assert last_body(sim, provider_type)["stream_options"] == {"include_usage": True}
    assert response.usage_source == "reported" and response.completion_tokens == 24


async def test_mistral_stream_reports_usage_without_stream_options(sim, manager):
    response = await ask(manager, "mistral", True, "Tell me about rivers")
    assert "stream_options" not in last_body(sim, "mistral")
    assert response.usage_source == "reported" and response.completion_tokens == 24


@pytest.mark.parametrize("provider_type", ["openai", "custom"])
async def test_a_stream_without_usage_is_missing_never_estimated(sim, manager, provider_type):
    # A server that ignores stream_options (llama-cpp-python's does) sends no usage chunk.
    response = await ask(
        manager, provider_type, True, "Tell me about rivers", extra_body={"stream_options": {"include_usage": False}}
    )
    assert response.content and response.usage_source == "missing"
    assert response.completion_tokens is None and response.prompt_tokens is None


async def test_refusal_is_read_from_the_message(sim, manager):
    from closedpaw_nb.providers._wire import StreamState
    from closedpaw_nb.providers.openai import OpenAIProvider

    provider = manager.get_provider("openai")
    assert isinstance(provider, OpenAIProvider)
    state = StreamState("m")
    body = {"choices": [{"message": {"content": None, "refusal": "I can't."}, "finish_reason": "stop"}]}
    provider.parse_response(body, state)
    response = provider._response(state, latency_ms=1.0)
    assert response.refusal == "I can't." and response.content == "" and response.usage_source == "missing"


async def test_every_state_field_lands_in_its_response_field(sim, manager):
    from closedpaw_nb.providers._wire import StreamState
    from closedpaw_nb.tools import ToolCallAccumulator

    provider = manager.get_provider("openai")
    state = StreamState("m", "req-1", ["He", "llo"], 3, 4, "length", "max_tokens")
    state.details["seen"] = True
    state.refusal = "no"
    state.usage_reported = True
    state.calls = ToolCallAccumulator()
    state.calls.add_call("f", {"a": 1}, id="c1")
    response = provider._response(state, latency_ms=12.5, ttft_ms=2.5)
    assert (response.content, response.model, response.provider) == ("Hello", "m", "openai")
    assert (response.tokens_used, response.prompt_tokens, response.completion_tokens) == (7, 3, 4)
    assert (response.finish_reason, response.latency_ms, response.ttft_ms) == ("length", 12.5, 2.5)
    assert (response.attempts, response.request_id, response.refusal) == (1, "req-1", "no")
    assert response.provider_details == {"seen": True, "raw_finish_reason": "max_tokens"}
    assert (response.parsed, response.parse_error, response.usage_source) == (None, None, "reported")
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [("c1", "f", {"a": 1})]
