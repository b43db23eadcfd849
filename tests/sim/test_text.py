"""Deterministic text generation, token counting and pacing, without a server."""

from __future__ import annotations

import asyncio
import time

import pytest

from closedpaw_nb.sim import LatencyProfile
from closedpaw_nb.sim._text import Pacer, count_tokens, generate

PROFILE = LatencyProfile(ttft_ms=10, tokens_per_s=1000, output_tokens=40)


def gen(**kwargs: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {"model": "m", "prompt": "hello", "prompt_tokens": 1, "profile": PROFILE, **kwargs}
    return generate(**args)  # type: ignore[arg-type]


def test_same_inputs_same_text_and_each_input_matters() -> None:
    base = gen(seed=1, temperature=0.5)
    assert base == gen(seed=1, temperature=0.5)
    for change in ({"seed": 2}, {"temperature": 0.6}, {"model": "other"}, {"prompt": "bye"}):
        assert gen(**{"seed": 1, "temperature": 0.5, **change}).text != base.text


def test_tokens_are_words_and_text_reads_like_sentences() -> None:
    g = gen()
    assert g.completion_tokens == 40 == len(g.text.split())
    assert g.tokens[0][0].isupper() and not g.tokens[0].startswith(" ")
    assert all(t.startswith(" ") for t in g.tokens[1:])
    assert g.text.endswith(".") and g.finish == "stop" and g.stop_sequence is None
    assert len(set(g.text.lower().split())) > 15


def test_max_tokens_gives_a_prefix_with_length() -> None:
    full, capped = gen(), gen(max_tokens=7)
    assert capped.tokens == full.tokens[:7] and capped.finish == "length"
    assert gen(max_tokens=40).finish == "stop"
    assert gen(max_tokens=0).tokens == () and gen(max_tokens=0).finish == "length"


def test_stop_sequence_inside_a_token_keeps_its_prefix() -> None:
    full = gen()
    word = full.tokens[5]  # e.g. " river"
    stop = word[2:]  # starts inside token 5
    cut = gen(stop=[stop])
    assert cut.finish == "stop_sequence" and cut.stop_sequence == stop
    assert full.text.startswith(cut.text) and stop not in cut.text
    assert cut.tokens[-1] == word[:2] and cut.completion_tokens == 6


def test_earliest_stop_wins() -> None:
    full = gen()
    late, early = full.tokens[9], full.tokens[3]
    cut = gen(stop=[late, early])
    assert cut.stop_sequence == early and cut.completion_tokens == 3


def test_count_tokens_counts_words() -> None:
    assert count_tokens(["Be terse.", "Tell me about rivers", ""]) == 6


def test_profile_validation() -> None:
    with pytest.raises(ValueError):
        LatencyProfile(tokens_per_s=0)


def test_pacer_schedule_is_absolute_and_scaled() -> None:
    pacer = Pacer(LatencyProfile(ttft_ms=100, tokens_per_s=10, output_tokens=3), time_scale=0.5, start=1000.0)
    assert pacer.due(0) == pytest.approx(1000.05)
    assert pacer.due(4) == pytest.approx(1000.05 + 4 * 0.05)


class LateClock:
    """Stands in for `time` and `asyncio` in the pacer's module: every sleep wakes up
    `late` seconds after it was due, as a busy machine's timers do."""

    def __init__(self, late: float) -> None:
        self.now, self.late, self.sleeps = 1000.0, late, 0

    def perf_counter(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds + self.late


@pytest.fixture
def late_clock(monkeypatch: pytest.MonkeyPatch) -> LateClock:
    from closedpaw_nb.sim import _text

    clock = LateClock(late=0.003)
    monkeypatch.setattr(_text, "time", clock)
    monkeypatch.setattr(_text, "asyncio", clock)
    monkeypatch.setattr(Pacer, "_bias", Pacer._bias)  # the learned bias is restored afterwards
    return clock


async def test_pacer_waits_until_due_without_drift(late_clock: LateClock) -> None:
    """Each wait aims at its absolute due time, so lateness does not pile up: after ten
    waits, each woken 3 ms late, the pacer is at most 3 ms past the last due time (waits of
    one gap each would be 30 ms past), and never before it by more than the early bias."""
    pacer = Pacer(LatencyProfile(ttft_ms=20, tokens_per_s=200, output_tokens=10), time_scale=1.0, start=late_clock.now)
    for i in range(10):
        await pacer.wait(i)
        assert pacer.due(i) - Pacer._MAX_BIAS <= late_clock.now <= pacer.due(i) + late_clock.late + 1e-9
    assert late_clock.sleeps == 10
    assert pacer.due(9) == pytest.approx(1000.0 + 0.020 + 9 * 0.005)


async def test_pacer_does_not_wait_for_what_is_already_due(late_clock: LateClock) -> None:
    pacer = Pacer(
        LatencyProfile(ttft_ms=20, tokens_per_s=200, output_tokens=10), time_scale=1.0, start=late_clock.now - 1.0
    )  # a second behind schedule
    for i in range(10):
        await pacer.wait(i)
    assert late_clock.sleeps == 0 and late_clock.now == 1000.0


async def test_pacer_really_sleeps() -> None:
    """On the real clock, the last token is never sent before it is due (less the early bias)."""
    start = time.perf_counter()
    pacer = Pacer(LatencyProfile(ttft_ms=20, tokens_per_s=200, output_tokens=10), time_scale=1.0, start=start)
    for i in range(10):
        await pacer.wait(i)
    assert time.perf_counter() - start >= 0.020 + 9 * 0.005 - Pacer._MAX_BIAS


async def test_time_scale_zero_never_sleeps() -> None:
    pacer = Pacer(LatencyProfile(ttft_ms=10_000), time_scale=0, start=time.perf_counter())
    await asyncio.wait_for(pacer.wait_total(100), timeout=0.1)
