"""The retry policy, limiter and HTTP layer against real faults on loopback.

Calls go through ProviderManager (so through GuardedProvider), with a FakeClock injected
into the limiter: waits are virtual, the simulator's faults are real HTTP.

What the server does                      What the caller gets
----------------------------------------  ----------------------------------------------------
429 with Retry-After                      retried after it; other tasks wait at the same gate
529 / 500, 502, 503, 504                  retried with backoff (3 attempts), then the error
400, 401, 403, 404, 413, 422              not retried; after a 401 nothing more is sent
429 for a daily quota                     not retried; nothing sent until the quota resets
x-should-retry header                     overrides the status's usual retry decision
refused connection, hang, reset           retried (same idempotency key), then a clean error
stream cut after text / before any text   not retried / retried
oversized or misshapen body               ResponseParseError with a short snippet
slow drip                                 no read timeout while bytes flow; the deadline fires
redirect to another origin                never carries the key
"""

from __future__ import annotations

import asyncio

import pytest

from closedpaw_nb import ProviderManager
from closedpaw_nb import errors as E
from closedpaw_nb.providers.openai import OpenAIProvider
from closedpaw_nb.reliability.ratelimit import RateLimiter
from closedpaw_nb.sim import Fault, Simulator, serve_in_thread
from conftest import sim_config


@pytest.fixture
async def managed(sim, clock):
    """Register providers against the simulator through a manager whose limiter uses the fake clock."""
    managers = []

    def factory(provider_type="openai", **changes):
        mgr = ProviderManager(limiter=RateLimiter(clock))
        mgr.register_provider(sim_config(sim, provider_type, **changes))
        managers.append(mgr)
        return mgr

    yield factory
    for mgr in managers:
        await mgr.close_all()


def chats(sim, mount="openai"):
    return [r for r in sim.simulator.requests if r.provider == mount and r.method == "POST"]


async def test_retry_after_is_honoured_and_holds_other_tasks(managed, sim, clock):
    mgr = managed()
    sim.simulator.add_fault(Fault("status", provider="openai", status=429, headers={"retry-after": "2"}))
    second_started_at, second_cleared_at = [], []

    async def second():
        # Start once the 429 has closed the gate (polled turn by turn: FakeClock lets a few
        # turns pass before it moves virtual time on to the end of the pause).
        async with asyncio.timeout(10):
            while mgr.limiter.paused_for("openai") == 0:
                await asyncio.sleep(0)
        second_started_at.append(clock.monotonic())
        response = await mgr.chat("second")
        second_cleared_at.append(clock.monotonic())
        return response

    first, _ = await asyncio.gather(mgr.chat("first"), second())
    assert first.attempts == 2 and len(chats(sim)) == 3
    assert second_started_at[0] < 2.0 <= second_cleared_at[0]  # asked during the pause, held to its end
    assert clock.monotonic() >= 2.0
    assert clock.slept and max(clock.slept) >= 1.9  # waited on the gate, virtually


async def test_overloaded_every_time_gives_three_attempts_with_backoff(managed, sim, clock):
    mgr = managed("anthropic")
    sim.simulator.add_fault(Fault("status", provider="anthropic", status=529, times=None))
    with pytest.raises(E.OverloadedError) as info:
        await mgr.chat("hi")
    assert info.value.attempts == 3 and len(chats(sim, "anthropic")) == 3
    assert 0.375 <= clock.slept[0] <= 0.5 and 0.75 <= clock.slept[1] <= 1.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_retried_until_success(managed, sim, status):
    mgr = managed("mistral")
    sim.simulator.add_fault(Fault("status", provider="mistral", status=status, times=2))
    response = await mgr.chat("hi")
    assert response.attempts == 3 and response.content


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
async def test_client_errors_are_not_retried(managed, sim, status):
    mgr = managed()
    sim.simulator.add_fault(Fault("status", provider="openai", status=status))
    with pytest.raises(E.APIStatusError) as info:
        await mgr.chat("hi")
    assert info.value.status_code == status and len(chats(sim)) == 1


