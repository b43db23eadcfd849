"""Serving: the thread server, base URLs, marking, pacing, concurrency and the CLI."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
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


def _stream_times(client: openai.OpenAI, model: str, seed: int) -> tuple[float, list[float]]:
    started = time.perf_counter()
    times = []
    for chunk in client.chat.completions.create(model=model, messages=MESSAGES, stream=True, seed=seed):
        if chunk.choices and chunk.choices[0].delta.content:
            times.append(time.perf_counter())
    return times[0] - started, [b - a for a, b in itertools.pairwise(times)]


@pytest.mark.parametrize("model,ttft,gap", [("sim-small", 0.030, 1 / 400), ("sim-large", 0.080, 1 / 150)])
def test_latency_profile_is_honoured(closer: Callable[[Any], Any], model: str, ttft: float, gap: float) -> None:
    with serve_in_thread() as srv:
        client = closer(openai.OpenAI(base_url=srv.base_url("openai"), api_key=KEY, max_retries=0))
        client.models.list()  # warm the connection
        runs = [_stream_times(client, model, seed) for seed in range(3)]
    ttfts = [t for t, _ in runs]
    gaps = [g for _, gs in runs for g in gs]
    # Loose bounds: this checks the pacing model, the benchmark suite checks precision.
    assert ttft * 0.95 < statistics.median(ttfts) < ttft * 1.3 + 0.005
    assert statistics.mean(gaps) == pytest.approx(gap, rel=0.15)


def test_custom_profile_time_scale_and_non_streamed_wait(closer: Callable[[Any], Any]) -> None:
    slow = LatencyProfile(ttft_ms=200, tokens_per_s=50, output_tokens=6)
    with serve_in_thread(simulator=Simulator(profiles={"slow": slow}, time_scale=0.5)) as srv:
        client = closer(openai.OpenAI(base_url=srv.base_url("openai"), api_key=KEY, max_retries=0))
        assert "slow" in [m.id for m in client.models.list()]
        started = time.perf_counter()
        reply = client.chat.completions.create(model="slow", messages=MESSAGES)
        elapsed = time.perf_counter() - started
    assert reply.usage.completion_tokens == 6
    expected = 0.5 * (0.200 + 5 / 50)  # time of the last token, scaled
    assert expected * 0.95 < elapsed < expected + 0.1


def test_many_concurrent_streams_are_served_in_parallel() -> None:
    async def one(c: httpx.AsyncClient, url: str, i: int) -> int:
        body = {"model": "sim-large", "messages": MESSAGES, "stream": True, "seed": i}
        async with c.stream("POST", url, json=body, headers=AUTH) as r:
            lines = [line async for line in r.aiter_lines()]
        return sum(1 for line in lines if '"content":"' in line and '"content":""' not in line)

    async def run(url: str) -> list[int]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(limits=limits, timeout=10) as c:
            return await asyncio.gather(*(one(c, url, i) for i in range(50)))

    with serve_in_thread() as srv:
        started = time.perf_counter()
        counts = asyncio.run(run(srv.base_url("openai") + "/chat/completions"))
        elapsed = time.perf_counter() - started
    assert counts == [48] * 50
    single = 0.080 + 47 / 150  # one sim-large stream
    assert elapsed < single * 4  # serial would take 50x


def test_import_closedpaw_nb_does_not_import_starlette() -> None:
    code = "import sys, closedpaw_nb; print(any(m.split('.')[0] in ('starlette', 'uvicorn') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


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
