"""The pure scorers: what each one extracts and how it compares, the normalisation switches,
the missing-versus-wrong distinction, and the guard every scorer shares (errors, size cap)."""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

import closedpaw_nb.evals.scorers as impl
from closedpaw_nb import scorers
from closedpaw_nb.scorers import (
    MAX_ANSWER_CHARS,
    Score,
    Scorer,
    choice,
    exact_match,
    includes,
    json_valid,
    numeric,
    python,
    regex,
)

# --------------------------------------------------------------------------- Score


@pytest.mark.parametrize(
    "value, stored",
    [(True, 1.0), (False, 0.0), (1, 1.0), (0, 0.0), (0.25, 0.25), (np.float64(0.5), 0.5), (None, None)],
)
def test_score_value_is_stored_as_float_or_none(value, stored):
    score = Score(value, explanation="why")
    assert score.value == stored
    assert type(score.value) is (float if stored is not None else type(None))


@pytest.mark.parametrize(
    "value, error", [(1.5, ValueError), (-0.01, ValueError), (math.nan, ValueError), ("1", TypeError), ([1], TypeError)]
)
def test_score_rejects_values_outside_the_unit_interval(value, error):
    with pytest.raises(error):
        Score(value)


def test_a_missing_score_must_say_why():
    with pytest.raises(ValueError, match="reason"):
        Score(None)
    with pytest.raises(ValueError, match="reason"):
        Score.missing("  ")
    score = Score.missing("no expected answer", answer="x", scorer="s")
    assert score.is_missing and score.explanation == "no expected answer" and score.answer == "x"
    assert not Score(0.0).is_missing


def test_score_is_frozen_and_converts_to_a_dict():
    score = Score(1, "B", "read B", "choice")
    with pytest.raises(dataclasses.FrozenInstanceError):
        score.value = 0.0  # type: ignore[misc]
    assert score.to_dict() == {"value": 1.0, "answer": "B", "explanation": "read B", "scorer": "choice"}


@pytest.mark.parametrize("field, value", [("answer", 3), ("explanation", None), ("scorer", 1)])
def test_score_checks_its_text_fields(field, value):
    with pytest.raises(TypeError):
        Score(1.0, **{field: value})


# --------------------------------------------------------------------------- the shared guard

NEEDS_EXPECTED = [exact_match(), includes(), numeric(), choice()]
EXPECTED_IS_OPTIONAL = [regex(r"\w+"), json_valid(), python(lambda answer: True)]


@pytest.mark.parametrize("scorer", NEEDS_EXPECTED, ids=lambda s: s.name)
@pytest.mark.parametrize("expected", [None, math.nan, "", "   ", [], [None, "", math.nan]], ids=repr)
async def test_scorers_that_need_an_expected_answer_say_so(scorer, expected):
    score = await scorer.score("B 42 Paris", expected)
    assert score.is_missing
    assert score.explanation == "no expected answer"
    assert score.scorer == scorer.name


@pytest.mark.parametrize("scorer", EXPECTED_IS_OPTIONAL, ids=lambda s: s.name)
async def test_scorers_with_an_optional_expected_answer_score_without_one(scorer):
    score = await scorer.score('{"a": 1}')
    assert score.value == 1.0, score.explanation


@pytest.mark.parametrize("scorer", NEEDS_EXPECTED + EXPECTED_IS_OPTIONAL, ids=lambda s: s.name)
@pytest.mark.parametrize(
    "answer, item, reason",
    [
        (None, None, "no answer to score"),
        (42, None, "the answer must be a str, got int"),
        ("x", ["not", "a", "row"], "the item must be a mapping"),
    ],
)
async def test_bad_answers_and_items_give_missing_scores(scorer, answer, item, reason):
    score = await scorer.score(answer, "x", item)
    assert score.is_missing and score.explanation.startswith(reason)


class Exploding(Scorer):
    kind = "exploding"

    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        raise KeyError("gone")


class Echo(Scorer):
    """A minimal subclass, the way the model judge will plug in."""

    kind = "echo"
    needs_expected = False

    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        return Score(1.0 if item.get("ok") else 0.0, answer, f"item said {item.get('ok')}")


async def test_a_scorer_that_raises_gives_a_missing_score():
    score = await Exploding().score("x", "y")
    assert score.is_missing
    assert score.explanation == "scorer error: KeyError: 'gone'"
    assert score.scorer == "exploding"


