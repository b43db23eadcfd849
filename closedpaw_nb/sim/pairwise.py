"""The simulator's open-ended items and its pairwise judge (rules: ``closedpaw_nb.sim.answers``).

Open items come from ``closedpaw_nb.datasets.load("open")``: the simulator answers one with
its ``reference`` or its ``poor`` answer, as the question set's hash rule decides. A pairwise
judging prompt (``PAIRWISE_TEMPLATE`` in ``answers``) gets a verdict from the answers' known
quality, except for a configured share of prompts, picked by a hash of the prompt, that get
``A`` whatever the answers (a judge with position bias).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from .answers import ACCURACY, Item, expected_correct, find_item, grade, judge_kind, shipped_rows

__all__ = [
    "OPEN_DATASET",
    "OpenItem",
    "Pair",
    "Verdict",
    "answer_open",
    "biased",
    "find_open_item",
    "judge_pairwise",
    "open_items",
    "parse",
    "quality",
    "truth",
]

#: The shipped set of open-ended items the simulator answers and judges.
OPEN_DATASET = "open"

Verdict = Literal["A", "B", "TIE", "BOTH_BAD"]


@dataclass(frozen=True)
class OpenItem:
    """One open-ended item, as the simulator reads it.

    Attributes:
        id: The item's id (``open-01`` ...).
        input: The prompt the simulator recognises (stripped).
        reference: A good answer.
        poor: A plausible but poor answer.
    """

    id: str
    input: str
    reference: str
    poor: str


@functools.cache
def open_items() -> tuple[OpenItem, ...]:
    """The items of :data:`OPEN_DATASET`, read once from the package data (no pandas)."""
    rows = shipped_rows(OPEN_DATASET)
    return tuple(OpenItem(str(r["id"]), str(r["input"]).strip(), str(r["reference"]), str(r["poor"])) for r in rows)


@functools.cache
def _open_by_prompt() -> Mapping[str, OpenItem]:
    return MappingProxyType({item.input: item for item in open_items()})


def find_open_item(prompt: str) -> OpenItem | None:
    """The open item whose input equals ``prompt`` (both stripped), or None."""
    return _open_by_prompt().get(prompt.strip())


def answer_open(model: str, prompt: str, accuracy: Mapping[str, float] = ACCURACY) -> str | None:
    """The reference answer to an open item when the hash rule says correct, else its poor one;
    None when ``prompt`` is not an open item. ``name:tag`` answers as ``name``, as in ``answer``."""
    item = find_open_item(prompt)
    if item is None:
        return None
    return item.reference if expected_correct(model, item.id, accuracy) else item.poor


# -- parsing a pairwise prompt -------------------------------------------------------------

_HEADER = re.compile(r"(?im)^[ \t]*(question|answer[ \t]+a|answer[ \t]+b)[ \t]*:[ \t]*")


@dataclass(frozen=True)
class Pair:
    """The sections of a pairwise judging prompt, stripped.

    Attributes:
        question: The question both answers reply to.
        answer_a: The answer shown first.
        answer_b: The answer shown second.
    """

    question: str
    answer_a: str
    answer_b: str


def _name(header: re.Match[str]) -> str:
    return " ".join(header[1].lower().split())  # "Answer   B" is "answer b"


def parse(prompt: str) -> Pair | None:
    """The sections of a pairwise prompt, or None when ``prompt`` is not one.

    It is one when its first judge header is ``Answer A:`` (not ``Expected answer:``, see
    ``answers.judge_kind``), a ``Question:`` header comes before it, and an ``Answer B:``
    header after it. Answer B runs to the end, so nothing inside it can change the parse.
    """
    if judge_kind(prompt) != "pairwise":
        return None
    headers = list(_HEADER.finditer(prompt))
    names = [_name(h) for h in headers]
    if "answer a" not in names:
        return None
    first_a = names.index("answer a")
    question = next((i for i in range(first_a) if names[i] == "question"), None)
    second = next((i for i in range(first_a + 1, len(headers)) if names[i] == "answer b"), None)
    if question is None or second is None:
        return None
    # The question runs to the next header of any kind; Answer A to the first Answer B.
    question_text = prompt[headers[question].end() : headers[question + 1].start()]
    answer_a = prompt[headers[first_a].end() : headers[second].start()]
    return Pair(question_text.strip(), answer_a.strip(), prompt[headers[second].end() :].strip())


# -- the truth -----------------------------------------------------------------------------


def _expected_text(item: Item) -> str:
    """An item's expected answer as the grading judge reads it (alternatives one per line)."""
    if item.scorer == "json_valid" or not isinstance(item.expected, list | tuple):
        values = [item.expected]
    else:
        values = [v for v in item.expected if v is not None and v != ""]
    texts = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values]
    if len(texts) > 1:
        return "Any one of these:\n" + "\n".join(f"- {text}" for text in texts)
    return texts[0] if texts else ""


def _same_text(a: str, b: str) -> bool:
    return a.split() == b.split()


def quality(question: str, answer: str) -> int | None:
    """1 for a good answer, 0 for a bad one, None when the question is not a known item.

    A question-set answer is good when the grading judge would grade it ``C``; an open item's
    answer is good when it is the item's ``reference`` (whitespace aside).
    """
    item = find_item(question)
    if item is not None:
        return int(grade(_expected_text(item), answer.strip())[0])
    open_item = find_open_item(question)
    if open_item is not None:
        return int(_same_text(answer, open_item.reference))
    return None


def truth(question: str, answer_a: str, answer_b: str) -> Verdict:
    """The unbiased verdict: the better answer, ``TIE`` when both are good, else ``BOTH_BAD``."""
    return _verdict(quality(question, answer_a) or 0, quality(question, answer_b) or 0)


def _verdict(a: int, b: int) -> Verdict:
    if a != b:
        return "A" if a > b else "B"
    return "TIE" if a else "BOTH_BAD"


def biased(prompt: str, position_bias: float) -> bool:
    """Whether a judge with ``position_bias`` answers ``A`` to ``prompt`` whatever the answers:
    sha256 of ``"position-bias\\x00" + prompt.strip()``, as a number in [0, 1), below the bias."""
    digest = hashlib.sha256(("position-bias\x00" + prompt.strip()).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < position_bias


_REASONS: Mapping[Verdict, str] = MappingProxyType(
    {
        "A": "Answer A answers the question well and Answer B does not.",
        "B": "Answer B answers the question well and Answer A does not.",
        "TIE": "Both answers answer the question well.",
        "BOTH_BAD": "Neither answer answers the question well.",
    }
)


def judge_pairwise(prompt: str, position_bias: float = 0.0) -> str | None:
    """The reply to a pairwise prompt (a reasoning line, then ``VERDICT: ...``), or None when
    ``prompt`` is not one."""
    pair = parse(prompt)
    if pair is None:
        return None
    if biased(prompt, position_bias):
        # What a position-biased judge says: a confident preference for the first answer.
        return "Answer A is the more helpful and complete answer.\nVERDICT: A"
    qualities = (quality(pair.question, pair.answer_a), quality(pair.question, pair.answer_b))
    verdict = _verdict(qualities[0] or 0, qualities[1] or 0)
    reason = _REASONS[verdict]
    if qualities[0] is None:
        reason = "The question is not one I can check, so neither answer counts as good."
    return f"{reason}\nVERDICT: {verdict}"
