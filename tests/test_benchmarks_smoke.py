"""The performance suite's code paths run (tiny sizes). No timing is asserted here.

`python -m benchmarks --quick` runs every goal against the stub server in a few
seconds; the real measurements come from `python -m benchmarks` (see README).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # the whole suite in a subprocess: several seconds
def test_quick_run_writes_every_goal(tmp_path):
    out = tmp_path / "quick.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--no-litellm", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert [g["goal"] for g in results["goals"]] == ["G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8"]
    for goal in results["goals"]:
        assert goal["checks"] and "error" not in goal["details"], goal
    assert "| G6" in done.stdout and "measured" in done.stdout


@pytest.mark.slow  # a benchmark goal in a subprocess
def test_one_goal_can_be_chosen(tmp_path):
    out = tmp_path / "g5.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "g5", "--quick", "--no-litellm", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert [g["goal"] for g in json.loads(out.read_text())["goals"]] == ["G5"]


def test_unknown_goal_is_refused():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "G9"], cwd=ROOT, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 2 and "unknown goal" in done.stderr


def test_stub_modes_parse():
    from benchmarks.stub import Mode, parse_mode

    assert parse_mode("fast") == Mode()
    assert parse_mode("d50-a") == Mode(delay=0.05)
    assert parse_mode("g4-200-20-64") == Mode(ttft=0.2, itl=0.02, deltas=64)


def test_stub_stream_is_valid_sse_for_our_decoder():
    from benchmarks.stub import whole_stream
    from closedpaw_nb.transport.streams import SSEDecoder

    head, body = whole_stream(3).split(b"\r\n\r\n", 1)
    events = SSEDecoder().feed(body)
    assert b"content-length" in head and events[-1].data == "[DONE]"
    contents = [json.loads(e.data)["choices"][0]["delta"].get("content") for e in events[1:4]]
    assert contents == ["t0 ", "t1 ", "t2 "]


@pytest.mark.parametrize(
    "host, local",
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("10.0.0.1", False), ("example.com", False)],
)
def test_network_guard_allows_only_loopback(host, local):
    from benchmarks._guard import is_local

    assert is_local(host) is local


def test_client_answers_the_stub_and_times_from_the_send():
    """The library's HTTP client serves the benchmarks' stub, concurrently, and reports when a request left."""
    from benchmarks._common import stub_server
    from closedpaw_nb.transport.client import HTTPClient

    async def scenario(base_url: str) -> tuple[int, float, float]:  # (answers, elapsed, sent_at)
        client = HTTPClient(base_url, {}, 10.0, provider="stub")
        first = await client.request("POST", "/chat/completions", json={"model": "m", "messages": []})
        answers = await asyncio.gather(*(client.request("POST", "/chat/completions", json={}) for _ in range(8)))
        open_now = sum(r.status_code == 200 for r in answers)
        async with client.stream("POST", "/chat/completions", json={"stream": True}) as response:
            sent_at = response.sent_at
        await client.aclose()
        return open_now, first.elapsed_ms, sent_at

    with stub_server() as server:
        open_now, elapsed_ms, sent_at = asyncio.run(scenario(server.base_url("fast")))
    assert open_now == 8 and elapsed_ms > 0 and sent_at > 0


@pytest.mark.slow  # one subprocess per arm
@pytest.mark.parametrize("arm", ["raw", "raw-read-idle", "transport", "provider", "manager", "row"])
def test_each_instruction_count_arm_runs(arm):
    """The code that `python -m benchmarks.instructions` runs under valgrind (without it here)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.instructions", "--child", arm, "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=110,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr[-2000:]


def test_an_unknown_instruction_count_arm_is_refused():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.instructions", "G1"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "unknown arm" in done.stderr
