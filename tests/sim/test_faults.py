"""Fault injection: each kind produces what clients (SDKs and raw httpx) expect."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import openai
import pytest

from closedpaw_nb.sim import Fault, SimServer, serve_in_thread
from conftest import wait_until

from .conftest import KEY

MESSAGES = [{"role": "user", "content": "Tell me about rivers"}]
AUTH = {"authorization": f"Bearer {KEY}"}
CHAT = {"model": "sim-small", "messages": MESSAGES}


def chat_url(sim: SimServer) -> str:
    return sim.base_url("openai") + "/chat/completions"


@pytest.fixture
def oai(sim: SimServer, closer: Callable[[Any], Any]) -> openai.OpenAI:
    return closer(openai.OpenAI(base_url=sim.base_url("openai"), api_key=KEY, max_retries=0, timeout=2.0))


def test_status_fault_then_normal_reply(sim: SimServer) -> None:
    sim.simulator.add_fault(Fault("status", provider="openai", status=503, headers={"retry-after": "2"}))
    first = httpx.post(chat_url(sim), json=CHAT, headers=AUTH)
    second = httpx.post(chat_url(sim), json=CHAT, headers=AUTH)
    assert first.status_code == 503 and first.headers["retry-after"] == "2"
    assert first.json()["error"]["type"] == "server_error" and first.headers["x-request-id"]
    assert second.status_code == 200
    assert sim.simulator.faults == []


@pytest.mark.parametrize("value", ["1.5", "Wed, 21 Oct 2026 07:28:00 GMT"])
def test_retry_after_headers_pass_through_verbatim(sim: SimServer, value: str) -> None:
    headers = {"retry-after": value, "retry-after-ms": "1500", "x-should-retry": "false"}
    sim.simulator.add_fault(Fault("status", status=429, headers=headers))
    r = httpx.post(chat_url(sim), json=CHAT, headers=AUTH)
    assert r.status_code == 429
    assert {k: r.headers[k] for k in headers} == headers


def test_x_should_retry_false_stops_sdk_retry(sim: SimServer, closer: Callable[[Any], Any]) -> None:
    sim.simulator.add_fault(Fault("status", provider="openai", status=500, headers={"x-should-retry": "false"}))
    c = closer(openai.OpenAI(base_url=sim.base_url("openai"), api_key=KEY, max_retries=2))
    with pytest.raises(openai.InternalServerError):
        c.chat.completions.create(**CHAT)
    assert len(sim.simulator.requests) == 1


def test_scoping_by_provider_model_endpoint_and_times(sim: SimServer) -> None:
    s = sim.simulator
    s.add_fault(Fault("status", provider="anthropic", status=500))
    s.add_fault(Fault("status", model="sim-large", endpoint="chat", status=418, times=2))
    assert httpx.post(chat_url(sim), json=CHAT, headers=AUTH).status_code == 200  # other provider/model
    assert httpx.get(sim.base_url("openai") + "/models", headers=AUTH).status_code == 200
    large = {**CHAT, "model": "sim-large"}
    codes = [httpx.post(chat_url(sim), json=large, headers=AUTH).status_code for _ in range(3)]
    assert codes == [418, 418, 200]
    assert [f.provider for f in s.faults] == ["anthropic"]


def test_times_none_lasts_until_cleared_and_custom_alias(sim: SimServer) -> None:
    sim.simulator.add_fault(Fault("status", provider="custom", status=502, times=None))
    codes = [httpx.post(chat_url(sim), json=CHAT, headers=AUTH).status_code for _ in range(3)]
    assert codes == [502, 502, 502]
    sim.simulator.clear_faults()
    assert httpx.post(chat_url(sim), json=CHAT, headers=AUTH).status_code == 200


def test_stream_faults_skip_non_streaming_requests(sim: SimServer) -> None:
    sim.simulator.add_fault(Fault("cut_stream", after=1))
    assert httpx.post(chat_url(sim), json=CHAT, headers=AUTH).status_code == 200
    assert len(sim.simulator.faults) == 1


def test_invalid_fault_arguments() -> None:
    with pytest.raises(ValueError):
        Fault("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Fault("status", provider="azure")
    with pytest.raises(ValueError):
        Fault("redirect")
    with pytest.raises(ValueError):
        Fault("status", times=0)


def test_hang_times_out_and_server_survives(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.simulator.add_fault(Fault("hang"))
    started = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        oai.with_options(timeout=0.3).chat.completions.create(**CHAT)
    # A lower bound only, and a sure one: the client gave up at its own 0.3 s timeout, so
    # the request did reach the server (recorded) and was never answered.
    assert time.perf_counter() - started >= 0.25 and len(sim.simulator.requests) == 1
    assert oai.chat.completions.create(**CHAT).usage.completion_tokens == 24


def test_hang_ends_when_server_stops() -> None:
    with serve_in_thread() as srv:
        srv.simulator.add_fault(Fault("hang"))
        with httpx.Client(timeout=10) as c:
            errors: list[BaseException] = []

            def call() -> None:
                try:
                    c.post(chat_url(srv), json=CHAT, headers=AUTH)
                except httpx.HTTPError as exc:
                    errors.append(exc)

            worker = threading.Thread(target=call)
            worker.start()
            wait_until(lambda: srv.simulator.requests, timeout=5, what="the request to reach the server")
            srv.stop()
            worker.join(5)
    # Ended by the stop, not by the client's 10 s timeout (the join gave it 5 s).
    assert not worker.is_alive()
    assert errors and isinstance(errors[0], httpx.TransportError)


def test_reset_is_a_connection_error(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.simulator.add_fault(Fault("reset"))
    with pytest.raises(openai.APIConnectionError) as info:
        oai.chat.completions.create(**CHAT)
    assert not isinstance(info.value, openai.APITimeoutError)
    with pytest.raises(httpx.TransportError):
        sim.simulator.add_fault(Fault("reset"))
        httpx.get(sim.base_url("openai") + "/models", headers=AUTH)


def test_reset_then_success_with_sdk_retry(sim: SimServer, closer: Callable[[Any], Any]) -> None:
    sim.simulator.add_fault(Fault("reset", provider="openai"))
    c = closer(openai.OpenAI(base_url=sim.base_url("openai"), api_key=KEY, max_retries=1))
    assert c.chat.completions.create(**CHAT).usage.completion_tokens == 24
    assert len(sim.simulator.requests) == 2


def test_cut_stream_after_n_deltas(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.simulator.add_fault(Fault("cut_stream", after=3))
    seen: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in oai.chat.completions.create(**CHAT, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                seen.append(chunk.choices[0].delta.content)
    assert len(seen) == 3


def test_cut_stream_raw_bytes_have_no_terminator(sim: SimServer) -> None:
    sim.simulator.add_fault(Fault("cut_stream", after=2))
    received = b""
    body = {**CHAT, "stream": True}
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("POST", chat_url(sim), json=body, headers=AUTH) as r:
        for piece in r.iter_raw():
            received += piece
    assert received.count(b'"content":"') == 3  # the role chunk plus two deltas
    assert b"[DONE]" not in received


def test_cut_anthropic_stream(sim: SimServer, closer: Callable[[Any], Any]) -> None:
    sim.simulator.add_fault(Fault("cut_stream", provider="anthropic", after=1))
    c = closer(anthropic.Anthropic(base_url=sim.base_url("anthropic"), api_key=KEY, max_retries=0))
    kinds: list[str] = []
    # This SDK lets the transport error through unwrapped, so catch broadly.
    with pytest.raises(Exception) as info:
        for event in c.messages.create(model="sim-small", max_tokens=50, messages=MESSAGES, stream=True):
            kinds.append(event.type)
    assert "RemoteProtocolError" in type(info.value).__name__ or isinstance(info.value, anthropic.APIConnectionError)
    assert kinds.count("content_block_delta") == 1 and "message_stop" not in kinds


@pytest.mark.parametrize(
    "variant,status,media",
    [("truncated", 200, "application/json"), ("not_json", 200, "application/json"), ("html", 502, "text/html")],
)
def test_malformed_bodies(sim: SimServer, variant: str, status: int, media: str) -> None:
    sim.simulator.add_fault(Fault("malformed", variant=variant))
    r = httpx.post(chat_url(sim), json=CHAT, headers=AUTH)
    assert r.status_code == status and r.headers["content-type"].startswith(media)
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)


def test_malformed_200_breaks_sdk_parsing(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.simulator.add_fault(Fault("malformed"))
    with pytest.raises(ValueError):  # the openai SDK lets json.JSONDecodeError through
        oai.chat.completions.create(**CHAT)


def test_html_502_is_sdk_server_error(sim: SimServer, oai: openai.OpenAI) -> None:
    sim.simulator.add_fault(Fault("malformed", variant="html"))
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(**CHAT)
    assert info.value.status_code == 502


def test_slow_drip_delivers_whole_body_in_small_pieces(sim: SimServer) -> None:
    sim.simulator.add_fault(Fault("slow_drip", chunk_size=64, delay_ms=5))
    pieces: list[bytes] = []
    started = time.perf_counter()
    with httpx.stream("POST", chat_url(sim), json=CHAT, headers=AUTH) as r:
        for piece in r.iter_raw():
            pieces.append(piece)
    elapsed = time.perf_counter() - started
    data = b"".join(pieces)
    assert json.loads(data)["usage"]["completion_tokens"] == 24
    writes = -(-len(data) // 64)
    # A lower bound the server guarantees (it sleeps 5 ms between writes), whatever the machine.
    assert len(pieces) > 3 and elapsed >= (writes - 1) * 0.005 * 0.8


def test_redirect_is_307_with_location(sim: SimServer) -> None:
    with serve_in_thread() as other:
        target = other.base_url("openai") + "/models"
        sim.simulator.add_fault(Fault("redirect", location=target))
        r = httpx.get(sim.base_url("openai") + "/models", headers=AUTH)
        assert r.status_code == 307 and r.headers["location"] == target
        sim.simulator.add_fault(Fault("redirect", location=target))
        followed = httpx.get(sim.base_url("openai") + "/models", headers=AUTH, follow_redirects=True)
        # httpx drops Authorization on a cross-origin hop (another port), so the target says 401.
        assert followed.status_code == 401 and len(other.simulator.requests) == 1
        assert "authorization" not in other.simulator.requests[0].headers


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google", "mistral"])
def test_error_bodies_never_echo_the_key(sim: SimServer, provider: str) -> None:
    canary = "invalid-CANARY-7f3e"
    urls = {
        "openai": "/chat/completions",
        "anthropic": "/v1/messages",
        "google": "/v1beta/models/sim-small:generateContent",
        "mistral": "/v1/chat/completions",
    }
    headers = {"authorization": f"Bearer {canary}", "x-api-key": canary, "x-goog-api-key": canary}
    r = httpx.post(sim.base_url(provider) + urls[provider], json=CHAT, headers=headers)
    assert r.status_code in (400, 401)
    assert canary not in r.text and not any(canary in v for v in r.headers.values())
