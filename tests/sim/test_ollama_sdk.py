"""The official ollama SDK judges the /ollama mount."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import ollama
import pytest

from closedpaw_nb.sim import Fault, SimServer, Simulator, serve_in_thread

from .conftest import KEY

MESSAGES = [
    {"role": "system", "content": "Be terse."},
    {"role": "user", "content": "Tell me about rivers"},
]


@pytest.fixture
def client(sim: SimServer, closer: Callable[[Any], Any]) -> Callable[..., ollama.Client]:
    def make(**kwargs: Any) -> ollama.Client:
        return closer(ollama.Client(host=sim.base_url("ollama"), **kwargs))

    return make


def test_chat_text_counts_and_done_reason(sim: SimServer, client: Callable[..., Any]) -> None:
    resp = client().chat(model="sim-small", messages=MESSAGES, stream=False, options={"seed": 7})
    assert resp.done and resp.done_reason == "stop"
    assert resp.eval_count == 24 == len(resp.message.content.split())
    assert resp.prompt_eval_count == 6
    assert resp.total_duration > 0


def test_options_num_predict_and_stop(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    capped = c.chat(model="sim-small", messages=MESSAGES, stream=False, options={"num_predict": 5})
    assert capped.done_reason == "length" and capped.eval_count == 5
    stopped = c.chat(model="sim-small", messages=MESSAGES, stream=False, options={"stop": ["."]})
    assert stopped.done_reason == "stop" and "." not in stopped.message.content


def test_stream_is_default_and_matches_chat(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    whole = c.chat(model="sim-large", messages=MESSAGES, stream=False, options={"temperature": 0.3})
    parts = list(c.chat(model="sim-large", messages=MESSAGES, stream=True, options={"temperature": 0.3}))
    assert "".join(p.message.content for p in parts) == whole.message.content
    assert [p.done for p in parts] == [False] * 48 + [True]
    assert parts[-1].eval_count == 48 and parts[-1].prompt_eval_count == whole.prompt_eval_count


def test_ndjson_wire_and_default_stream(sim: SimServer) -> None:
    r = httpx.post(sim.base_url("ollama") + "/api/chat", json={"model": "sim-small", "messages": MESSAGES})
    assert r.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 25 and lines[-1]["done"] is True and "eval_count" in lines[-1]


def test_generate_uses_prompt_and_system(sim: SimServer, client: Callable[..., Any]) -> None:
    resp = client().generate(model="sim-small", prompt="Tell me about rivers", system="Be terse.", stream=False)
    assert resp.eval_count == 24 and resp.prompt_eval_count == 6 and resp.response


def test_tags_show_version_and_root(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    names = [m.model for m in c.list().models]
    assert {"sim-small:latest", "sim-large:latest"} <= set(names)
    assert c.list().models[0].details.family == "simulated"
    assert c.show("sim-small:latest").capabilities == ["completion"]
    assert httpx.get(sim.base_url("ollama") + "/api/version").json()["version"]
    for url in (sim.base_url("ollama"), sim.base_url("ollama") + "/"):
        root = httpx.get(url)
        assert root.status_code == 200 and root.text == "Ollama is running"
        assert root.headers["content-type"].startswith("text/plain")
    assert httpx.head(sim.base_url("ollama") + "/").status_code == 200


def test_missing_model_is_404(sim: SimServer, client: Callable[..., Any]) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        client().chat(model="missing-llama", messages=MESSAGES, stream=False)
    assert info.value.status_code == 404 and info.value.error == "model 'missing-llama' not found"


def test_system_is_a_message(sim: SimServer, client: Callable[..., Any]) -> None:
    client().chat(model="sim-small", messages=MESSAGES, stream=False, options={"num_predict": 1})
    sent = sim.simulator.requests_for("ollama")[-1]
    assert sent.json["messages"][0] == {"role": "system", "content": "Be terse."}
    assert sent.json["options"] == {"num_predict": 1}
    assert "authorization" not in sent.headers


def test_in_stream_error_line(sim: SimServer, client: Callable[..., Any]) -> None:
    sim.simulator.add_fault(Fault("stream_error", provider="ollama", after=2, message="model runner crashed"))
    with pytest.raises(ollama.ResponseError) as info:
        list(client().chat(model="sim-small", messages=MESSAGES, stream=True))
    assert info.value.error == "model runner crashed"


def test_key_required_when_configured(closer: Callable[[Any], Any]) -> None:
    with serve_in_thread(simulator=Simulator(time_scale=0, ollama_requires_key=True)) as srv:
        host = srv.base_url("ollama")
        bad = closer(ollama.Client(host=host, headers={"Authorization": "Bearer invalid-ollama"}))
        with pytest.raises(ollama.ResponseError) as info:
            bad.chat(model="sim-small", messages=MESSAGES, stream=False)
        assert info.value.status_code == 401 and info.value.error == "unauthorized"
        with pytest.raises(ollama.ResponseError):
            closer(ollama.Client(host=host)).list()
        good = closer(ollama.Client(host=host, headers={"Authorization": f"Bearer {KEY}"}))
        assert good.chat(model="sim-small", messages=MESSAGES, stream=False).eval_count == 24
        assert httpx.get(host + "/").status_code == 200  # the health text stays public


# -- tools, images and structured output (issue 18) ----------------------------------------

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")
ASK = [{"role": "user", "content": "Use get_weather: what is the weather in Paris?"}]


def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: The city's name.
    """
    return "18C"