class ReturnsAFloat(Scorer):
    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        return 0.5  # type: ignore[return-value]


async def test_a_scorer_that_returns_no_score_gives_a_missing_score():
    score = await ReturnsAFloat().score("x", "y")
    assert score.is_missing
    assert score.explanation == "scorer error: _score returned a float, not a Score"
    assert score.scorer == "scorer"


async def test_a_subclass_implements_only_score_and_gets_its_name_stamped():
    scorer = Echo(name="judge")
    assert (await scorer.score("hi", None, {"ok": True})).to_dict() == {
        "value": 1.0,
        "answer": "hi",
        "explanation": "item said True",
        "scorer": "judge",
    }
    assert (await scorer.score("hi")).value == 0.0  # no item: an empty mapping, not None
    with pytest.raises(TypeError):
        Scorer()  # type: ignore[abstract]


def test_names_default_to_the_kind_and_can_be_set():
    assert [s.name for s in (exact_match(), includes(), regex("x"), numeric(), choice(), json_valid())] == [
        "exact_match",
        "includes",
        "regex",
        "numeric",
        "choice",
        "json_valid",
    ]
    scorer = numeric(name="gsm8k")
    assert scorer.name == "gsm8k" and repr(scorer) == "<Numeric 'gsm8k'>"
    scorer.name = "renamed"
    assert scorer.name == "renamed"
    for bad in ("", "  ", None, 3):
        with pytest.raises(ValueError):
            scorer.name = bad  # type: ignore[assignment]


async def test_answers_are_scored_on_their_first_million_characters():
    assert MAX_ANSWER_CHARS == 1_000_000
    padding = "a" * MAX_ANSWER_CHARS
    cut = await includes().score(padding + " needle", "needle")
    assert cut.value == 0.0
    assert cut.explanation.endswith(f"(scored on the first 1,000,000 of {MAX_ANSWER_CHARS + 7:,} characters)")
    kept = await includes().score(padding[:-7] + "needle", "needle")
    assert kept.value == 1.0 and "scored on the first" not in kept.explanation


@pytest.mark.parametrize(
    "scorer, answer",
    [
        (numeric(), "1,234" * 200_000 + "5"),  # a long thousands chain that turns out invalid
        (numeric(), "1 " * 500_000),
        (choice(), "answer" + " " * 999_000 + "x"),
        (choice(), "answer is " * 100_000),
        (json_valid(), "[" * 999_999),
        (json_valid(), '{"a": ' * 160_000),
        (exact_match(), "é, " * 330_000),
    ],
    ids=[
        "numeric-commas",
        "numeric-many",
        "choice-spaces",
        "choice-markers",
        "json-deep",
        "json-open",
        "exact-unicode",
    ],
)
@pytest.mark.timeout(60)  # quadratic backtracking would take minutes: the timeout fails it, no clock is asserted
async def test_hostile_answers_are_scored_in_bounded_time(scorer, answer):
    score = await scorer.score(answer, "1" if scorer.name != "choice" else "A")
    assert not score.is_missing, score.explanation


# --------------------------------------------------------------------------- exact_match


@pytest.mark.parametrize(
    "options, answer, expected, value",
    [
        ({}, "Paris", "paris", 1.0),
        ({}, "  The   Eiffel Tower. ", "eiffel tower", 1.0),
        ({}, "U.S.A.", "USA", 1.0),
        ({}, "“Paris”", "Paris", 1.0),  # Unicode quotes are punctuation too
        ({}, "an apple", "apple", 1.0),
        ({}, "A cat", "the cat", 1.0),
        ({}, "Paris, France", "Paris", 0.0),
        ({}, "Parisian", "Paris", 0.0),
        ({}, "Paris", ["London", "Rome", "paris"], 1.0),
        ({}, "Paris", ("London", "Rome"), 0.0),
        ({}, "42", 42, 1.0),
        ({}, "3", 3.0, 1.0),  # a float column: 3.0 reads as "3"
        ({}, "", "A", 0.0),  # "A" would normalise to ""; it keeps its letter instead
        ({}, "a", "A", 1.0),
        ({"ignore_case": False}, "Paris", "paris", 0.0),
        ({"ignore_case": False}, "Paris", "Paris", 1.0),
        ({"ignore_case": False}, "The Paris", "paris", 0.0),
        ({"ignore_case": False}, "The Paris", "Paris", 1.0),  # articles go whatever the case
        ({"ignore_whitespace": False}, "new  york", "new york", 0.0),
        ({"ignore_whitespace": False}, "new york", "new york", 1.0),
        ({"ignore_punctuation": False}, "Paris.", "Paris", 0.0),
        ({"ignore_punctuation": False}, "Paris", "paris", 1.0),
        ({"ignore_articles": False}, "the apple", "apple", 0.0),
        ({"ignore_articles": False}, "the apple", "The Apple", 1.0),
        ({}, "theatre", "atre", 0.0),  # only whole-word articles go
    ],
)
async def test_exact_match(options, answer, expected, value):
    score = await exact_match(**options).score(answer, expected)
    assert score.value == value, score.explanation


