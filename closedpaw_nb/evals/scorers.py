"""Pure scorers: turn one model answer and the row's expected answer into a `Score`.

```python
from closedpaw_nb.scorers import numeric

s = await numeric(tolerance=0.01).score("So the total is $1,234.50.", 1234.5)
s.value, s.answer  # (1.0, '1,234.50')
```

A scorer has three kinds of outcome, and keeps them apart:

- **A value in [0, 1]**: the answer was judged. An answer that lacks what the scorer looks for
  is a *wrong answer*, 0.0, with the reason in `explanation`. Examples: no number for `numeric`,
  no letter for `choice`, no match for `regex`, text that is not JSON for `json_valid`. The
  model was asked for that thing and did not give it. Scoring it "missing" would reward
  refusals and rambling, because missing scores are left out of the mean.
- **A missing score** (`value is None`, `Score.missing(reason)`): *we* could not judge.
  The reasons are: no expected answer, an expected answer of the wrong kind, a `python` function
  that raised or returned something unusable, or a bug in a scorer. `explanation` always
  says which. A failure on our side is never a silent 0.
- **An exception**: only for a scorer built with bad arguments (a bad regex or schema, a
  negative tolerance). Those raise `ValueError`/`TypeError` when the scorer is built. Once
  built, `score()` catches every `Exception` into a missing score, so one bad row never
  stops a run. Cancellation still propagates.

**Expected answers.** None, a float NaN (a blank pandas cell) and a blank string all mean
"no expected answer". A list or tuple gives alternatives, and any match counts. The
exception is `json_valid`, where a list is a JSON array.

**Size.** Answers are scored on their first `MAX_ANSWER_CHARS` (1,000,000) characters, and
the explanation says so when an answer was cut. That way a runaway answer costs bounded
time. The built-in patterns run in linear time. The `regex` pattern is the user's own:
Python's `re` cannot be interrupted, so a pattern with nested quantifiers (`(a+)+$`) can
still stall on a hostile answer. Write such patterns with possessive quantifiers or atomic
groups (`a++`, `(?>...)`).

This module is pure: no I/O, and no pandas. `jsonschema` is imported only when
`json_valid` is given a schema.
"""

from __future__ import annotations

import abc
import collections
import inspect
import itertools
import json
import math
import numbers
import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple, TypeVar

from ..structured import fenced_block, json_kind

__all__ = [
    "MAX_ANSWER_CHARS",
    "JudgeCall",
    "Score",
    "Scorer",
    "choice",
    "exact_match",
    "includes",
    "json_valid",
    "numeric",
    "python",
    "regex",
]

MAX_ANSWER_CHARS = 1_000_000

_EMPTY_ITEM: Mapping[str, Any] = MappingProxyType({})
_T = TypeVar("_T")


# --------------------------------------------------------------------------- Score


@dataclass(frozen=True)
class JudgeCall:
    """A model judge's own call behind a `Score`: what it cost, apart from the target's call.

    Attributes:
        key: The verdict's cache key (a hash of the judge target and the exact judge prompt).
        judge: The judge target, "provider:model".
        latency_ms: The judge call's latency (of the original call when `cached`).
        prompt_tokens: Tokens the judge read (None when its API did not say).
        completion_tokens: Tokens the judge wrote (None when its API did not say).
        cached: The verdict was reused (from this process or the run store): no new call was made.
    """

    key: str
    judge: str
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached: bool = False


