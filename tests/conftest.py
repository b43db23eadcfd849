"""Shared fixtures: a virtual clock, and the canary key planted in every leak test; and the
bounded waits tests use instead of fixed sleeps."""

from __future__ import annotations

import asyncio
import gc
import heapq
import itertools
import os
import time
from collections.abc import Callable

import pytest

CANARY = "sk-test-CANARY-3f9c2b7e-0d41-4c55-9a1e-6b2d8f0a7c13"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move everything alive after collection (the imported SDKs, pandas, pydantic models...)
    out of the garbage collector's sight: full collections then walk only what the tests
    make, instead of a million long-lived objects each time (seconds over a session)."""
    gc.collect()
    gc.freeze()


def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition", interval: float = 0.01
) -> None:
    """Poll `predicate` until it holds; AssertionError naming `what` after `timeout` seconds.

    The timeout is a bound for a hung test, not a performance claim: keep it generous."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


async def until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """`wait_until` for a coroutine: poll `predicate` without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.002)


class FakeClock:
    """Virtual time for the limiter and the retry loop: `sleep` returns at once, in
    wake-up order, after letting other ready tasks run; `monotonic` reads virtual time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self._sleepers: list[tuple[float, int]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        entry = (self.now + max(seconds, 0.0), next(self._seq))
        heapq.heappush(self._sleepers, entry)
        try:
            while True:
                for _ in range(10):  # let every ready task run and register its own sleep
                    await asyncio.sleep(0)
                if self._sleepers[0] == entry:
                    heapq.heappop(self._sleepers)
                    self.now = max(self.now, entry[0])
                    return
        except BaseException:
            if entry in self._sleepers:
                self._sleepers.remove(entry)
                heapq.heapify(self._sleepers)
            raise


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def canary() -> str:
    return CANARY


@pytest.fixture(scope="session")
def sim_server():
    """One simulator for the session, with no artificial latency (faults are per test)."""
    from closedpaw_nb.sim import Simulator, serve_in_thread

    with serve_in_thread(simulator=Simulator(time_scale=0)) as server:
        yield server


@pytest.fixture
def sim(sim_server):
    """The session simulator, with faults and recorded requests cleared around each test."""
    sim_server.simulator.reset()
    yield sim_server
    sim_server.simulator.reset()


PROVIDER_TYPES = ["openai", "anthropic", "google", "mistral", "ollama", "custom"]


def sim_config(sim, provider_type: str, key: str = "sk-test-key-0123456789", **changes):
    """A ProviderConfig pointing `provider_type` at the simulator."""
    from closedpaw_nb import ProviderConfig

    fields = dict(
        name=provider_type,
        api_key=key,
        base_url=sim.base_url(provider_type),
        default_model="sim-small",
        models=["sim-small"],
    )
    fields.update(changes)
    return ProviderConfig(provider_type, **fields)


@pytest.fixture
async def build(sim):
    """A factory of bare built-in providers (no retries, no limiter) talking to the
    simulator; every provider it made is closed after the test."""
    from closedpaw_nb.manager import ProviderManager

    made = []

    def factory(provider_type: str, **changes):
        provider = ProviderManager().register_provider(sim_config(sim, provider_type, **changes))
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        await provider.close()


@pytest.fixture(autouse=True, scope="session")
def _output_dir(tmp_path_factory):
    """Exports and charts that use the default output folder go to a temporary one (set in the
    environment, so kernels and servers the tests start inherit it), never the user's documents."""
    previous = os.environ.get("CLOSEDPAW_OUTPUT_DIR")
    os.environ["CLOSEDPAW_OUTPUT_DIR"] = str(tmp_path_factory.mktemp("output"))
    yield
    if previous is None:
        os.environ.pop("CLOSEDPAW_OUTPUT_DIR", None)
    else:
        os.environ["CLOSEDPAW_OUTPUT_DIR"] = previous