async def test_exact_match_explains_with_the_normalised_text():
    score = await exact_match().score("The Answer: LONDON!", ["Paris", "Rome"])
    assert score.answer == "answer london"
    assert score.explanation == "normalised answer 'answer london' is not any of 2 expected answers ('paris', 'rome')"
    assert exact_match().normalize("  The  Café, “au lait”! ") == "café au lait"


async def test_exact_match_with_an_expected_of_the_wrong_kind_is_missing():
    score = await exact_match().score("x", {"a": 1})
    assert score.is_missing and score.explanation == "the expected answer must be text or a number, got dict"


# --------------------------------------------------------------------------- includes


@pytest.mark.parametrize(
    "options, answer, expected, value, found",
    [
        ({}, "The capital is Paris.", "paris", 1.0, "paris"),
        ({}, "The capital is\n  New   York", "new york", 1.0, "new york"),
        ({}, "Parisian food", "Paris", 1.0, "paris"),
        ({}, "The capital is Rome", "Paris", 0.0, None),
        ({}, "It is 42.", 42, 1.0, "42"),
        ({}, "London or Rome", ["Paris", "rome"], 1.0, "rome"),
        ({"ignore_case": False}, "The capital is Paris.", "paris", 0.0, None),
        ({"ignore_case": False}, "The capital is Paris.", "Paris", 1.0, "Paris"),
    ],
)
async def test_includes(options, answer, expected, value, found):
    score = await includes(**options).score(answer, expected)
    assert (score.value, score.answer) == (value, found), score.explanation


# --------------------------------------------------------------------------- regex


@pytest.mark.parametrize(
    "args, answer, expected, value, found",
    [
        ((r"\d{3}-\d{4}",), "call 555-1234 now", None, 1.0, "555-1234"),
        ((r"\d{3}-\d{4}",), "call me", None, 0.0, None),
        ((r"Answer:\s*(\w+)",), "Answer: Paris", "paris", 1.0, "Paris"),  # group 1 by default
        ((r"Answer:\s*(\w+)",), "Answer: Rome", "paris", 0.0, "Rome"),
        ((r"Answer:\s*(\w+)",), "Answer: Rome", ["paris", "ROME"], 1.0, "Rome"),
        ((r"Answer:\s*(\w+)", {"group": 0}), "Answer: Paris", None, 1.0, "Answer: Paris"),
        ((r"(?P<city>[A-Z]\w+)!", {"group": "city"}), "go to Rome!", "rome", 1.0, "Rome"),
        ((r"x(y)?z",), "xz", None, 0.0, None),  # group 1 took no part
        ((r"paris", {"flags": re.IGNORECASE}), "PARIS", None, 1.0, "PARIS"),
        ((r"paris",), "PARIS", None, 0.0, None),
        ((r"(\w+)", {"ignore_case": False}), "Paris", "paris", 0.0, "Paris"),
        ((re.compile(r"(\d+) apples"),), "I have 12 apples", 12, 1.0, "12"),
        ((r"\d+",), "42", "", 1.0, "42"),  # a blank expected answer: any match counts
    ],
)
async def test_regex(args, answer, expected, value, found):
    pattern, options = (args[0], args[1] if len(args) > 1 else {})
    score = await regex(pattern, **options).score(answer, expected)
    assert (score.value, score.answer) == (value, found), score.explanation


