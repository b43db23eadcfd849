"""Fixtures for the simulator tests: one module-scoped server with waiting disabled."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from closedpaw_nb.sim import SimServer, Simulator, serve_in_thread

KEY = "sk-test-key-123"
T = TypeVar("T")


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    """A simulator on a free loopback port, time_scale=0 so nothing waits."""
    with serve_in_thread(simulator=Simulator(time_scale=0)) as srv:
        yield srv


@pytest.fixture
def sim(server: SimServer) -> Iterator[SimServer]:
    """The module's server with faults and recorded requests cleared around each test."""
    server.simulator.reset()
    yield server
    server.simulator.reset()


@pytest.fixture
def closer() -> Iterator[Callable[[T], T]]:
    """Register SDK clients to close after the test (their sockets must not leak: warnings are errors)."""
    clients: list[Any] = []

    def register(client: T) -> T:
        clients.append(client)
        return client

    yield register
    for client in reversed(clients):
        if hasattr(client, "close"):
            client.close()
        else:
            client.__exit__(None, None, None)
