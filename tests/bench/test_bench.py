"""Benchmarks against the simulator: rows for every call, durable store, resume, exports."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from closedpaw_nb import ConfigError, ProviderManager
from closedpaw_nb.bench.run import normalize_prompts, resolve_targets, resume_benchmark, run_benchmark
from closedpaw_nb.bench.store import ROW_FIELDS, RunStore, keys_of
from closedpaw_nb.sim import Fault
from conftest import sim_config

TARGETS = ["openai:sim-small", "anthropic:sim-small", "google:sim-small", "ollama:sim-small"]


@pytest.fixture
async def manager(sim):
    mgr = ProviderManager()
    for ptype in ("openai", "anthropic", "google", "ollama", "mistral"):
        mgr.register_provider(sim_config(sim, ptype, settings={"max_retries": 0}))
    yield mgr
    await mgr.close_all()


async def test_interrupted_run_resumes_to_exactly_all_rows(manager, tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    prompts = [f"prompt number {i}" for i in range(10)]  # 10 prompts x 4 targets x 5 trials = 200
    seen = 0
    task = None

    def on_row(row):
        nonlocal seen
        seen += 1
        if seen == 100:
            task.cancel()  # a kernel interrupt mid-run

    task = asyncio.ensure_future(
        run_benchmark(
            manager, prompts, TARGETS, trials=5, warmup=0, concurrency=8, store=store, run_id="run-1", on_row=on_row
        )
    )
    with pytest.raises(asyncio.CancelledError):
        await task
    kept = store.rows("run-1")
    assert 100 <= len(kept) < 200
    assert store.runs()[0]["status"] == "cancelled"
    result = await resume_benchmark(manager, "run-1", store)
    rows = store.rows("run-1")
    keys = {(r["target"], r["prompt_id"], r["trial"], r["warmup"]) for r in rows}
    assert len(rows) == 200 and len(keys) == 200
    assert all(r["ok"] for r in rows)
    assert len(result.df) == 200 and store.runs()[0]["status"] == "done"


CHILD = textwrap.dedent("""
    import asyncio, sys
    from closedpaw_nb import ProviderConfig, ProviderManager
    from closedpaw_nb.bench.run import run_benchmark
    from closedpaw_nb.bench.store import RunStore
    from closedpaw_nb.sim import LatencyProfile, Simulator, serve_in_thread

    def on_row(row):
        print(row["target"], row["prompt_id"], row["trial"], flush=True)

    async def main(url):
        mgr = ProviderManager()
        mgr.register_provider(
            ProviderConfig("openai", api_key="sk-x-0123456789", base_url=url, default_model="sim-small")
        )
        await run_benchmark(mgr, [f"p {i}" for i in range(50)], ["openai:sim-small"], trials=4, warmup=0,
                            concurrency=2, store=RunStore(sys.argv[1]), run_id="crash", on_row=on_row)

    sim = Simulator(profiles={"sim-small": LatencyProfile(ttft_ms=5, tokens_per_s=2000, output_tokens=8)})
    with serve_in_thread(simulator=sim) as server:
        asyncio.run(main(server.base_url("openai")))
