"""RetryPolicy, the Retry-After parser, and GuardedProvider's retry loop: which errors are
retried and after how long, the pause gate a 429 closes, streams, and the overall deadline."""

from __future__ import annotations

import asyncio
import math
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closedpaw_nb import ChatResponse, ProviderConfig
from closedpaw_nb import errors as E
from closedpaw_nb.providers.base import BaseProvider
from closedpaw_nb.reliability.guard import GuardedProvider
from closedpaw_nb.reliability.ratelimit import RateLimiter
from closedpaw_nb.reliability.retry import RetryPolicy, parse_retry_after

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"retry-after": "2"}, 2.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "10"}, 1.5),
        ({"retry-after-ms": "garbage", "retry-after": "3"}, 3.0),
        ({"retry-after": format_datetime(NOW + timedelta(seconds=20), usegmt=True)}, 20.0),
        ({"retry-after": format_datetime(NOW - timedelta(seconds=20), usegmt=True)}, None),
        ({"retry-after": "0"}, None),
        ({"retry-after": "-10"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "3600"}, 3600.0),
        ({}, None),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers, NOW) == expected


@given(st.dictionaries(st.sampled_from(["retry-after", "retry-after-ms", "x"]), st.text(max_size=40)))
def test_parse_retry_after_is_total(headers):
    value = parse_retry_after(headers, NOW)
    assert value is None or (math.isfinite(value) and value > 0)


def test_backoff_follows_the_sdk_formula():
    policy = RetryPolicy()
    rng = random.Random(1)
    for n, base in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 8.0]):
        for _ in range(50):
            assert 0.75 * base <= policy.backoff(n, rng) <= base


@pytest.mark.parametrize(
    "error, retried",
    [
        (E.RateLimitError("x"), True),
        (E.QuotaExhaustedError("x"), False),
        (E.InternalServerError("x"), True),
        (E.OverloadedError("x"), True),
        (E.ConflictError("x"), True),
        (E.APIConnectionError("x"), True),
        (E.APITimeoutError("x"), True),
        (E.DeadlineExceededError("x"), False),
        (E.BadRequestError("x"), False),
        (E.AuthenticationError("x"), False),
        (E.NotFoundError("x"), False),
        (E.StreamInterruptedError("x"), False),
        (E.InternalServerError("x", retryable=False), False),  # x-should-retry: false
        (E.BadRequestError("x", retryable=True), True),  # x-should-retry: true
        (E.RateLimitError("x", retry_after=3600), False),  # above the cap: surfaced
    ],
)
def test_what_is_retried(error, retried):
    assert RetryPolicy().should_retry(error, 0) is retried
    assert RetryPolicy().should_retry(error, 2) is False
    assert RetryPolicy(max_retries=0).should_retry(error, 0) is False


def test_policy_from_settings():
    assert RetryPolicy.from_settings({}).max_retries == 2
    assert RetryPolicy.from_settings({"retries": False}).max_retries == 0
    assert RetryPolicy.from_settings({"max_retries": 5, "retry_max_server_delay": 120}).max_server_delay == 120
    with pytest.raises(E.ConfigError, match="bad retry setting"):
        RetryPolicy.from_settings({"max_retries": "many"})


class Scripted(BaseProvider):
    """Fails with each scripted error in turn, then answers; records idempotency keys."""

    accepts_idempotency_key = True

    def __init__(self, config, script, stream_parts=("a", "b", "c"), fail_after_parts=None):
        super().__init__(config)
        self.script = list(script)
        self.calls = 0
        self.keys: list[str | None] = []
        self.stream_parts = stream_parts
        self.fail_after_parts = fail_after_parts

    async def chat(self, messages, model=None, idempotency_key=None, **options):
        self.calls += 1
        self.keys.append(idempotency_key)
        if self.script:
            raise self.script.pop(0)
        return ChatResponse("ok", "m", self.name, latency_ms=1.0)

    async def stream_chat(self, messages, model=None, idempotency_key=None, **options):
        self.calls += 1
        self.keys.append(idempotency_key)
        if self.script and self.fail_after_parts is None:
            raise self.script.pop(0)
        for i, part in enumerate(self.stream_parts):
            if self.fail_after_parts == i:
                raise E.StreamInterruptedError("cut", provider=self.name)
            yield part
        yield ChatResponse("".join(self.stream_parts), "m", self.name, latency_ms=1.0)


def guarded(script, clock, **kwargs):
    inner = Scripted(ProviderConfig("custom", name="p", default_model="m"), script, **kwargs)
    return inner, GuardedProvider(inner, RetryPolicy(), RateLimiter(clock))