async def test_after_a_401_later_calls_fail_fast_without_a_request(managed, sim):
    mgr = managed("openai", key="invalid-key-0123456789")
    with pytest.raises(E.AuthenticationError):
        await mgr.chat("hi")
    with pytest.raises(E.AuthenticationError, match="not sent"):
        await mgr.chat("again")
    with pytest.raises(E.AuthenticationError, match="not sent"):
        await mgr.stream("again").get_response()
    assert len(chats(sim)) == 1
    assert (await mgr.check_health_all())["openai"].status == "auth_failed"


async def test_a_per_day_quota_marks_the_provider_exhausted(managed, sim):
    mgr = managed("google")
    sim.simulator.add_fault(Fault("status", provider="google", status=429, quota="day"))
    with pytest.raises(E.QuotaExhaustedError) as info:
        await mgr.chat("hi")
    assert info.value.attempts == 1  # not retried
    for call in (lambda: mgr.chat("again"), lambda: mgr.stream("again").get_response()):
        with pytest.raises(E.QuotaExhaustedError, match="not sent: the provider's quota is exhausted"):
            await call()
    assert len(chats(sim, "google")) == 1  # nothing more was sent


async def test_an_exhausted_quota_clears_when_the_server_said_it_resets(managed, sim, clock):
    mgr = managed("openai")
    sim.simulator.add_fault(
        Fault("status", provider="openai", status=429, code="insufficient_quota", headers={"retry-after": "30"})
    )
    with pytest.raises(E.QuotaExhaustedError):
        await mgr.chat("hi")
    with pytest.raises(E.QuotaExhaustedError, match="not sent") as info:
        await mgr.chat("too soon")
    assert 29 <= info.value.retry_after <= 30
    await clock.sleep(30)
    assert (await mgr.chat("after the reset")).content
    assert len(chats(sim)) == 2


async def test_x_should_retry_header_overrides_the_status(managed, sim):
    mgr = managed()
    sim.simulator.add_fault(Fault("status", provider="openai", status=503, headers={"x-should-retry": "false"}))
    with pytest.raises(E.InternalServerError):
        await mgr.chat("hi")
    assert len(chats(sim)) == 1
    sim.simulator.add_fault(Fault("status", provider="openai", status=400, headers={"x-should-retry": "true"}))
    assert (await mgr.chat("hi")).attempts == 2


