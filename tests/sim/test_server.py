"""Serving: the thread server, base URLs, marking, pacing, concurrency and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from closedpaw_nb.sim import (
    LatencyProfile,
    SimServer,
    Simulator,
    create_app,
    serve_in_thread,
)
from closedpaw_nb.sim._text import Pacer

from .conftest import KEY

AUTH = {"authorization": f"Bearer {KEY}"}
MESSAGES = [{"role": "user", "content": "Tell me about rivers"}]
CHAT = {"model": "sim-small", "messages": MESSAGES}
ROOT = Path(__file__).resolve().parents[2]


def test_base_urls(sim: SimServer) -> None:
    assert sim.url.startswith("http://127.0.0.1:")
    expected = {
        "openai": "/openai/v1",
        "custom": "/openai/v1",
        "anthropic": "/anthropic",
        "google": "/google",
        "mistral": "/mistral",
        "ollama": "/ollama",
    }
    assert {p: sim.base_url(p) for p in expected} == {p: sim.url + path for p, path in expected.items()}
    with pytest.raises(ValueError):
        sim.base_url("azure")


def test_every_response_is_marked_simulated(sim: SimServer) -> None:
    for method, path in [("GET", "/openai/v1/models"), ("GET", "/nowhere"), ("GET", "/ollama/api/tags")]:
        r = httpx.request(method, sim.url + path, headers=AUTH)
        assert r.headers["x-closedpaw-simulated"] == "1", path


def test_recorded_request_fields(sim: SimServer) -> None:
    before = time.perf_counter()
    httpx.post(sim.url + "/openai/v1/chat/completions?x=1", json=CHAT, headers=AUTH)
    rec = sim.simulator.requests[-1]
    assert (rec.provider, rec.method, rec.path, rec.query) == ("openai", "POST", "/openai/v1/chat/completions", "x=1")
    assert rec.json["model"] == "sim-small" and rec.headers["authorization"] == AUTH["authorization"]
    assert before <= rec.time <= time.perf_counter()
    sim.simulator.reset()
    assert sim.simulator.requests == []


def test_stopped_server_refuses_connections() -> None:
    with serve_in_thread() as srv:
        url = srv.url
        assert httpx.get(url + "/ollama/api/version").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/ollama/api/version")


def test_app_works_in_process_without_a_server() -> None:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(Simulator(time_scale=0)))
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as c:
            return await c.post("/openai/v1/chat/completions", json=CHAT, headers=AUTH)

    r = asyncio.run(run())
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 24


def test_max_recorded_keeps_the_newest() -> None:
    sim = Simulator(time_scale=0, max_recorded=2)

    async def run() -> None:
        transport = httpx.ASGITransport(app=create_app(sim))
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as c:
            for path in ("/", "/api/version", "/api/tags"):
                await c.get("/ollama" + path)

    asyncio.run(run())
    assert [r.path for r in sim.requests] == ["/ollama/api/version", "/ollama/api/tags"]


# The pacer aims up to this much early (to offset timer wake-ups, which come late): the most
# a token may leave before its due time.
EARLY = Pacer._MAX_BIAS


def _token_offsets(client: openai.OpenAI, model: str, seed: int) -> list[float]:
    """When each content delta arrived, in seconds after the request was sent."""
    started = time.perf_counter()
    offsets = []
    for chunk in client.chat.completions.create(model=model, messages=MESSAGES, stream=True, seed=seed):
        if chunk.choices and chunk.choices[0].delta.content:
            offsets.append(time.perf_counter() - started)
    return offsets


@pytest.fixture(scope="module")
def paced() -> Iterator[SimServer]:
    """A simulator that keeps to its latency profiles (time_scale 1)."""
    with serve_in_thread() as srv:
        yield srv


@pytest.mark.slow  # waits on real time by design: paced streams
@pytest.mark.parametrize("model,ttft,gap", [("sim-small", 0.030, 1 / 400), ("sim-large", 0.080, 1 / 150)])
def test_latency_profile_is_honoured(
    paced: SimServer, closer: Callable[[Any], Any], model: str, ttft: float, gap: float
) -> None:
    """No delta leaves before the profile says: delta i arrives at least ttft + i * gap after
    the request was sent. Lower bounds, which hold on any machine (how close the server comes
    to the profile is a performance question: see the Pacer tests in test_text.py)."""
    client = closer(openai.OpenAI(base_url=paced.base_url("openai"), api_key=KEY, max_retries=0))
    client.models.list()  # warm the connection
    for seed in range(2):
        offsets = _token_offsets(client, model, seed)
        assert len(offsets) > 10
        early = [i for i, offset in enumerate(offsets) if offset < ttft + i * gap - EARLY]
        assert not early, f"deltas {early} arrived before they were due"


@pytest.mark.slow  # waits on real time by design: a paced reply
def test_custom_profile_time_scale_and_non_streamed_wait(closer: Callable[[Any], Any]) -> None:
    """A custom profile is listed and used, time_scale scales its pace, and a non-streamed
    reply waits as long as the whole stream would have."""
    slow = LatencyProfile(ttft_ms=200, tokens_per_s=50, output_tokens=6)
    with serve_in_thread(simulator=Simulator(profiles={"slow": slow}, time_scale=0.5)) as srv:
        client = closer(openai.OpenAI(base_url=srv.base_url("openai"), api_key=KEY, max_retries=0))
        assert "slow" in [m.id for m in client.models.list()]
        started = time.perf_counter()
        reply = client.chat.completions.create(model="slow", messages=MESSAGES)
        elapsed = time.perf_counter() - started
        done = httpx.post(
            srv.base_url("ollama") + "/api/chat", json={"model": "slow", "messages": MESSAGES, "stream": False}
        ).json()
    assert reply.usage.completion_tokens == 6
    expected = 0.5 * (0.200 + 5 / 50)  # time of the last token, scaled
    assert elapsed >= expected - EARLY  # the reply came only when the last token was due
    # The pace the server applied, as Ollama's reply states it: the profile's, times 0.5.
    assert done["eval_count"] == 6
    assert done["prompt_eval_duration"] == pytest.approx(0.5 * 0.200 * 1e9, abs=1)
    assert done["eval_duration"] == pytest.approx(6 * 0.5 / 50 * 1e9, abs=1)


@pytest.mark.slow  # waits on real time by design: fifty paced streams
def test_many_concurrent_streams_are_served_in_parallel(paced: SimServer) -> None:
    """Fifty streams at once are in flight together (a serial server would have one at a
    time): counted, not timed."""
    in_flight = 0
    peak = 0

    async def one(c: httpx.AsyncClient, url: str, i: int) -> int:
        nonlocal in_flight, peak
        body = {"model": "sim-large", "messages": MESSAGES, "stream": True, "seed": i}
        counted = False
        lines = []
        async with c.stream("POST", url, json=body, headers=AUTH) as r:
            async for line in r.aiter_lines():
                lines.append(line)
                if not counted and '"content":"' in line and '"content":""' not in line:
                    counted = True  # this stream's first token is out: it is in flight
                    in_flight += 1
                    peak = max(peak, in_flight)
        in_flight -= counted
        return sum(1 for line in lines if '"content":"' in line and '"content":""' not in line)

    async def run(url: str) -> list[int]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(limits=limits, timeout=10) as c:
            return await asyncio.gather(*(one(c, url, i) for i in range(50)))

    counts = asyncio.run(run(paced.base_url("openai") + "/chat/completions"))
    assert counts == [48] * 50
    # Each stream lasts about 0.4 s (80 ms to the first of 48 tokens at 150/s) and all fifty
    # start at once; served one after another, no two would ever overlap.
    assert peak >= 10, f"at most {peak} streams were in flight at once"


def test_import_closedpaw_nb_does_not_import_starlette() -> None:
    code = "import sys, closedpaw_nb; print(any(m.split('.')[0] in ('starlette', 'uvicorn') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow  # starts the simulator's CLI in a subprocess
def test_cli_prints_base_urls_and_serves_until_interrupted() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "closedpaw_nb.sim", "--port", "0", "--time-scale", "0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = first.rsplit(" ", 1)[-1].strip()
        lines = [proc.stdout.readline() for _ in range(8)]
        assert url.startswith("http://127.0.0.1:")
        assert any(f"anthropic base_url = {url}/anthropic" in line for line in lines)
        assert any("SIMULATED" in line for line in lines)
        for _ in range(100):  # uvicorn starts just after printing
            try:
                r = httpx.post(url + "/ollama/api/chat", json={**CHAT, "stream": False})
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert json.loads(r.text)["eval_count"] == 24
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.mark.parametrize(
    "provider, status, marker",
    [
        ("openai", 404, "The model `gpt-9-ultra` does not exist"),
        ("anthropic", 404, "model: gpt-9-ultra"),
        ("google", 404, "gpt-9-ultra is not found"),
        ("mistral", 404, "gpt-9-ultra"),
        ("ollama", 404, "model 'gpt-9-ultra' not found"),
    ],
)
def test_an_unknown_model_is_each_apis_own_404(sim: SimServer, provider: str, status: int, marker: str) -> None:
    """A typo in a model name shows up while prototyping, as it would against the real API."""
    from closedpaw_nb import ProviderManager
    from closedpaw_nb import _runner as runner
    from closedpaw_nb.errors import NotFoundError
    from tests.conftest import sim_config

    manager = ProviderManager()
    manager.register_provider(sim_config(sim, provider))
    try:
        with pytest.raises(NotFoundError) as caught:
            runner.run(manager.chat("Hello", provider, "gpt-9-ultra"))
        assert caught.value.status_code == status and marker in str(caught.value)
        assert runner.run(manager.chat("Hello", provider, "sim-large")).content  # listed models still answer
        if provider == "ollama":
            assert runner.run(manager.chat("Hello", provider, "sim-small:latest")).content  # a tag is its model
    finally:
        runner.run(manager.close_all())


def test_the_official_sdk_sees_an_unknown_model_as_not_found_unless_any_model(sim: SimServer) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=sim.base_url("openai"), max_retries=0)
    with pytest.raises(openai.NotFoundError, match="gpt-9-ultra"):
        client.chat.completions.create(model="gpt-9-ultra", messages=MESSAGES)
    with serve_in_thread(simulator=Simulator(time_scale=0, any_model=True)) as lenient:
        relaxed = openai.OpenAI(api_key=KEY, base_url=lenient.base_url("openai"), max_retries=0)
        assert relaxed.chat.completions.create(model="gpt-9-ultra", messages=MESSAGES).choices[0].message.content


def test_schema_compliance_can_differ_per_model() -> None:
    """near_miss_rate per model: sim-large always valid, sim-small always a near miss."""
    import jsonschema

    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["city", "n"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "c", "schema": schema, "strict": True}}
    simulator = Simulator(time_scale=0, near_miss_rate={"sim-large": 0.0, "sim-small": 1.0})
    with serve_in_thread(simulator=simulator) as server:
        client = openai.OpenAI(api_key=KEY, base_url=server.base_url("openai"), max_retries=0)
        for model, valid in (("sim-large", True), ("sim-small", False)):
            for i in range(5):
                text = (
                    client.chat.completions.create(
                        model=model, messages=[{"role": "user", "content": f"city {i}"}], response_format=fmt
                    )
                    .choices[0]
                    .message.content
                )
                ok = jsonschema.Draft202012Validator(schema).is_valid(json.loads(text))
                assert ok is valid, (model, text)
    with pytest.raises(ValueError, match="near_miss_rate must be a number in"):
        Simulator(near_miss_rate={"sim-small": 1.5})
