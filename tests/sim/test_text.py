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


async def test_pacer_waits_until_due_without_drift() -> None:
    start = time.perf_counter()
    pacer = Pacer(LatencyProfile(ttft_ms=20, tokens_per_s=200, output_tokens=10), time_scale=1.0, start=start)
    for i in range(10):
        await pacer.wait(i)
    elapsed = time.perf_counter() - start
    assert elapsed == pytest.approx(0.020 + 9 * 0.005, abs=0.004)


async def test_time_scale_zero_never_sleeps() -> None:
    pacer = Pacer(LatencyProfile(ttft_ms=10_000), time_scale=0, start=time.perf_counter())
    await asyncio.wait_for(pacer.wait_total(100), timeout=0.1)