async def test_429_with_retry_after_pauses_every_task_then_succeeds(clock):
    inner, provider = guarded([E.RateLimitError("slow down", retry_after=2.0)], clock)
    asked_at: list[float] = []
    second_started: list[float] = []

    async def other_task():
        async with asyncio.timeout(10):  # start while the first call is waiting out the 429
            while provider.limiter.paused_for("p") == 0:
                await asyncio.sleep(0)
        asked_at.append(clock.monotonic())
        await provider.limiter.acquire("p")
        second_started.append(clock.monotonic())

    response, _ = await asyncio.gather(provider.chat("hi"), other_task())
    assert response.attempts == 2 and inner.calls == 2
    assert clock.monotonic() >= 2.0
    assert asked_at[0] < 2.0 <= second_started[0]  # asked during the pause: the gate held it too


async def test_5xx_backoff_delays_and_attempt_count(clock):
    inner, provider = guarded([E.OverloadedError("529")] * 3, clock)
    with pytest.raises(E.OverloadedError) as info:
        await provider.chat("hi")
    assert info.value.attempts == 3 and inner.calls == 3
    assert len(clock.slept) == 2
    assert 0.375 <= clock.slept[0] <= 0.5 and 0.75 <= clock.slept[1] <= 1.0


async def test_non_retryable_errors_hit_once(clock):
    for error in (E.BadRequestError("x"), E.AuthenticationError("x"), E.NotFoundError("x"), E.QuotaExhaustedError("x")):
        inner, provider = guarded([error], clock)
        with pytest.raises(type(error)):
            await provider.chat("hi")
        assert inner.calls == 1


async def test_server_delay_above_cap_is_raised_not_waited(clock):
    inner, provider = guarded([E.RateLimitError("daily", retry_after=3600)], clock)
    with pytest.raises(E.RateLimitError) as info:
        await provider.chat("hi")
    assert info.value.retry_after == 3600 and inner.calls == 1 and clock.monotonic() == 0.0


async def test_every_attempt_of_one_call_carries_the_same_idempotency_key(clock):
    inner, provider = guarded([E.APIConnectionError("reset"), E.APIConnectionError("reset")], clock)
    await provider.chat("hi")
    await provider.chat("again")
    assert len(set(inner.keys[:3])) == 1 and inner.keys[0] is not None
    assert inner.keys[3] != inner.keys[0]


_FORKED_KEYS = """
import os
from closedpaw_nb.reliability.guard import new_call_key
mine = [new_call_key() for _ in range(1000)]
read, write = os.pipe()
if os.fork() == 0:  # the child sends its next keys and leaves at once
    os.write(write, " ".join(new_call_key() for _ in range(3)).encode())
    os._exit(0)
os.close(write)
os.wait()
child = os.read(read, 4096).decode().split()
parent = [new_call_key() for _ in range(3)]
print(len(set(mine)), len(child), len(set(child) & set(parent + mine)), child[0][:24] != parent[0][:24])
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_call_keys_are_unique_across_calls_and_forked_processes():
    """Keys are a per-process random prefix and a counter: a forked child (multiprocessing's
    default on Linux) must not repeat its parent's next keys. (Forked in a fresh interpreter:
    forking the threaded test process is unsafe.)"""
    done = subprocess.run([sys.executable, "-c", _FORKED_KEYS], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1000", "3", "0", "True"]


async def test_stream_is_retried_before_its_first_delta(clock):
    inner, provider = guarded([E.InternalServerError("500")], clock)
    stream = provider.stream("hi")
    assert [d async for d in stream] == ["a", "b", "c"]
    assert stream.response.attempts == 2 and inner.calls == 2


async def test_stream_is_never_retried_after_its_first_delta(clock):
    inner, provider = guarded([], clock, fail_after_parts=2)
    stream = provider.stream("hi")
    seen = []
    with pytest.raises(E.StreamInterruptedError):
        async for delta in stream:
            seen.append(delta)
    assert seen == ["a", "b"] and inner.calls == 1


async def test_overall_deadline_keeps_partial_text():
    class Drip(BaseProvider):
        async def chat(self, messages, model=None, **options):
            await asyncio.sleep(10)

        async def stream_chat(self, messages, model=None, **options):
            for part in ("x", "y", "z"):
                yield part
                await asyncio.sleep(0.05)
            await asyncio.sleep(10)
            yield ChatResponse("xyz", "m", self.name)

    provider = GuardedProvider(Drip(ProviderConfig("custom", name="drip", default_model="m")))
    with pytest.raises(E.DeadlineExceededError) as info:
        await provider.chat("hi", deadline=0.1)
    assert info.value.partial_text is None
    with pytest.raises(E.DeadlineExceededError) as info:
        async for _ in provider.stream("hi", deadline=0.3):
            pass
    assert info.value.partial_text == "xyz" and "0.3s deadline" in str(info.value)


async def test_a_guarded_stream_can_be_resumed_from_another_task(clock):
    inner, provider = guarded([], clock)
    stream = provider.stream("hi")
    first = await asyncio.create_task(stream.__anext__())  # started in one task...
    rest = await asyncio.create_task(_drain(stream))  # ...finished in another
    assert [first, *rest] == ["a", "b", "c"]


async def _drain(stream):
    return [d async for d in stream]