@dataclass(frozen=True)
class Score:
    """The verdict of one scorer on one answer.

    Attributes:
        value: In [0, 1], where 1.0 means correct. None means missing: the answer could not
            be judged. A bool is stored as 1.0/0.0.
        answer: What the scorer extracted and compared (the number, the letter, the match,
            the JSON text...). None when it found nothing.
        explanation: Why. For a judged answer, what was compared. For a missing score, the
            reason, which is never empty.
        scorer: The name of the scorer that produced it. `Scorer.score` fills it in.
        judge_call: For a model judge, the judge's own call (latency, tokens); else None.
    """

    value: float | None
    answer: str | None = None
    explanation: str = ""
    scorer: str = ""
    judge_call: JudgeCall | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _check_value(self.value))
        if self.answer is not None and not isinstance(self.answer, str):
            raise TypeError(f"Score.answer must be a str or None, got {type(self.answer).__name__}")
        if not isinstance(self.explanation, str) or not isinstance(self.scorer, str):
            raise TypeError("Score.explanation and Score.scorer must be str")
        if self.value is None and not self.explanation.strip():
            raise ValueError("a missing Score needs a reason: use Score.missing(reason)")

    @classmethod
    def missing(cls, reason: str, *, answer: str | None = None, scorer: str = "") -> Score:
        """A score that could not be judged, and why (the reason must not be empty)."""
        return cls(None, answer, reason, scorer)

    @property
    def is_missing(self) -> bool:
        """Whether the answer could not be judged (`value is None`)."""
        return self.value is None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for DataFrames and JSON); `judge_call` only when set."""
        fields = asdict(self)
        if self.judge_call is None:
            del fields["judge_call"]
        return fields


def _check_value(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, numbers.Real):
        raise TypeError(f"Score.value must be a number in [0, 1], a bool or None, got {type(value).__name__}")
    number = float(value)
    if not 0.0 <= number <= 1.0:  # NaN fails this too: a missing score is None, with a reason
        raise ValueError(f"Score.value must be in [0, 1] (or None with a reason), got {value!r}")
    return number


# --------------------------------------------------------------------------- Scorer base


class _CannotScore(Exception):
    """Raised inside `_score` to give a missing score whose reason is the message."""


class Scorer(abc.ABC):
    """Base of every scorer: a `name` and `await scorer.score(answer, expected, item)`.

    `score` holds the guard that all scorers share:
    - it caps the answer at `MAX_ANSWER_CHARS`;
    - it returns a missing score when there is no answer, or (if `needs_expected` is set)
      no expected answer;
    - it turns any exception into a missing score;
    - it writes `name` into the result.

    A subclass implements only `_score`. The model judge (`llm_judge`) plugs in here: its
    `_score` awaits the grader, and returns `Score.missing(reason)` for a verdict it cannot
    parse.

    Attributes:
        name: The scorer's name in results. It can be set; by default it is `kind`.
        kind: The class's default name ("exact_match", "numeric"...).
        needs_expected: Whether a row with no expected answer gets a missing score
            ("no expected answer") before `_score` runs.
    """

    kind: ClassVar[str] = "scorer"
    needs_expected: ClassVar[bool] = True

    def __init__(self, *, name: str | None = None) -> None:
        self.name = self.kind if name is None else name

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"a scorer's name must be a non-empty str, got {value!r}")
        self._name = value

    async def score(self, answer: str, expected: Any = None, item: Mapping[str, Any] | None = None) -> Score:
        """Score one answer. This never raises, except when cancelled.

        Args:
            answer: The model's answer text.
            expected: The expected answer, or a list of acceptable ones. Each scorer
                documents what it accepts. None means there is no expected answer.
            item: The whole dataset row (input, expected, metadata columns), for scorers
                that read other columns (`python`, the model judge).

        Returns:
            A `Score` whose `scorer` is this scorer's name.
        """
        result = await self._guarded(answer, expected, _EMPTY_ITEM if item is None else item)
        return replace(result, scorer=self.name)

    @abc.abstractmethod
    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        """Judge one answer. By the time this runs, `answer` is a str already capped in size."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    async def _guarded(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        problem = self._precheck(answer, expected, item)
        if problem is not None:
            return Score.missing(problem)
        text, note = _cap(answer)
        try:
            result = await self._score(text, expected, item)
        except _CannotScore as exc:
            result = Score.missing(str(exc))
        except Exception as exc:
            result = Score.missing(f"scorer error: {_describe(exc)}")
        if not isinstance(result, Score):  # a subclass's bug must not escape as a TypeError below
            result = Score.missing(f"scorer error: _score returned a {type(result).__name__}, not a Score")
        return result if not note else replace(result, explanation=f"{result.explanation} {note}")

    def _precheck(self, answer: object, expected: Any, item: object) -> str | None:
        if answer is None:
            return "no answer to score (the answer is None)"
        if not isinstance(answer, str):
            return f"the answer must be a str, got {type(answer).__name__}"
        if not isinstance(item, Mapping):
            return f"the item must be a mapping (the dataset row), got {type(item).__name__}"
        if self.needs_expected and not _candidates(expected):
            return "no expected answer"
        return None


def _cap(answer: str) -> tuple[str, str]:
    if len(answer) <= MAX_ANSWER_CHARS:
        return answer, ""
    return answer[:MAX_ANSWER_CHARS], f"(scored on the first {MAX_ANSWER_CHARS:,} of {len(answer):,} characters)"


def _describe(exc: BaseException) -> str:
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= 500 else text[:499] + "…"


