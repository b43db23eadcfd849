"""RateLimiter: sliding-window limits, FIFO, cancellation safety, pause gate."""

from __future__ import annotations

import asyncio
import time

import pytest

from closedpaw_nb.reliability.ratelimit import RateLimiter, RequestTooLargeError


def max_in_any_window(stamps: list[float], window: float = 60.0) -> int:
    stamps = sorted(stamps)
    return max((sum(1 for t in stamps if s <= t < s + window) for s in stamps), default=0)


async def test_burst_of_200_starts_at_most_60_in_any_minute(clock):
    limiter = RateLimiter(clock)
    limiter.configure("p", requests_per_minute=60)
    starts: list[float] = []

    async def call(i: int) -> None:
        await limiter.acquire("p")
        starts.append(clock.monotonic())

    await asyncio.gather(*(call(i) for i in range(200)))
    assert len(starts) == 200
    assert max_in_any_window(starts) == 60
    # The limiter is not needlessly slow either: 200 starts need exactly 3 more windows.
    assert max(starts) == pytest.approx(180.0)


async def test_waiters_are_served_first_come_first_served(clock):
    limiter = RateLimiter(clock)
    limiter.configure("p", requests_per_minute=2)
    order: list[int] = []

    async def call(i: int) -> None:
        await limiter.acquire("p")
        order.append(i)

    tasks = []
    for i in range(7):
        tasks.append(asyncio.create_task(call(i)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == list(range(7))


async def test_cancelled_waiters_leak_no_capacity(clock):
    limiter = RateLimiter(clock)
    limiter.configure("p", requests_per_minute=60)
    starts: dict[int, float] = {}

    async def call(i: int) -> None:
        await limiter.acquire("p")
        starts[i] = clock.monotonic()

    tasks = [asyncio.create_task(call(i)) for i in range(100)]
    for _ in range(3):  # fewer yields than FakeClock.sleep takes before advancing time
        await asyncio.sleep(0)
    assert len(starts) == 60  # the first minute's capacity is used; 40 are waiting
    for task in tasks[60:80]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert sorted(starts) == list(range(60)) + list(range(80, 100))
    # Had the 20 cancelled waiters taken slots, the last 20 would start at t=120, not t=60.
    assert {starts[i] for i in range(80, 100)} == {60.0}


async def test_token_limit_and_too_large_request(clock):
    limiter = RateLimiter(clock)
    limiter.configure("p", requests_per_minute=None, tokens_per_minute=1000)
    with pytest.raises(RequestTooLargeError, match="can never fit"):
        await limiter.acquire("p", tokens=1001)
    await limiter.acquire("p", tokens=600)
    await limiter.acquire("p", tokens=400)
    assert clock.monotonic() == 0.0
    await limiter.acquire("p", tokens=10)
    assert clock.monotonic() == 60.0  # the window had to slide past the first 600


async def test_reconcile_replaces_the_estimate_with_usage(clock):
    limiter = RateLimiter(clock)
    limiter.configure("p", tokens_per_minute=1000)
    await limiter.acquire("p", tokens=900)
    limiter.reconcile("p", 900, 100)
    await limiter.acquire("p", tokens=800)
    assert clock.monotonic() == 0.0


async def test_pause_gate_holds_every_task_until_it_expires(clock):
    limiter = RateLimiter(clock)
    limiter.pause("p", 2.0)
    assert limiter.paused_for("p") == 2.0
    waited = await asyncio.gather(*(limiter.acquire("p") for _ in range(5)))
    assert all(w >= 2.0 for w in waited[:1]) and clock.monotonic() == 2.0
    assert await limiter.acquire("other") == 0.0  # other providers are not held


def test_check_limit_is_the_seed_non_waiting_form(clock):
    limiter = RateLimiter(clock)
    limiter.configure("p", requests_per_minute=3)
    assert [limiter.check_limit("p") for _ in range(4)] == [True, True, True, False]
    clock.now = 60.0
    assert limiter.check_limit("p") is True


async def test_wall_clock_jumps_do_not_affect_the_limiter(monkeypatch):
    limiter = RateLimiter()  # the real monotonic clock
    limiter.configure("p", requests_per_minute=1)
    assert limiter.check_limit("p")
    monkeypatch.setattr(time, "time", lambda: 0.0)  # the wall clock jumps back decades
    assert not limiter.check_limit("p")