async def test_regex_explains_a_failed_match():
    score = await regex(r"Answer: (\w)").score("no answer here")
    assert score.explanation == r"no match for /Answer: (\w)/ in the answer"


@pytest.mark.parametrize(
    "args, options, error",
    [
        (("(unclosed",), {}, ValueError),
        ((r"(\d)",), {"group": 2}, ValueError),
        ((r"(\d)",), {"group": "name"}, ValueError),
        ((r"(\d)",), {"group": True}, TypeError),
        ((re.compile("x"),), {"flags": re.I}, ValueError),
        ((re.compile(b"x"),), {}, TypeError),
    ],
)
def test_regex_rejects_bad_arguments_when_built(args, options, error):
    with pytest.raises(error):
        regex(*args, **options)


# --------------------------------------------------------------------------- numeric


@pytest.mark.parametrize(
    "answer, value, text",
    [
        ("The answer is -5.", -5.0, "-5"),
        ("x = −2", -2.0, "−2"),  # the Unicode minus
        ("+7", 7.0, "+7"),
        ("It costs $1,234.5 in total", 1234.5, "1,234.5"),
        ("1,234,567", 1234567.0, "1,234,567"),
        ("1e3", 1000.0, "1e3"),
        ("about 2.5E-3 m", 0.0025, "2.5E-3"),
        ("3/4 of them", 0.75, "3/4"),
        ("-1/2", -0.5, "-1/2"),
        ("50%", 50.0, "50%"),
        ("50 %", 50.0, "50 %"),
        (".5", 0.5, ".5"),
        ("First 3, then 7, finally 12.", 12.0, "12"),  # the last number
        ("H2O weighs 18 g/mol", 18.0, "18"),
        ("5-3", 3.0, "3"),  # a dash between numbers is not a sign
        ("3,5", 5.0, "5"),  # no decimal commas: 3 and 5
        ("1/0 or 4", 4.0, "4"),
        ("12/0", None, None),  # x/0 is not a number
        ("1,2345", None, None),  # not a thousands grouping
        ("v1.2.3", None, None),
        ("no digits at all", None, None),
        ("", None, None),
    ],
)
async def test_numeric_extraction(answer, value, text):
    score = await numeric().score(answer, 0)
    assert score.answer == text
    if value is None:
        assert (score.value, score.explanation) == (0.0, "no number in the answer")
    else:
        assert score.explanation.startswith(f"read {value:.12g} from {text!r}")
        assert (await numeric().score(answer, value)).value == 1.0


@pytest.mark.parametrize(
    "options, answer, expected, value",
    [
        ({}, "0.1 + 0.2 = 0.30000000000000004", 0.3, 1.0),
        ({}, "3.001", 3, 0.0),
        ({"tolerance": 0.01}, "3.001", 3, 1.0),
        ({"tolerance": 0.01}, "3.02", 3, 0.0),
        ({"tolerance": 0.01, "relative": True}, "1010", 1000, 1.0),
        ({"tolerance": 0.01, "relative": True}, "1011", 1000, 0.0),
        ({"tolerance": 0.01, "relative": True}, "0.001", 0, 0.0),  # relative to 0: exact only
        ({}, "1e999", math.inf, 1.0),
        ({}, "The total is 1,234", "1,234", 1.0),  # expected text holding one number
        ({}, "50%", "50%", 1.0),
        ({}, "It is 7", ["6", 7, 8.0], 1.0),
        ({}, "It is 9", ["6", 7, 8.0], 0.0),
    ],
)
async def test_numeric_comparison(options, answer, expected, value):
    score = await numeric(**options).score(answer, expected)
    assert score.value == value, score.explanation


async def test_numeric_explains_the_miss():
    score = await numeric(tolerance=0.5).score("I get 12", [10, "11"])
    assert score.explanation == "read 12 from '12'; not within 0.5 of expected 10, 11"


@pytest.mark.parametrize(
    "expected, reason",
    [
        ("about 5 or 6", "the expected answer 'about 5 or 6' is not one number"),
        ("five", "the expected answer 'five' is not one number"),
        (True, "the expected answer must be a number or a str, got bool"),
        ({"n": 1}, "the expected answer must be a number or a str, got dict"),
    ],
)
async def test_numeric_with_an_unusable_expected_answer_is_missing(expected, reason):
    score = await numeric().score("5", expected)
    assert score.is_missing and score.explanation == reason