async def test_connection_refused_is_retried_then_raised_without_the_address(managed, clock):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mgr = managed(base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(E.APIConnectionError) as info:
        await mgr.chat("hi")
    assert info.value.attempts == 3 and len(clock.slept) == 2
    assert "http" not in str(info.value) and str(port) not in str(info.value)


async def test_hang_times_out_is_retried_and_leaks_no_connection(managed, sim, clock):
    mgr = managed(timeout=0.1)
    sim.simulator.add_fault(Fault("hang", provider="openai", times=3))
    with pytest.raises(E.APITimeoutError) as info:
        await mgr.chat("hi")
    assert info.value.attempts == 3 and len(chats(sim)) == 3
    # The timed-out connections were closed, not pooled: the next call gets a fresh
    # answer (a pooled one would wait on a request that is never answered).
    assert (await mgr.chat("hi")).content


async def test_reset_is_retried_with_the_same_idempotency_key(managed, sim):
    mgr = managed()
    sim.simulator.add_fault(Fault("reset", provider="openai", times=2))
    response = await mgr.chat("hi")
    assert response.attempts == 3
    keys = {r.headers.get("idempotency-key") for r in chats(sim)}
    assert len(keys) == 1 and None not in keys


async def test_stream_cut_after_text_is_not_retried(managed, sim):
    mgr = managed("google")
    sim.simulator.add_fault(Fault("cut_stream", provider="google", after=3))
    stream = mgr.stream("hi")
    with pytest.raises(E.StreamInterruptedError) as info:
        async for _ in stream:
            pass
    assert info.value.attempts == 1 and len(info.value.partial_text) > 0 and len(chats(sim, "google")) == 1


async def test_stream_failing_before_any_text_is_retried(managed, sim):
    mgr = managed("ollama")
    sim.simulator.add_fault(Fault("status", provider="ollama", status=503))
    response = await mgr.stream("hi").get_response()
    assert response.attempts == 2


async def _answering(body_for, run):
    """Run `run(base_url)` against a loopback server answering each request with `body_for(target)`."""
    from transport.servers import Server

    async def handler(conn):
        while (request := await conn.read_request()) is not None:
            await conn.respond(body_for(request.target), headers=(b"content-type: application/json",))

    async with Server(handler) as server:
        await run(f"{server.url}/v1")


async def test_body_size_is_capped_and_shapes_are_checked():
    from closedpaw_nb import ProviderConfig

    def body_for(target: bytes) -> bytes:
        if target.endswith(b"/models"):
            return b'{"data": [{"no_id": 1}]}'
        return b"{" + b" " * (11 * 1024 * 1024) + b"}"

    async def run(base_url: str) -> None:
        provider = OpenAIProvider(
            ProviderConfig("openai", api_key="sk-x-0123456789", base_url=base_url, default_model="m")
        )
        with pytest.raises(E.ResponseParseError, match="larger than"):
            await provider.chat("hi")
        with pytest.raises((E.ResponseParseError, KeyError)):
            await provider.fetch_models()
        await provider.close()

    await _answering(body_for, run)


async def test_missing_fields_are_parse_errors_with_short_snippets():
    from closedpaw_nb import ProviderConfig

    async def run(base_url: str) -> None:
        provider = OpenAIProvider(
            ProviderConfig("openai", api_key="sk-x-0123456789", base_url=base_url, default_model="m")
        )
        with pytest.raises(E.ResponseParseError) as info:
            await provider.chat("hi")
        assert len(str(info.value)) < 500
        await provider.close()

    await _answering(lambda target: b'{"choices": []}', run)


@pytest.mark.slow  # waits on real time by design: two drips of about a second each
async def test_slow_drip_is_not_a_read_timeout_but_the_deadline_fires():
    sim = Simulator(time_scale=0)
    with serve_in_thread(simulator=sim) as server:
        mgr = ProviderManager()
        mgr.register_provider(sim_config(server, "openai", timeout=0.5, settings={"max_retries": 0}))
        # 64 bytes every 20 ms: each read is well inside the 0.5 s read timeout, though the
        # whole body (about 2.8 kB with 6 tokens: 44 writes) takes at least 0.86 s.
        sim.add_fault(Fault("slow_drip", provider="openai", chunk_size=64, delay_ms=20))
        response = await mgr.stream("hi", max_tokens=6).get_response()
        assert response.content and response.completion_tokens == 6
        # 128 bytes every 50 ms: the same body takes at least 1.05 s, so the 0.6 s deadline
        # ends it, keeping the text so far (and the drip is over before the server stops).
        sim.add_fault(Fault("slow_drip", provider="openai", chunk_size=128, delay_ms=50))
        with pytest.raises(E.DeadlineExceededError) as info:
            await mgr.stream("hi", max_tokens=6, deadline=0.6).get_response()
        assert info.value.partial_text
        await mgr.close_all()


async def test_redirects_never_carry_keys_to_another_origin(sim, canary):
    with serve_in_thread(simulator=Simulator(time_scale=0)) as other:
        target = other.base_url("anthropic") + "/v1/messages"
        for follow in (False, True):
            mgr = ProviderManager()
            mgr.register_provider(
                sim_config(sim, "anthropic", key=canary, settings={"follow_redirects": follow, "max_retries": 0})
            )
            sim.simulator.add_fault(Fault("redirect", provider="anthropic", location=target, status=307))
            with pytest.raises(E.ProviderError):
                await mgr.chat("hi")
            await mgr.close_all()
        arrived = other.simulator.requests
        assert len(arrived) == 1  # only the opted-in redirect was followed
        assert all(canary not in str(r.headers) for r in arrived)
        assert "x-api-key" not in arrived[0].headers and "authorization" not in arrived[0].headers