def _short(text: str, limit: int = 60) -> str:
    """The text cut to `limit` characters, so that explanations stay one readable line."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip(text: str, limit: int = 60) -> str:
    return repr(_short(text, limit))


def _is_blank(value: Any) -> bool:
    # None, a NaN (how pandas reads an empty cell) and "" all mean "no expected answer".
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def _candidates(expected: Any) -> list[Any]:
    """The acceptable answers: a list or tuple gives alternatives, blanks are dropped."""
    values = list(expected) if isinstance(expected, list | tuple) else [expected]
    return [value for value in values if not _is_blank(value)]


def _number_text(value: numbers.Real) -> str:
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _text_candidates(expected: Any) -> list[str]:
    """The expected answers as text: a number becomes its usual spelling (3.0 -> "3")."""
    texts = []
    for value in _candidates(expected):
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            texts.append(_number_text(value))
        else:
            raise _CannotScore(f"the expected answer must be text or a number, got {type(value).__name__}")
    return texts


def _last(items: Iterable[_T]) -> _T | None:
    """The last of the items, without keeping the others (they may be many)."""
    tail = collections.deque(items, maxlen=1)
    return tail[0] if tail else None


def _expected_text(wanted: Sequence[str]) -> str:
    if len(wanted) == 1:
        return f"expected {_clip(wanted[0])}"
    shown = ", ".join(_clip(w, 30) for w in wanted[:5])
    return f"any of {len(wanted)} expected answers ({shown}{', ...' if len(wanted) > 5 else ''})"


# --------------------------------------------------------------------------- text normalisation

_ASCII_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b\s*", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def _squash(text: str) -> str:
    """Runs of whitespace become one space, and the ends are stripped."""
    return _SPACES.sub(" ", text).strip()


def _strip_punctuation(text: str) -> str:
    text = text.translate(_ASCII_PUNCTUATION)
    if text.isascii():
        return text
    # Models write curly quotes, dashes and other Unicode punctuation (categories P*).
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))


def _fold(text: str, ignore_case: bool) -> str:
    text = _squash(text)
    return text.casefold() if ignore_case else text


# --------------------------------------------------------------------------- exact_match


class ExactMatch(Scorer):
    """Normalised equality; built by `exact_match()`, which documents it."""

    kind = "exact_match"

    def __init__(
        self,
        *,
        ignore_case: bool = True,
        ignore_whitespace: bool = True,
        ignore_punctuation: bool = True,
        ignore_articles: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.ignore_case = ignore_case
        self.ignore_whitespace = ignore_whitespace
        self.ignore_punctuation = ignore_punctuation
        self.ignore_articles = ignore_articles

    def normalize(self, text: str, *, words: bool = True) -> str:
        """The text as this scorer compares it. The steps run in SQuAD's order.

        With `words=False`, punctuation and articles are kept, and only case and whitespace
        are normalised.
        """
        if self.ignore_case:
            text = text.casefold()
        if words and self.ignore_punctuation:
            text = _strip_punctuation(text)
        if words and self.ignore_articles:
            text = _ARTICLES.sub("", text)
        return _squash(text) if self.ignore_whitespace else text

    def _pair(self, answer: str, expected: str) -> tuple[str, str]:
        want = self.normalize(expected)
        if want:
            return self.normalize(answer), want
        # The expected answer was all article or punctuation ("A", "The", "?"). Normalised
        # to "", it would match any answer that also normalises to "". Keep those characters.
        return self.normalize(answer, words=False), self.normalize(expected, words=False)

    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        pairs = [self._pair(answer, text) for text in _text_candidates(expected)]
        for got, want in pairs:
            if got == want:
                return Score(1.0, got, f"normalised answer {_clip(got)} equals the expected answer")
        got = self.normalize(answer)
        return Score(0.0, got, f"normalised answer {_clip(got)} is not {_expected_text([w for _, w in pairs])}")


def exact_match(
    *,
    ignore_case: bool = True,
    ignore_whitespace: bool = True,
    ignore_punctuation: bool = True,
    ignore_articles: bool = True,
    name: str | None = None,
) -> ExactMatch:
    """The answer equals the expected answer (or one of a list of them), once both are normalised.

    By default normalisation is SQuAD-style. It runs these steps, in this order:
    1. casefold;
    2. delete punctuation (ASCII `string.punctuation` and Unicode P* characters, so
       "U.S." becomes "us" and "don't" becomes "dont");
    3. drop the English articles a/an/the;
    4. collapse runs of whitespace and strip the ends.

    Each switch can be turned off. Article removal always ignores case, even when
    `ignore_case=False`. An expected answer that would normalise to nothing ("A", "The", "?")
    is compared with its punctuation and articles kept, so an empty answer cannot match it.
    With `ignore_whitespace=False`, whitespace must match exactly.
    Deleting punctuation also merges "3.5" and "35", so use `numeric()` for numbers.

    Args:
        ignore_case: Casefold both sides.
        ignore_whitespace: Collapse whitespace and strip the ends.
        ignore_punctuation: Delete punctuation.
        ignore_articles: Drop "a", "an" and "the" as whole words.
        name: The scorer's name (default "exact_match").

    Expected: a str, a number (3.0 is read as "3"), or a list of them.
    `Score.answer` is the normalised answer.
    """
    return ExactMatch(
        ignore_case=ignore_case,
        ignore_whitespace=ignore_whitespace,
        ignore_punctuation=ignore_punctuation,
        ignore_articles=ignore_articles,
        name=name,
    )


# --------------------------------------------------------------------------- includes


class Includes(Scorer):
    """Substring test; built by `includes()`, which documents it."""

    kind = "includes"

    def __init__(self, *, ignore_case: bool = True, name: str | None = None) -> None:
        super().__init__(name=name)
        self.ignore_case = ignore_case

    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        wanted = [_fold(text, self.ignore_case) for text in _text_candidates(expected)]
        got = _fold(answer, self.ignore_case)
        for text in wanted:
            if text in got:
                return Score(1.0, text, f"the answer contains {_clip(text)}")
        return Score(0.0, None, f"the answer does not contain {_expected_text(wanted)}")


def includes(*, ignore_case: bool = True, name: str | None = None) -> Includes:
    """The expected text appears somewhere in the answer. With a list, any one of them counts.

    Before the test, both sides have their whitespace collapsed and their ends stripped, and
    they are casefolded unless `ignore_case=False`. It is a plain substring test: "Paris" is
    found in "Parisian". Use `regex(r"\\bParis\\b")` when you need word boundaries.

    Args:
        ignore_case: Casefold both sides.
        name: The scorer's name (default "includes").

    Expected: a str, a number, or a list of them. `Score.answer` is the expected text that
    was found.
    """
    return Includes(ignore_case=ignore_case, name=name)


# --------------------------------------------------------------------------- regex


class Regex(Scorer):
    """Pattern search; built by `regex()`, which documents it."""

    kind = "regex"
    needs_expected = False

    def __init__(
        self,
        pattern: str | re.Pattern[str],
        *,
        flags: int = 0,
        group: int | str | None = None,
        ignore_case: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        try:
            self.pattern: re.Pattern[str] = re.compile(pattern, flags)
        except re.error as exc:
            raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
        if not isinstance(self.pattern.pattern, str):
            raise TypeError("regex() needs a str pattern, not bytes")
        self.group = _check_group(self.pattern, group)
        self.ignore_case = ignore_case

    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        wanted = _text_candidates(expected)  # checked first: a bad expected is missing, match or not
        where = f"/{self.pattern.pattern[:60]}/"
        match = self.pattern.search(answer)
        if match is None:
            return Score(0.0, None, f"no match for {where} in the answer")
        found = match.group(self.group)
        if found is None:
            return Score(0.0, None, f"{where} matched, but group {self.group!r} took no part in the match")
        if not wanted:
            return Score(1.0, found, f"{where} matched {_clip(found)}")
        folded = [_fold(text, self.ignore_case) for text in wanted]
        if _fold(found, self.ignore_case) in folded:
            return Score(1.0, found, f"{where} matched {_clip(found)}, which is the expected answer")
        return Score(0.0, found, f"{where} matched {_clip(found)}, which is not {_expected_text(wanted)}")


def _check_group(pattern: re.Pattern[str], group: int | str | None) -> int | str:
    if group is None:
        return 1 if pattern.groups else 0
    if isinstance(group, bool) or not isinstance(group, int | str):
        raise TypeError(f"group must be an int, a str or None, got {type(group).__name__}")
    if isinstance(group, int) and not 0 <= group <= pattern.groups:
        raise ValueError(f"group {group} does not exist: the pattern has {pattern.groups} group(s)")
    if isinstance(group, str) and group not in pattern.groupindex:
        raise ValueError(f"the pattern has no group named {group!r}")
    return group


def regex(
    pattern: str | re.Pattern[str],
    *,
    flags: int = 0,
    group: int | str | None = None,
    ignore_case: bool = True,
    name: str | None = None,
) -> Regex:
    """The answer matches `pattern`. The match is the extracted answer.

    Matching uses `re.search`, which finds the first match anywhere in the answer; anchor
    the pattern with `^`/`$` or `\\A`/`\\Z` as needed. The extracted text is chosen like this:
    - `group` if one is given;
    - otherwise group 1 when the pattern has capture groups;
    - otherwise the whole match. Pass `group=0` to force the whole match.

    With no expected answer, any match scores 1.0. With an expected answer, the extracted
    text must equal it, or one of a list of them. Both sides are compared with whitespace
    collapsed and, unless `ignore_case=False`, casefolded.

    No match, or a group that took no part in the match, scores 0.0: the answer does not
    have the asked-for form. An invalid pattern or group raises `ValueError` when the scorer
    is built. The pattern is the user's own, so see the module notes on backtracking.

    Args:
        pattern: A str pattern, or a compiled one (and then `flags` must be 0).
        flags: `re` flags, e.g. `re.IGNORECASE | re.MULTILINE`.
        group: The group to extract, by number or name.
        ignore_case: Casefold when comparing with the expected answer. This does not affect
            matching: use `flags` for that.
        name: The scorer's name (default "regex").
    """
    return Regex(pattern, flags=flags, group=group, ignore_case=ignore_case, name=name)


# --------------------------------------------------------------------------- numeric

_NUMBER = re.compile(
    r"""
    (?<![\w.])                                      # not inside a word, nor after a decimal point
    (?P<sign>[-+\u2212])?
    (?:
        (?P<num>\d+)/(?P<den>\d+)                   # a simple fraction: 3/4
      | (?P<dec>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)   # 1,234.5  42  .5
        (?P<exp>[eE][-+]?\d+)?                      # 1e3  2.5E-4
    )
    (?P<pct>\s?%)?
    """,
    re.VERBOSE,
)
# Linear time: a token can start only where the lookbehind allows (never inside a digit
# run), and after the greedy thousands group everything is optional, so nothing backtracks.


class _Number(NamedTuple):
    value: float
    text: str


def _numbers(text: str) -> Iterator[_Number]:
    """Every number in the text, in order (see `numeric()` for the grammar)."""
    for match in _NUMBER.finditer(text):
        if text[match.end() : match.end() + 1].isdigit():
            continue  # "1,2345": not a valid thousands grouping, so it is not a number
        value = _number_value(match)
        if value is not None:
            yield _Number(value, match.group(0))


def _number_value(match: re.Match[str]) -> float | None:
    sign = -1.0 if match["sign"] in ("-", "\u2212") else 1.0
    try:
        if match["num"] is not None:
            denominator = int(match["den"])
            return None if denominator == 0 else sign * (int(match["num"]) / denominator)
        return sign * float(match["dec"].replace(",", "") + (match["exp"] or ""))
    except (ValueError, OverflowError):  # digits beyond int()'s limit, or too large for a float
        return None


def _last_number(text: str) -> _Number | None:
    return _last(_numbers(text))


def _expected_number(value: Any) -> float:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        found = list(itertools.islice(_numbers(value), 2))
        if len(found) == 1:
            return found[0].value
        raise _CannotScore(f"the expected answer {_clip(value)} is not one number")
    raise _CannotScore(f"the expected answer must be a number or a str, got {type(value).__name__}")


def _fmt(number: float) -> str:
    return f"{number:.12g}"


class Numeric(Scorer):
    """Number comparison; built by `numeric()`, which documents it."""

    kind = "numeric"

    def __init__(self, *, tolerance: float = 1e-6, relative: bool = False, name: str | None = None) -> None:
        super().__init__(name=name)
        if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real):
            raise TypeError(f"tolerance must be a number, got {type(tolerance).__name__}")
        if not (math.isfinite(tolerance) and tolerance >= 0):
            raise ValueError(f"tolerance must be finite and >= 0, got {tolerance!r}")
        self.tolerance: float = float(tolerance)
        self.relative: bool = relative

    def close(self, got: float, want: float) -> bool:
        """Whether `got` is within the tolerance of `want`."""
        if got == want:  # also inf == inf, where the difference would be NaN
            return True
        allowed = self.tolerance * abs(want) if self.relative else self.tolerance
        return abs(got - want) <= allowed

    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        targets = [_expected_number(value) for value in _candidates(expected)]
        token = _last_number(answer)
        if token is None:
            return Score(0.0, None, "no number in the answer")
        got = f"read {_fmt(token.value)} from {_clip(token.text)}"
        rule = f"{self.tolerance:g}{' relative' if self.relative else ''}"
        for want in targets:
            if self.close(token.value, want):
                return Score(1.0, token.text, f"{got}; within {rule} of expected {_fmt(want)}")
        shown = ", ".join(_fmt(want) for want in targets[:5]) + (", ..." if len(targets) > 5 else "")
        return Score(0.0, token.text, f"{got}; not within {rule} of expected {shown}")


def numeric(*, tolerance: float = 1e-6, relative: bool = False, name: str | None = None) -> Numeric:
    """The last number in the answer equals the expected number, within a tolerance.

    The answer is taken to be the **last** number in the text, since worked answers end with
    their result. The number grammar:
    - an optional sign: `-`, `+` or the Unicode minus;
    - digits, with optional "," thousands separators in groups of three ("1,234,567");
    - an optional decimal point (".5" and "2.75");
    - an optional exponent ("1e3", "2.5E-4");
    - or else a simple fraction of two integers ("3/4", "-1/2"). An "x/0" is not a number.
    - A trailing "%" is allowed and the value is read as written: "50%" is 50, to match the
      usual way datasets store percentages.

    A number that starts right after a letter, a digit or a "." is skipped, so "H2O" and
    "v1.2.3" hold no number, and in "5-3" the dash is not a sign. Not read: decimal commas
    ("3,5" gives 3 and 5), spaced thousands ("1 000"), number words, or "2 × 10^3". For
    those, write a `python()` scorer.

    No number in the answer scores 0.0 ("no number in the answer"), not missing. The model
    was asked for a number and gave none, and that is a wrong answer. Missing is kept for
    rows *we* cannot judge, such as an expected answer that is not a number.

    Args:
        tolerance: The allowed difference. By default it is absolute: |got - expected| <=
            tolerance.
        relative: Make the tolerance relative to the expected value: |got - expected| <=
            tolerance * |expected|. An expected 0 then needs an exact answer.
        name: The scorer's name (default "numeric").

    Expected: a number, a str holding exactly one number ("1,234", "50%"), or a list of
    them. `Score.answer` is the number's text as written in the answer.
    """
    return Numeric(tolerance=tolerance, relative=relative, name=name)


# --------------------------------------------------------------------------- choice


class _ChoicePatterns(NamedTuple):
    marker: re.Pattern[str]
    alone: re.Pattern[str]
    leading: re.Pattern[str]


def _choice_patterns(labels: Sequence[str]) -> _ChoicePatterns:
    upper = "".join(re.escape(label.upper()) for label in labels)
    lower = "".join(re.escape(label.lower()) for label in labels)
    # An upper-case letter may be followed by more text ("Answer: B because ..."). A lower-case
    # one must be followed by punctuation or the end of the line, so that "the answer is a
    # good one" does not read as A.
    letter = rf"(?:(?P<up>[{upper}])\b|(?P<low>[{lower}])(?=[).\]*:,;!]|[ \t]*+(?:\n|\Z)))"
    verb = r"(?:is|was|would\s++be|should\s++be|must\s++be)"
    # Possessive quantifiers throughout: a hostile answer cannot make these backtrack.
    marker = (
        rf"\b(?i:answer|option|choice|choose|chose|select|pick)\b(?:\s++{verb}\b)?+"
        rf"\s*+(?:[:=\-]\s*+)?+(?:\*\*)?+[(\[]?+\s*+{letter}"
    )
    return _ChoicePatterns(
        marker=re.compile(marker),
        alone=re.compile(rf"[\W_]*+(?P<up>[{upper}{lower}])[\W_]*+"),
        leading=re.compile(rf"\s*+(?:\*\*)?+[(\[]?+(?P<up>[{upper}{lower}])(?=[).\]:*]|\s*+\Z)"),
    )


class Choice(Scorer):
    """Multiple-choice letter; built by `choice()`, which documents it."""

    kind = "choice"

    def __init__(self, *, choices: str | Sequence[str] = "ABCD", name: str | None = None) -> None:
        super().__init__(name=name)
        labels = list(choices)
        if not labels:
            raise ValueError("choices must not be empty")
        for label in labels:
            if not (isinstance(label, str) and len(label) == 1 and label.isalnum()):
                raise ValueError(f"each choice must be one letter or digit, got {label!r}")
        self.choices = tuple(labels)
        self._labels = {label.casefold(): label for label in labels}
        if len(self._labels) != len(labels):
            raise ValueError(f"choices must be distinct ignoring case, got {choices!r}")
        self._patterns = _choice_patterns(labels)

    def extract(self, answer: str) -> tuple[str, str] | None:
        """The chosen label, and how it was found; None when no choice can be read."""
        last = _last(self._patterns.marker.finditer(answer))
        if last is not None:
            return self._label(last["up"] or last["low"]), "after the last answer marker"
        tail = answer.rstrip().rpartition("\n")[2]
        alone = self._patterns.alone.fullmatch(tail)
        if alone is not None:
            return self._label(alone["up"]), "alone on the last line"
        leading = self._patterns.leading.match(answer)
        if leading is not None:
            return self._label(leading["up"]), "as the leading label"
        return None

    def _label(self, letter: str) -> str:
        return self._labels[letter.casefold()]

    def _expected_label(self, value: Any) -> str:
        text = value.strip().strip(string.punctuation + " ") if isinstance(value, str) else None
        if text is None or text.casefold() not in self._labels:
            raise _CannotScore(f"the expected answer {value!r} is not one of the choices {', '.join(self.choices)}")
        return self._labels[text.casefold()]

    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        wanted = [self._expected_label(value) for value in _candidates(expected)]
        found = self.extract(answer)
        if found is None:
            return Score(0.0, None, f"no choice ({', '.join(self.choices)}) could be read from the answer")
        label, how = found
        verdict = "the expected choice" if label in wanted else f"not {' or '.join(wanted)}"
        return Score(1.0 if label in wanted else 0.0, label, f"read {label} {how}; {verdict}")


def choice(*, choices: str | Sequence[str] = "ABCD", name: str | None = None) -> Choice:
    """The multiple-choice letter read from the answer equals the expected letter.

    The letter is read in this order:
    1. After the **last** answer marker (answer, option, choice, choose, select, pick;
       optionally followed by "is", "would be"...; then an optional ":", "**" or "("),
       e.g. "Answer: B", "The answer is (b).", "**Final answer:** C", "I choose D".
    2. Failing that, a letter alone on the last line ("B", "(B)", "**B**", "b.").
    3. Failing that, a leading label: "B) Paris", "(B) Paris", "B. Paris", "B: Paris".

    A lower-case letter after a marker counts only when punctuation or the line end follows
    it, so "the answer is a good one" is not read as A. No guess is made from free text,
    because "A" is also a word. Nothing readable scores 0.0. The comparison ignores case.

    Args:
        choices: The labels, each one letter or digit ("ABCD", "ABCDE", "1234"). `Score.answer`
            is the label spelled as here.
        name: The scorer's name (default "choice").

    Expected: a label ("B", "b", "(B)") or a list of them. Anything else gives a missing
    score.
    """
    return Choice(choices=choices, name=name)


# --------------------------------------------------------------------------- json_valid


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# Python's json accepts NaN and Infinity by default, but they are not JSON.
_STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant)
_MAX_SPAN_TRIES = 16  # bounds the work on an answer full of unbalanced brackets
_OPENERS = re.compile(r"[\[{]")


class _Json(NamedTuple):
    value: Any
    source: str


def _json_error(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)


def _decode(text: str) -> _Json:
    text = text.strip()
    return _Json(_STRICT_JSON.decode(text), text)


class _NotJson(Exception):
    """No JSON could be read from the answer; the message says why."""


def _first_span(text: str) -> _Json | None:
    """The JSON object or array at the first "{" or "[" where one parses; None if there is no bracket."""
    first_error = None
    for opener in itertools.islice(_OPENERS.finditer(text), _MAX_SPAN_TRIES):
        try:
            value, end = _STRICT_JSON.raw_decode(text, opener.start())
        except (ValueError, RecursionError) as exc:
            first_error = first_error or f"at the first {opener.group()!r}: {_json_error(exc)}"
            continue
        return _Json(value, text[opener.start() : end])
    if first_error is None:
        return None
    raise _NotJson(f"no JSON found; {first_error}")


def _find_json(answer: str) -> _Json:
    """The JSON in the answer: the whole answer, else a fenced block, else the first span."""
    try:
        return _decode(answer)
    except (ValueError, RecursionError) as exc:
        whole_error = _json_error(exc)
    block = fenced_block(answer)
    if block is not None:
        try:
            return _decode(block)
        except (ValueError, RecursionError) as exc:
            raise _NotJson(f"the fenced block is not valid JSON: {_json_error(exc)}") from None
    span = _first_span(answer)
    if span is None:
        raise _NotJson(f"not valid JSON: {whole_error}")
    return span


def _path_step(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = str(key)
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"


def _json_diff(got: Any, want: Any, path: str = "$") -> str | None:
    """Where two JSON values first differ, or None when they are equal.

    JSON equality, not Python's: true is not 1, and object key order does not matter.
    """
    if json_kind(got) != json_kind(want):
        return f"{path} is {json_kind(got)}, expected {json_kind(want)}"
    if isinstance(want, Mapping):
        for key in sorted(set(got) | set(want), key=str):
            if key not in got or key not in want:
                return f"{_path_step(path, key)} is {'missing' if key not in got else 'not expected'}"
            diff = _json_diff(got[key], want[key], _path_step(path, key))
            if diff:
                return diff
        return None
    if isinstance(want, list | tuple):
        if len(got) != len(want):
            return f"{path} has {len(got)} items, expected {len(want)}"
        diffs = (_json_diff(g, w, _path_step(path, i)) for i, (g, w) in enumerate(zip(got, want, strict=True)))
        return next((diff for diff in diffs if diff), None)
    if got == want:
        return None
    return f"{path} is {_short(_dumps(got), 40)}, expected {_short(_dumps(want), 40)}"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)  # an expected value may hold non-JSON types


def _expected_json(expected: Any) -> Any:
    """A str is JSON text to parse (dataset cells hold text); any other value is used as is."""
    if not isinstance(expected, str):
        return expected
    try:
        return _decode(expected).value
    except (ValueError, RecursionError) as exc:
        raise _CannotScore(f"the expected answer is not valid JSON: {_json_error(exc)}") from None


class JsonValid(Scorer):
    """JSON parse, schema and equality check; built by `json_valid()`, which documents it."""

    kind = "json_valid"
    needs_expected = False

    def __init__(self, schema: Mapping[str, Any] | bool | str | None = None, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except ValueError as exc:
                raise ValueError(f"the schema is not valid JSON: {exc}") from None
        self.schema = schema
        self._validator = None if schema is None else _make_validator(schema)

    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        want = None if _is_blank(expected) else _expected_json(expected)
        try:
            found = _find_json(answer)
        except _NotJson as exc:
            return Score(0.0, None, str(exc))
        problem = self._schema_problem(found.value)
        if problem is None and want is not None:
            diff = _json_diff(found.value, want)
            problem = None if diff is None else f"valid JSON, but not the expected value: {diff}"
        if problem is not None:
            return Score(0.0, found.source, problem)
        checks = ["valid JSON"]
        checks += ["matches the schema"] if self._validator is not None else []
        checks += ["equals the expected value"] if want is not None else []
        return Score(1.0, found.source, ", ".join(checks))

    def _schema_problem(self, value: Any) -> str | None:
        if self._validator is None:
            return None
        from jsonschema.exceptions import best_match

        errors = list(itertools.islice(self._validator.iter_errors(value), 50))
        if not errors:
            return None
        error = best_match(errors)
        rule = "/".join(str(part) for part in error.schema_path)
        count = "" if len(errors) == 1 else f" ({len(errors)}{'+' if len(errors) == 50 else ''} errors, showing one)"
        return f"fails the schema at {error.json_path}: {error.message} (rule: {rule}){count}"


def _make_validator(schema: Any) -> Any:
    if not isinstance(schema, Mapping | bool):
        raise TypeError(f"the schema must be a JSON schema (a dict), got {type(schema).__name__}")
    # Lazy: jsonschema costs an import only to those who validate against a schema.
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"invalid JSON schema: {exc.message}") from None
    return cls(schema)


def json_valid(schema: Mapping[str, Any] | bool | str | None = None, *, name: str | None = None) -> JsonValid:
    """The answer holds valid JSON, which matches `schema` and equals the expected value if given.

    The JSON is looked for in this order:
    1. the whole answer (stripped);
    2. else the first fenced block tagged ```json, or else the first untagged ``` block;
    3. else the value at the first "{" or "[" where a JSON object or array parses (up to 16
       tries), so "Here it is: {...}. Hope it helps" works. A "[1]" earlier in the text wins.

    Parsing is strict: NaN and Infinity are rejected. Text that is not JSON scores 0.0, and the
    explanation gives the parse error and its position. A schema failure gives the best
    error from `jsonschema`, its path in the answer ("$.items[0].price") and the schema
    rule that failed. A value that differs from the expected one gives the first differing
    path. Equality follows JSON rules: true is not 1, and key order does not matter.

    Args:
        schema: A JSON Schema, as a dict or as JSON text. Its draft comes from "$schema",
            and is the latest draft if "$schema" is absent. It is checked when the scorer is
            built, and an invalid one raises `ValueError`.
        name: The scorer's name (default "json_valid").

    Expected: optional. A str is JSON text and is parsed (write '"yes"' for the JSON string
    yes). Any other value (dict, list, number) is compared as is. A list is *one* JSON array
    here, not a list of alternatives. `Score.answer` is the JSON text that was parsed.
    """
    return JsonValid(schema, name=name)


# --------------------------------------------------------------------------- python

_HOW_TO_RETURN = "return a bool, a number in [0, 1] or a Score"


def _arity(fn: Callable[..., Any]) -> int:
    """How many of (answer, expected, item) `fn` takes: its positional parameters, at most 3."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return 3  # no signature to read (some builtins): pass everything
    params = list(signature.parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 3
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if any(p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in params):
        raise TypeError("a python() scorer function cannot have required keyword-only parameters")
    if not positional or len(required) > 3:
        raise TypeError(f"a python() scorer function takes 1 to 3 positional parameters, got {signature}")
    return min(len(positional), 3)


def _default_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__name__", "")
    return name if isinstance(name, str) and name.isidentifier() else "python"


def _is_numpy_bool(value: object) -> bool:
    # numpy.bool_ is neither a bool nor a numbers.Real, and `np.all(...)` returns one.
    return type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")


class Python(Scorer):
    """A user function as a scorer; built by `python()`, which documents it."""

    kind = "python"
    needs_expected = False

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"python() needs a callable, got {type(fn).__name__}")
        super().__init__(name=_default_name(fn) if name is None else name)
        self.fn = fn
        self.arity = _arity(fn)

    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        try:
            result = self.fn(*(answer, expected, item)[: self.arity])
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            return Score.missing(f"{self.name} raised {_describe(exc)}")
        return self._convert(result)

    def _convert(self, result: object) -> Score:
        if isinstance(result, Score):
            return result
        if isinstance(result, bool) or _is_numpy_bool(result):
            return Score(float(bool(result)), None, f"{self.name} returned {bool(result)}")
        if isinstance(result, numbers.Real):
            number = float(result)
            if 0.0 <= number <= 1.0:
                return Score(number, None, f"{self.name} returned {number:g}")
            return Score.missing(f"{self.name} returned {number!r}, which is not in [0, 1]; {_HOW_TO_RETURN}")
        if result is None:
            return Score.missing(f"{self.name} returned None (a missing return?); {_HOW_TO_RETURN}")
        return Score.missing(f"{self.name} returned a {type(result).__name__}; {_HOW_TO_RETURN}")


def python(fn: Callable[..., Any], *, name: str | None = None) -> Python:
    """A scorer from your own function, sync or async.

    The function is called with as many of `(answer, expected, item)` as it has positional
    parameters, so `fn(answer)`, `fn(answer, expected)` and `fn(answer, expected, item)` all
    work. `item` is the whole dataset row, so the function can read other columns. A
    function with `*args` gets all three. Required keyword-only parameters, or more than
    three required positional ones, raise `TypeError` when the scorer is built. An async
    function (or anything that returns an awaitable) is awaited. A sync function runs on the
    event loop, so keep it quick.

    What the function returns:
    - a bool gives 1.0/0.0 (numpy bools included);
    - a number in [0, 1] is used as the value;
    - a `Score` is kept as is (`scorer` is set to this scorer's name).
    - Anything else, a number outside [0, 1], NaN or None gives a missing score that says what
      came back.
    - If the function raises, the result is a missing score recording "ExcType: message".
      The exception does not propagate.

    Args:
        fn: The function.
        name: The scorer's name. It defaults to the function's `__name__`, or to "python"
            for a lambda.

    Expected: anything, passed through unchanged (None when the row has none).
    """
    return Python(fn, name=name)