@pytest.mark.parametrize(
    "tolerance, error", [(-1, ValueError), (math.inf, ValueError), ("1", TypeError), (True, TypeError)]
)
def test_numeric_rejects_a_bad_tolerance(tolerance, error):
    with pytest.raises(error):
        numeric(tolerance=tolerance)


# --------------------------------------------------------------------------- choice


@pytest.mark.parametrize(
    "answer, letter",
    [
        ("B", "B"),
        ("b", "B"),
        ("(B)", "B"),
        ("B)", "B"),
        ("B.", "B"),
        ("**B**", "B"),
        ("Answer: B", "B"),
        ("answer:b", "B"),
        ("The answer is b.", "B"),
        ("The answer is (C) because it is green.", "C"),
        ("The correct answer would be D", "D"),
        ("**Final answer:** C", "C"),
        ("Answer: **A**", "A"),
        ("I choose D because it fits.", "D"),
        ("Option A is wrong, so the answer is (C).", "C"),  # the last marker wins
        ("Let me think.\nA and C are out.\n\n(d)", "D"),  # alone on the last line
        ("A) Paris", "A"),
        ("(B) Rome is the capital", "B"),
        ("C: because", "C"),
        ("the answer is a good one", None),  # a lower-case "a" followed by a word is an article
        ("I think it's B", None),  # no guess from free text
        ("Answer: E", None),  # not one of the choices
        ("B Rome", None),
        ("", None),
    ],
)
async def test_choice_extraction(answer, letter):
    score = await choice().score(answer, "B")
    assert score.answer == letter, score.explanation
    assert score.value == (1.0 if letter == "B" else 0.0)
    if letter is None:
        assert score.explanation == "no choice (A, B, C, D) could be read from the answer"


@pytest.mark.parametrize(
    "options, answer, expected, value, found",
    [
        ({}, "Answer: B", "b", 1.0, "B"),
        ({}, "Answer: B", "(B)", 1.0, "B"),
        ({}, "Answer: B", ["A", "B"], 1.0, "B"),
        ({"choices": "ABCDE"}, "Answer: E", "E", 1.0, "E"),
        ({"choices": "abcd"}, "Answer: C", "c", 1.0, "c"),  # the label as spelled in choices
        ({"choices": "1234"}, "The answer is 3.", "3", 1.0, "3"),
        ({"choices": ["T", "F"]}, "Answer: F", "T", 0.0, "F"),
    ],
)
async def test_choice_comparison(options, answer, expected, value, found):
    score = await choice(**options).score(answer, expected)
    assert (score.value, score.answer) == (value, found), score.explanation


async def test_choice_explains_how_it_read_the_letter():
    score = await choice().score("So the answer is C.", "B")
    assert score.explanation == "read C after the last answer marker; not B"


@pytest.mark.parametrize("expected", ["E", "BC", 1, {"B": 1}])
async def test_choice_with_an_expected_that_is_not_a_choice_is_missing(expected):
    score = await choice().score("B", expected)
    assert score.is_missing
    assert score.explanation == f"the expected answer {expected!r} is not one of the choices A, B, C, D"


@pytest.mark.parametrize("choices", ["", "AB C", "AA", "Aa", ["AB"], "A?"])
def test_choice_rejects_bad_labels(choices):
    with pytest.raises(ValueError):
        choice(choices=choices)


# --------------------------------------------------------------------------- json_valid

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "items": {"type": "array", "items": {"type": "number"}}},
    "required": ["name"],
}


@pytest.mark.parametrize(
    "answer, source",
    [
        ('{"a": 1}', '{"a": 1}'),
        ("  [1, 2]\n", "[1, 2]"),
        ("42", "42"),
        ('Here you go:\n```json\n{"a": 1}\n```\nAnything else?', '{"a": 1}'),
        ('```JSON\n{"a": 1}\n```', '{"a": 1}'),
        ('```python\nx = {"b": 2}\n```\n```\n{"a": 1}\n```', '{"a": 1}'),  # an untagged fence, not python
        ('```json\n{"a": 1}', '{"a": 1}'),  # a fence cut off at the end of the answer
        ('Sure! {"a": {"b": "}"}} Hope it helps.', '{"a": {"b": "}"}}'),
        ('Result: [1, {"a": 2}]. Done', '[1, {"a": 2}]'),
        ('Try {oops} then {"a": 1}', '{"a": 1}'),  # the first bracket where JSON parses
    ],
)
async def test_json_valid_finds_the_json(answer, source):
    score = await json_valid().score(answer)
    assert (score.value, score.answer) == (1.0, source), score.explanation


