"""tool_call: the expected tool, called with the expected arguments, read from the call record."""

from __future__ import annotations

import pytest

from closedpaw_nb.scorers import tool_call


def _item(*calls, **extra):
    return {"_call": {"tool_calls": list(calls), "parsed": None}, **extra}


WEATHER = {"id": "c1", "name": "get_weather", "arguments": {"city": "Paris", "days": 2}}


@pytest.mark.parametrize(
    "scorer, expected, calls, value, why",
    [
        (tool_call("get_weather"), None, [WEATHER], 1.0, "called get_weather"),
        (tool_call("get_weather", {"days": 2, "city": "Paris"}), None, [WEATHER], 1.0, "expected arguments"),
        (tool_call("get_weather", {"city": "paris", "days": 2}), None, [WEATHER], 0.0, "other arguments"),
        (tool_call("get_weather", {"city": "Paris", "days": "2"}), None, [WEATHER], 0.0, "other arguments"),
        (tool_call("get_weather", {"city": "Paris"}), None, [WEATHER], 0.0, "other arguments"),
        (tool_call("get_weather", {"city": "Paris"}, subset=True), None, [WEATHER], 1.0, "expected arguments"),
        (tool_call("get_time"), None, [WEATHER], 0.0, "called get_weather, not get_time"),
        (tool_call("get_weather"), None, [], 0.0, "no tool call"),
        (tool_call(), {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}, [WEATHER], 1.0, "expected"),
        (tool_call(), '{"name": "get_weather", "arguments": {"city": "Rome", "days": 2}}', [WEATHER], 0.0, "other"),
        (tool_call(), "get_weather", [WEATHER], 1.0, "called get_weather"),
    ],
)
async def test_the_expected_call(scorer, expected, calls, value, why):
    score = await scorer.score("", expected, _item(*calls))
    assert score.value == value and why in score.explanation


async def test_a_true_argument_is_not_one_and_any_of_several_calls_may_match():
    flag = {"id": "c", "name": "set", "arguments": {"on": True}}
    assert (await tool_call("set", {"on": 1}).score("", None, _item(flag))).value == 0.0
    other = {"id": "d", "name": "set", "arguments": {"on": False}}
    assert (await tool_call("set", {"on": True}).score("", None, _item(other, flag))).value == 1.0


async def test_without_a_call_record_or_an_expected_call_the_score_is_missing():
    no_record = await tool_call("get_weather").score("text", None, {"input": "q"})
    assert no_record.value is None and "no call record" in no_record.explanation
    no_expectation = await tool_call().score("", None, _item(WEATHER))
    assert no_expectation.value is None and "no expected tool call" in no_expectation.explanation