""")


@pytest.mark.slow  # runs a benchmark in a subprocess and kills it
def test_killed_process_loses_no_committed_row(tmp_path):
    db = tmp_path / "crash.sqlite"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, str(script), str(db)], stdout=subprocess.PIPE, text=True, env=env)
    reported = []
    deadline = time.monotonic() + 60
    while len(reported) < 40 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        reported.append(tuple(line.split()))
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert len(reported) >= 40, "the child did not get far enough to test anything"
    stored = {(r["target"], r["prompt_id"], str(r["trial"])) for r in RunStore(db).rows("crash")}
    assert set(reported) <= stored  # every row the child saw committed is on disk
    assert len(stored) < 200  # and it really was killed mid-run


class FailingStore(RunStore):
    """A store whose disk fills up after `good` successful commits."""

    def __init__(self, path, good):
        super().__init__(path)
        self.good = good

    def write_rows(self, rows):
        if self.good == 0:
            raise sqlite3.OperationalError("database or disk is full")
        self.good -= 1
        return super().write_rows(rows)


async def test_a_store_that_cannot_write_stops_the_run_with_its_error(manager, tmp_path):
    store = FailingStore(tmp_path / "full.sqlite", good=3)
    reported = []
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        await run_benchmark(
            manager,
            [f"p{i}" for i in range(10)],
            TARGETS,
            trials=3,
            warmup=0,
            concurrency=4,
            store=store,
            run_id="full",
            on_row=reported.append,
        )
    stored = RunStore(tmp_path / "full.sqlite").rows("full")
    # Every row reported finished is on disk; the run stopped well before its 120 calls.
    assert 0 < len(stored) < 120 and keys_of(reported) == keys_of(stored)


async def test_an_on_row_callback_that_raises_stops_the_run_with_its_error(manager, tmp_path):
    def on_row(row):
        raise RuntimeError("the progress display broke")

    with pytest.raises(RuntimeError, match="progress display broke"):
        await run_benchmark(
            manager,
            [f"p{i}" for i in range(10)],
            TARGETS,
            trials=3,
            warmup=0,
            concurrency=4,
            store=RunStore(tmp_path / "cb.sqlite"),
            run_id="cb",
            on_row=on_row,
        )
    assert 0 < len(RunStore(tmp_path / "cb.sqlite").rows("cb")) < 120  # stored what finished, then stopped


async def test_failures_are_rows_not_crashes(manager, sim, tmp_path):
    sim.simulator.add_fault(Fault("status", provider="anthropic", status=500, times=None))
    result = await run_benchmark(
        manager, ["a", "b"], TARGETS, trials=2, warmup=1, concurrency=4, store=RunStore(tmp_path / "r.sqlite")
    )
    df = result.df
    assert len(df) == 4 + 2 * 2 * 4  # warm-ups + prompts x trials x targets
    failed = df[df.provider == "anthropic"]
    assert not failed.ok.any() and set(failed.error_type) == {"InternalServerError"}
    assert set(failed.status_code) == {500} and set(failed.attempts) == {1}
    assert df[df.provider != "anthropic"].ok.all()
    assert list(df.columns)[: len(ROW_FIELDS)] == list(ROW_FIELDS)


async def test_unknown_target_fails_before_anything_is_sent(manager, sim, tmp_path):
    with pytest.raises(ConfigError, match="unknown target 'nope:x'"):
        await run_benchmark(manager, ["a"], ["openai:sim-small", "nope:x"], store=RunStore(tmp_path / "r.sqlite"))
    assert sim.simulator.requests == []


def test_row_values_round_trip_through_the_store(tmp_path):
    """bool, float (NaN as NULL, numpy's too), datetime and None go in and come back as a frame expects."""
    import math
    from datetime import UTC, datetime

    import numpy as np

    store = RunStore(tmp_path / "r.sqlite")
    started = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    base = {"run_id": "r", "target": "a:m", "provider": "a", "model": "m", "prompt": "p", "started_at": started}
    store.write_rows(
        [
            {**base, "prompt_id": "1", "trial": 0, "warmup": True, "ok": False, "latency_ms": math.nan},
            {**base, "prompt_id": "2", "trial": 0, "warmup": False, "ok": True, "latency_ms": np.float64("nan")},
            {**base, "prompt_id": "3", "trial": 0, "warmup": False, "ok": True, "latency_ms": 12.5, "ttft_ms": None},
        ]
    )
    rows = {r["prompt_id"]: r for r in store.rows("r")}
    assert rows["1"]["warmup"] is True and rows["1"]["ok"] is False and rows["2"]["ok"] is True
    assert rows["1"]["latency_ms"] is None and rows["2"]["latency_ms"] is None and rows["3"]["latency_ms"] == 12.5
    assert rows["3"]["ttft_ms"] is None and rows["3"]["started_at"] == started
    store.close()


def test_targets_and_prompts_normalise(manager):
    assert [str(t) for t in resolve_targets(manager, ["openai", ("ollama", "llama3.2:latest")])] == [
        "openai:sim-small",
        "ollama:llama3.2:latest",
    ]
    assert normalize_prompts("hi") == [("p000", "hi")]
    assert normalize_prompts(pd.Series(["x", "y"], index=["q1", "q2"])) == [("q1", "x"), ("q2", "y")]
    with pytest.raises(ConfigError, match="non-empty strings"):
        normalize_prompts(["ok", ""])


@pytest.mark.slow  # waits on real time by design: eight paced streams
async def test_measured_ttft_and_rate_follow_the_simulated_profiles(tmp_path):
    """The benchmark's TTFT and decode rate are the server's: never less than a profile's
    time to first token (a bound that holds on any machine), and in the profiles' order
    (5x the TTFT, a quarter of the rate). How exact the timing is: benchmarks/g4_timing.py."""
    from closedpaw_nb.sim import LatencyProfile, Simulator, serve_in_thread
    from closedpaw_nb.sim._text import Pacer

    profiles = {
        "quick": LatencyProfile(ttft_ms=20, tokens_per_s=400, output_tokens=11),
        "paced": LatencyProfile(ttft_ms=100, tokens_per_s=100, output_tokens=11),
    }
    with serve_in_thread(simulator=Simulator(profiles=profiles)) as server:
        mgr = ProviderManager()
        mgr.register_provider(sim_config(server, "openai", default_model="paced", models=list(profiles)))
        result = await run_benchmark(
            mgr,
            ["measure me"],
            ["openai:quick", "openai:paced"],
            trials=3,
            warmup=1,
            concurrency=1,
            store=RunStore(tmp_path / "r.sqlite"),
        )
        await mgr.close_all()
    summary = result.summary()
    ttft = summary["ttft_p50_ms"]
    rate = summary["tokens_per_s_p50"]
    early_ms = Pacer._MAX_BIAS * 1000  # the most the simulator sends ahead of a due time
    assert ttft["openai:paced"] >= 100 - early_ms and ttft["openai:quick"] >= 20 - early_ms
    assert ttft["openai:paced"] > ttft["openai:quick"]
    assert rate["openai:paced"] < rate["openai:quick"]
    assert (result.df["completion_tokens"] == 11).all()


async def test_exports_carry_a_manifest_and_no_key(manager, tmp_path, canary):
    manager.register_provider(sim_config_for_canary(manager, canary))
    result = await run_benchmark(
        manager,
        {"q1": "hello"},
        ["canary:sim-small", "openai:sim-small"],
        trials=1,
        warmup=0,
        store=RunStore(tmp_path / "r.sqlite"),
        prices={"openai:sim-small": (1.0, 2.0)},
    )
    paths = [
        result.to_csv(tmp_path / "out.csv"),
        result.to_json(tmp_path / "out.json"),
        result.to_parquet(tmp_path / "out.parquet"),
    ]
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    assert manifest["prompts"] == {"q1": "hello"} and manifest["library"]["closedpaw_nb"]
    assert manifest["providers"]["canary"]["has_key"] is True
    assert "local_providers" in manifest and manifest["prices"]["openai:sim-small"] == [1.0, 2.0]
    for path in paths + [tmp_path / "out.manifest.json", tmp_path / "r.sqlite"]:
        assert canary.encode() not in path.read_bytes()
    assert len(pd.read_parquet(paths[2])) == 2 and len(pd.read_csv(paths[0])) == 2
    # An explicit price wins; a loopback endpoint without one costs nothing (not NaN).
    df = result.df.set_index("target")
    row = df.loc["openai:sim-small"]
    assert row.cost_usd == pytest.approx(row.prompt_tokens * 1.0 / 1e6 + row.completion_tokens * 2.0 / 1e6)
    assert df.loc["canary:sim-small", "cost_usd"] == 0.0


def sim_config_for_canary(manager, canary):
    base = manager.get_provider("openai").config
    return base.with_changes(name="canary", api_key=canary)


async def test_result_charts_are_figures(manager, tmp_path):
    from matplotlib.figure import Figure

    result = await run_benchmark(manager, ["a"], TARGETS[:2], trials=2, warmup=0, store=RunStore(tmp_path / "r.sqlite"))
    for figure in (result.latency_chart(), result.throughput_chart(), result.error_chart()):
        assert isinstance(figure, Figure) and figure.axes
    assert "latency" in result._repr_html_()


async def test_the_matrix_keeps_exactly_concurrency_calls_in_flight_and_starts_them_in_order(tmp_path):
    from closedpaw_nb.bench.run import Target, new_run_id, plan, run_matrix
    from closedpaw_nb.types import ChatResponse

    class Caller:
        def __init__(self):
            self.in_flight = self.most = 0
            self.started = []

        async def chat(self, messages, provider, model, **options):
            self.started.append(messages[-1]["content"])
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            await asyncio.sleep(0.005)
            self.in_flight -= 1
            return ChatResponse(content="ok", model=model, provider=provider, latency_ms=5.0)

    caller = Caller()
    prompts = {f"p{i}": f"prompt {i}" for i in range(10)}
    items = plan([Target("fake", "m")], list(prompts.items()), trials=2, warmup=0)
    store = RunStore(tmp_path / "r.sqlite")
    run_id = new_run_id()
    store.create_run(run_id, {})
    written = await run_matrix(caller, items, prompts, run_id=run_id, store=store, stream=False, concurrency=3)
    assert written == 20 and caller.most == 3 and caller.in_flight == 0
    assert caller.started == [f"prompt {i}" for _ in range(2) for i in range(10)]
