"""Shared fixtures: a virtual clock, and the canary key planted in every leak test."""

from __future__ import annotations

import asyncio
import heapq
import itertools

import pytest

CANARY = "sk-test-CANARY-3f9c2b7e-0d41-4c55-9a1e-6b2d8f0a7c13"


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