def test_tool_calls_whole_streamed_and_not(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    whole = c.chat(model="sim-small", messages=ASK, tools=[get_weather], stream=False)
    (call,) = whole.message.tool_calls
    assert call.function.name == "get_weather" and set(call.function.arguments) == {"city"}
    assert whole.done_reason == "stop" and whole.eval_count > 0
    parts = list(c.chat(model="sim-small", messages=ASK, tools=[get_weather], stream=True))
    calls = [tc for p in parts for tc in p.message.tool_calls or []]
    assert [(tc.function.name, tc.function.arguments) for tc in calls] == [
        (call.function.name, call.function.arguments)
    ]
    assert not parts[-2].done and parts[-1].done and parts[-1].eval_count == whole.eval_count
    raw = httpx.post(
        sim.base_url("ollama") + "/api/chat",
        json={
            "model": "sim-small",
            "messages": ASK,
            "stream": False,
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                    },
                }
            ],
        },
    ).json()
    wire = raw["message"]["tool_calls"][0]
    assert wire["id"].startswith("call_") and len(wire["id"]) == 13 and wire["function"]["index"] == 0


def test_tool_result_turn_is_answered(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    first = c.chat(model="sim-small", messages=ASK, tools=[get_weather], stream=False)
    messages = [*ASK, first.message, {"role": "tool", "content": "18C", "tool_name": "get_weather"}]
    final = c.chat(model="sim-small", messages=messages, tools=[get_weather], stream=False)
    assert final.message.content == "The tool returned: 18C." and not final.message.tool_calls
    assert (
        sim.simulator.requests_for("ollama")[-1].json["messages"][1]["tool_calls"][0]["function"]["name"]
        == "get_weather"
    )


def test_no_call_when_the_prompt_neither_names_nor_asks(sim: SimServer, client: Callable[..., Any]) -> None:
    resp = client().chat(model="sim-small", messages=MESSAGES, tools=[get_weather], stream=False)
    assert not resp.message.tool_calls and resp.message.content


def test_format_schema_and_json(sim: SimServer, client: Callable[..., Any]) -> None:
    from pydantic import BaseModel

    class Person(BaseModel):
        name: str
        age: int

    c = client()
    sim.simulator.near_miss_rate = 0.0
    try:
        resp = c.chat(model="sim-small", messages=MESSAGES, format=Person.model_json_schema(), stream=False)
        streamed = "".join(
            p.message.content
            for p in c.chat(model="sim-small", messages=MESSAGES, format=Person.model_json_schema(), stream=True)
        )
        any_json = c.chat(model="sim-small", messages=MESSAGES, format="json", stream=False)
    finally:
        sim.simulator.near_miss_rate = 0.1
    assert Person.model_validate_json(resp.message.content) == Person.model_validate_json(streamed)
    assert isinstance(json.loads(any_json.message.content), dict)
    assert sim.simulator.requests_for("ollama")[-1].json["format"] == "json"


def test_images_as_bytes_and_bad_base64(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    resp = c.chat(model="sim-small", messages=[{"role": "user", "content": "What?", "images": [PNG]}], stream=False)
    assert resp.message.content.startswith("I see 1 image.")
    sent = sim.simulator.requests_for("ollama")[-1].json["messages"][0]["images"]
    assert base64.b64decode(sent[0]) == PNG
    bad = {"model": "sim-small", "stream": False, "messages": [{"role": "user", "content": "x", "images": ["@@"]}]}
    r = httpx.post(sim.base_url("ollama") + "/api/chat", json=bad)
    assert r.status_code == 400 and "base64" in r.json()["error"]