@pytest.mark.parametrize(
    "answer, explanation",
    [
        ("not json", "not valid JSON: Expecting value at line 1 column 1"),
        ("", "not valid JSON: Expecting value at line 1 column 1"),
        ('{"a": 1', "no JSON found; at the first '{': Expecting ',' delimiter at line 1 column 8"),
        ("[1, NaN]", "no JSON found; at the first '[': NaN is not valid JSON"),
        (
            "{'a': 1}",
            "no JSON found; at the first '{': Expecting property name enclosed in double quotes at line 1 column 2",
        ),
        (
            "```json\n{'a': 1}\n```",
            "the fenced block is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        ),
    ],
)
async def test_json_valid_explains_a_parse_failure(answer, explanation):
    score = await json_valid().score(answer)
    assert (score.value, score.answer, score.explanation) == (0.0, None, explanation)


async def test_json_valid_checks_the_schema_and_says_where_it_fails():
    scorer = json_valid(SCHEMA)
    assert (await scorer.score('{"name": "x", "items": [1, 2.5]}')).explanation == "valid JSON, matches the schema"
    score = await scorer.score('```json\n{"name": "x", "items": [1, "two"]}\n```')
    assert score.value == 0.0
    assert score.explanation == (
        "fails the schema at $.items[1]: 'two' is not of type 'number' (rule: properties/items/items/type)"
    )
    missing = await scorer.score('{"items": "no", "extra": 1}')
    assert missing.explanation.startswith("fails the schema at $")
    assert missing.explanation.endswith("(2 errors, showing one)")


async def test_json_valid_accepts_a_schema_as_json_text():
    scorer = json_valid('{"type": "array"}')
    assert (await scorer.score("[]")).value == 1.0
    assert (await scorer.score("{}")).explanation == "fails the schema at $: {} is not of type 'array' (rule: type)"


@pytest.mark.parametrize(
    "schema, error", [({"type": "no-such-type"}, ValueError), ("{not json", ValueError), ([1], TypeError)]
)
def test_json_valid_rejects_a_bad_schema_when_built(schema, error):
    with pytest.raises(error):
        json_valid(schema)


@pytest.mark.parametrize(
    "answer, expected, value, explanation",
    [
        ('{"b": [1, 2], "a": null}', {"a": None, "b": [1, 2]}, 1.0, "valid JSON, equals the expected value"),
        ('{"b": [1, 2], "a": null}', '{"a": null, "b": [1, 2]}', 1.0, "valid JSON, equals the expected value"),
        ("[1, 2]", [1, 2], 1.0, "valid JSON, equals the expected value"),  # a list is one JSON array
        ("[1, 2]", [2, 1], 0.0, "valid JSON, but not the expected value: $[0] is 1, expected 2"),
        ("[1, 2, 3]", [1, 2], 0.0, "valid JSON, but not the expected value: $ has 3 items, expected 2"),
        (
            '{"ok": true}',
            {"ok": 1},
            0.0,
            "valid JSON, but not the expected value: $.ok is a boolean, expected a number",
        ),
        ('{"n": 1.0}', {"n": 1}, 1.0, "valid JSON, equals the expected value"),
        ('{"a": 1}', {"a": 1, "b": 2}, 0.0, "valid JSON, but not the expected value: $.b is missing"),
        ('{"a": 1, "my key": 2}', {"a": 1}, 0.0, 'valid JSON, but not the expected value: $["my key"] is not expected'),
        ('"yes"', '"yes"', 1.0, "valid JSON, equals the expected value"),
        ("", '""', 0.0, "not valid JSON: Expecting value at line 1 column 1"),
    ],
)
async def test_json_valid_compares_with_the_expected_value(answer, expected, value, explanation):
    score = await json_valid().score(answer, expected)
    assert (score.value, score.explanation) == (value, explanation)


async def test_json_valid_with_an_expected_answer_that_is_not_json_is_missing():
    score = await json_valid().score('{"a": 1}', "{a: 1}")
    assert score.is_missing
    assert score.explanation == (
        "the expected answer is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"
    )


def test_importing_the_scorers_loads_neither_jsonschema_nor_pandas():
    code = "import sys, closedpaw_nb.scorers; print([m for m in ('jsonschema', 'pandas') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# --------------------------------------------------------------------------- python


def three(answer, expected, item):
    return answer.strip() == item["gold"]


async def async_checker(answer, expected):
    return 0.25 if answer == expected else 0.0


@pytest.mark.parametrize(
    "fn, expected, item, value",
    [
        (three, None, {"gold": "yes"}, 1.0),
        (three, None, {"gold": "no"}, 0.0),
        (lambda answer: len(answer) / 10, None, None, 0.3),
        (lambda answer, expected: answer.upper() == expected, "YES", None, 1.0),
        (lambda answer, expected=None, item=None, extra=0: item["k"], None, {"k": 0.5}, 0.5),
        (lambda *args: len(args) / 4, None, None, 0.75),  # *args gets all three
        (async_checker, "yes", None, 0.25),
        (lambda answer: np.bool_(answer == "yes"), None, None, 1.0),
        (lambda answer: np.float64(0.5), None, None, 0.5),
        (lambda answer: Score(0.5, "Y", "custom", scorer="ignored"), None, None, 0.5),
    ],
)
async def test_python_calls_sync_and_async_functions_with_what_they_take(fn, expected, item, value):
    score = await python(fn).score("yes", expected, item)
    assert score.value == value, score.explanation


async def test_python_keeps_a_returned_score_but_stamps_its_own_name():
    score = await python(lambda answer: Score(0.5, "Y", "custom", scorer="other"), name="mine").score("x")
    assert score.to_dict() == {"value": 0.5, "answer": "Y", "explanation": "custom", "scorer": "mine"}


def raises(answer):
    raise ValueError("boom")


async def async_raises(answer):
    raise RuntimeError("async boom")


@pytest.mark.parametrize(
    "fn, reason",
    [
        (raises, "raises raised ValueError: boom"),
        (async_raises, "async_raises raised RuntimeError: async boom"),
        (lambda answer: None, "python returned None (a missing return?); return a bool, a number in [0, 1] or a Score"),
        (lambda answer: "yes", "python returned a str; return a bool, a number in [0, 1] or a Score"),
        (lambda answer: [1], "python returned a list; return a bool, a number in [0, 1] or a Score"),
        (lambda answer: 2, "python returned 2.0, which is not in [0, 1]; return a bool, a number in [0, 1] or a Score"),
        (
            lambda answer: math.nan,
            "python returned nan, which is not in [0, 1]; return a bool, a number in [0, 1] or a Score",
        ),
        (
            lambda answer: Score(None),
            "python raised ValueError: a missing Score needs a reason: use Score.missing(reason)",
        ),
    ],
)
async def test_python_turns_errors_and_bad_returns_into_missing_scores(fn, reason):
    score = await python(fn).score("x")
    assert score.is_missing
    assert score.explanation == reason


async def test_python_passes_the_expected_answer_through_even_when_there_is_none():
    seen = []
    await python(lambda answer, expected, item: seen.append((expected, dict(item))) or True).score("x")
    assert seen == [(None, {})]


def test_python_names_and_signature_checks():
    assert python(three).name == "three"
    assert python(lambda answer: True).name == "python"
    assert python(three, name="gold").name == "gold"
    assert python(async_checker).arity == 2
    with pytest.raises(TypeError, match="keyword-only"):
        python(lambda answer, *, strict: True)
    with pytest.raises(TypeError, match="1 to 3 positional"):
        python(lambda a, b, c, d: True)
    with pytest.raises(TypeError, match="1 to 3 positional"):
        python(lambda: True)
    with pytest.raises(TypeError, match="callable"):
        python("not a function")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the public path


def test_the_public_path_reexports_the_scorers():
    expected = {
        "MAX_ANSWER_CHARS", "JudgeCall", "Score", "Scorer", "choice", "exact_match", "includes", "json_valid",
        "numeric", "python", "regex",
    }  # fmt: skip
    assert set(scorers.__all__) == expected | {"llm_judge", "per_item", "tool_call"} and expected == set(impl.__all__)
    for name in expected:
        assert getattr(scorers, name) is getattr(impl, name)
