"""The official openai SDK judges the /openai/v1 mount (and Ollama's /v1 compat)."""

from __future__ import annotations

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
