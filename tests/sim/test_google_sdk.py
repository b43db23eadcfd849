"""The official google-genai SDK judges the /google mount."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types
from pydantic import BaseModel

from closedpaw_nb.sim import Fault, SimServer

from .conftest import KEY

PROMPT = "Tell me about rivers"


@pytest.fixture
def client(sim: SimServer, closer: Callable[[Any], Any]) -> Callable[..., genai.Client]:
    def make(key: str = KEY) -> genai.Client:
        options = types.HttpOptions(base_url=sim.base_url("google"), api_version="v1beta")
        return closer(genai.Client(api_key=key, http_options=options))

    return make


def config(**kwargs: Any) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(system_instruction="Be terse.", **kwargs)


def test_generate_text_usage_and_finish(sim: SimServer, client: Callable[..., Any]) -> None:
    resp = client().models.generate_content(model="sim-small", contents=PROMPT, config=config(seed=7))
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP
    assert resp.usage_metadata.candidates_token_count == 24 == len(resp.text.split())
    assert resp.usage_metadata.prompt_token_count == 6
    assert resp.usage_metadata.total_token_count == 30
    assert resp.model_version == "sim-small"


def test_max_output_tokens_and_stop_sequences(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    capped = c.models.generate_content(model="sim-small", contents=PROMPT, config=config(max_output_tokens=3))
    assert capped.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert capped.usage_metadata.candidates_token_count == 3
    stopped = c.models.generate_content(model="sim-small", contents=PROMPT, config=config(stop_sequences=["."]))
    assert stopped.candidates[0].finish_reason == types.FinishReason.STOP and "." not in stopped.text


def test_stream_matches_generate_and_ends_with_usage(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    whole = c.models.generate_content(model="sim-large", contents=PROMPT, config=config(temperature=0.2))
    chunks = list(c.models.generate_content_stream(model="sim-large", contents=PROMPT, config=config(temperature=0.2)))
    assert "".join(ch.text for ch in chunks) == whole.text
    assert len(chunks) == whole.usage_metadata.candidates_token_count == 48
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert all(ch.candidates[0].finish_reason is None for ch in chunks[:-1])
    assert chunks[-1].usage_metadata.total_token_count == whole.usage_metadata.total_token_count
    assert chunks[0].usage_metadata.candidates_token_count is None  # partial counts mid-stream
    sent = sim.simulator.requests_for("google")[-1]
    assert sent.path == "/google/v1beta/models/sim-large:streamGenerateContent" and sent.query == "alt=sse"


def test_system_instruction_and_key_header(sim: SimServer, client: Callable[..., Any]) -> None:
    client().models.generate_content(model="sim-small", contents=PROMPT, config=config(max_output_tokens=2))
    sent = sim.simulator.requests_for("google")[-1]
    assert sent.json["systemInstruction"]["parts"][0]["text"] == "Be terse."
    assert sent.json["contents"][0]["parts"][0]["text"] == PROMPT
    assert sent.json["generationConfig"]["maxOutputTokens"] == 2
    assert sent.headers["x-goog-api-key"] == KEY
    assert not sent.key_in_query


def test_snake_case_rest_body_and_key_in_query_is_recorded(sim: SimServer) -> None:
    body = {
        "system_instruction": {"parts": [{"text": "Be terse."}]},
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generation_config": {"max_output_tokens": 4},
    }
    r = httpx.post(f"{sim.base_url('google')}/v1beta/models/sim-small:generateContent?key={KEY}", json=body)
    assert r.status_code == 200
    assert r.json()["usageMetadata"] == {
        "promptTokenCount": 6,
        "candidatesTokenCount": 4,
        "totalTokenCount": 10,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 6}],
    }
    assert sim.simulator.requests_for("google")[-1].key_in_query


def test_stream_without_alt_sse_is_a_json_array(sim: SimServer) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
    url = f"{sim.base_url('google')}/v1beta/models/sim-small:streamGenerateContent"
    r = httpx.post(url, json=body, headers={"x-goog-api-key": KEY})
    chunks = json.loads(r.text)
    assert isinstance(chunks, list) and len(chunks) == 24
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_models_list_pages(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    names = [m.name for m in c.models.list(config={"page_size": 1})]
    assert names == ["models/sim-small", "models/sim-large"]
    tokens = [r.query for r in sim.simulator.requests_for("google") if r.method == "GET"]
    assert tokens[0] == "pageSize=1" and "pageToken=" in tokens[1]
    model = c.models.get(model="sim-large")
    assert "simulated" in model.display_name.lower() and "generateContent" in model.supported_actions


def test_invalid_key_is_400_api_key_invalid(sim: SimServer, client: Callable[..., Any]) -> None:
    with pytest.raises(errors.ClientError) as info:
        client(key="invalid-gemini").models.generate_content(model="sim-small", contents=PROMPT)
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert info.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert "invalid-gemini" not in str(info.value)


def test_missing_key_is_403(sim: SimServer) -> None:
    r = httpx.get(f"{sim.base_url('google')}/v1beta/models")
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"


def test_missing_model_is_404(sim: SimServer, client: Callable[..., Any]) -> None:
    with pytest.raises(errors.ClientError) as info:
        client().models.generate_content(model="missing-gemini", contents=PROMPT)
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"


def test_429_with_retry_info_and_daily_quota(sim: SimServer, client: Callable[..., Any]) -> None:
    sim.simulator.add_fault(Fault("status", provider="google", status=429, retry_delay="13s", quota="day"))
    with pytest.raises(errors.ClientError) as info:
        client().models.generate_content(model="sim-small", contents=PROMPT)
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
    details = {d["@type"].rsplit(".", 1)[-1]: d for d in info.value.details["error"]["details"]}
    assert details["RetryInfo"]["retryDelay"] == "13s"
    assert "PerDay" in details["QuotaFailure"]["violations"][0]["quotaId"]


def test_in_stream_error_raises_server_error(sim: SimServer, client: Callable[..., Any]) -> None:
    sim.simulator.add_fault(Fault("stream_error", provider="google", status=503, after=2))
    seen: list[str] = []
    with pytest.raises(errors.ServerError) as info:
        for chunk in client().models.generate_content_stream(model="sim-small", contents=PROMPT):
            seen.append(chunk.text)
    assert len(seen) == 2 and info.value.code == 503


# -- tools, images and structured output (issue 18) ----------------------------------------

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="The weather in a city.",
    parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def tool_config(mode: str, names: list[str] | None = None) -> types.GenerateContentConfig:
    calling = types.FunctionCallingConfig(mode=mode, allowed_function_names=names)  # type: ignore[arg-type]
    return types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        tool_config=types.ToolConfig(function_calling_config=calling),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


class Person(BaseModel):
    name: str
    age: int


def test_function_call_part_streamed_and_not(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    ask = "What is the weather in Paris?"
    whole = c.models.generate_content(model="sim-small", contents=ask, config=tool_config("ANY"))
    (call,) = whole.function_calls
    assert call.name == "get_weather" and set(call.args) == {"city"}
    assert whole.candidates[0].finish_reason == types.FinishReason.STOP
    assert whole.usage_metadata.candidates_token_count > 0
    chunks = list(c.models.generate_content_stream(model="sim-small", contents=ask, config=tool_config("ANY")))
    calls = [fc for ch in chunks for fc in ch.function_calls or []]
    assert [(fc.name, fc.args) for fc in calls] == [(call.name, call.args)]
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    sent = sim.simulator.requests_for("google")[-1].json
    declaration = sent["tools"][0]["functionDeclarations"][0]
    assert "city" in json.dumps(declaration) and sent["toolConfig"]["functionCallingConfig"]["mode"] == "ANY"


def test_modes_none_and_allowed_names(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    ask = "Call get_weather for Rome"
    none = c.models.generate_content(model="sim-small", contents=ask, config=tool_config("NONE"))
    assert none.function_calls is None and none.text
    named = c.models.generate_content(model="sim-small", contents=PROMPT, config=tool_config("ANY", ["get_weather"]))
    assert named.function_calls[0].name == "get_weather"
    auto = c.models.generate_content(model="sim-small", contents=PROMPT, config=tool_config("AUTO"))
    assert auto.function_calls is None


def test_function_response_turn_is_answered(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    first = c.models.generate_content(model="sim-small", contents=PROMPT, config=tool_config("ANY"))
    call = first.function_calls[0]
    contents = [
        types.Content(role="user", parts=[types.Part.from_text(text=PROMPT)]),
        first.candidates[0].content,
        types.Content(
            role="user", parts=[types.Part.from_function_response(name=call.name, response={"output": "18C"})]
        ),
    ]
    final = c.models.generate_content(model="sim-small", contents=contents, config=tool_config("AUTO"))
    assert final.function_calls is None and final.text == "The tool returned: 18C."
    # Gemini 3's thought signature: bytes in the SDK, sent back with the model turn unchanged.
    signature = first.candidates[0].content.parts[0].thought_signature
    assert isinstance(signature, bytes) and len(signature) == 24
    replayed = sim.simulator.requests_for("google")[-1].json["contents"][1]["parts"][0]
    assert base64.urlsafe_b64decode(replayed["thoughtSignature"]) == signature  # the SDK re-encodes URL-safe


def test_inline_image_bytes(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    image = types.Part.from_bytes(data=PNG, mime_type="image/png")
    resp = c.models.generate_content(model="sim-small", contents=["What is this?", image, image])
    assert resp.text.startswith("I see 2 images.")
    part = sim.simulator.requests_for("google")[-1].json["contents"][0]["parts"][1]
    data = part["inlineData"]["data"]
    assert base64.urlsafe_b64decode(data) == PNG  # the SDK sends the URL-safe alphabet


def test_response_schema_and_json_schema_parse(sim: SimServer, client: Callable[..., Any]) -> None:
    c = client()
    sim.simulator.near_miss_rate = 0.0
    try:
        openapi = c.models.generate_content(
            model="sim-small",
            contents=PROMPT,
            config=types.GenerateContentConfig(response_mime_type="application/json", response_schema=Person),
        )
        plain = c.models.generate_content(
            model="sim-small",
            contents=PROMPT,
            config=types.GenerateContentConfig(
                response_mime_type="application/json", response_json_schema=Person.model_json_schema()
            ),
        )
        any_json = c.models.generate_content(
            model="sim-small",
            contents=PROMPT,
            config=types.GenerateContentConfig(response_mime_type="application/json"),
        )
    finally:
        sim.simulator.near_miss_rate = 0.1
    assert isinstance(openapi.parsed, Person)
    assert isinstance(plain.parsed, dict) and Person.model_validate(plain.parsed)
    assert isinstance(json.loads(any_json.text), dict)
    sent = [r.json["generationConfig"] for r in sim.simulator.requests_for("google")[-3:]]
    assert sent[0]["responseSchema"]["type"] == "OBJECT" and "responseJsonSchema" in sent[1]
