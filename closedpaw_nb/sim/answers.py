"""The simulator's answers to the shipped question set, with a known accuracy, and its judge.

Question set
------------
When the last user message of a chat request (any protocol, streamed or not, with or without a
system prompt) equals the ``input`` of an item of ``closedpaw_nb.datasets.load("basic")``
after stripping whitespace at both ends, the simulator answers that item instead of writing
filler text. Whether the answer is right is fixed per (model, item):

- **Accuracy table.** :data:`ACCURACY` gives each simulated model's accuracy:
  ``sim-large`` 0.9, ``sim-small`` 0.6. A model not in it (and not ``name:tag`` of a model in
  it) has :data:`DEFAULT_ACCURACY`, 0.6, as it has the latency profile of ``sim-small``.
  ``Simulator(accuracy={...})`` adds or replaces entries for one simulator.
- **Hash rule.** ``u = int.from_bytes(sha256(f"{model}\\x00{item_id}".encode("utf-8"))
  .digest()[:8], "big") / 2**64``, a number in [0, 1) (:func:`draw`); the answer is correct
  exactly when ``u < accuracy`` (:func:`expected_correct`). ``model`` is the name as
  requested, except that ``name:tag`` is hashed as ``name`` when only ``name`` is in the
  table (so Ollama's ``sim-small:latest`` is ``sim-small``). Seed and temperature play no
  part: the set of items a model gets right never changes. On the 60 items of "basic",
  ``sim-large`` gets 55 right (0.917) and ``sim-small`` 34 (0.567).
- **Right answers** are scored correct by the item's scorer (``closedpaw_nb.scorers``) and
  phrased as a model would: ``Paris`` or ``Paris.`` (exact_match), ``42``, ``42.`` or
  ``The answer is 42.`` (numeric), ``B``, ``Answer: B`` or ``B) Dolphin`` (choice), the JSON
  bare or in a ```json fence (json_valid). The phrasing is chosen by the same kind of hash,
  so it is stable too.
- **Wrong answers** look like real mistakes and are scored wrong by the same scorer: a
  carry or sign slip, a unit slip (350 metres in 3.5 km), another city (Sydney for
  Canberra), a near miss (Saturn, Venus), a tempting wrong letter, JSON with a wrong value,
  a value of the wrong type or a missing key. Each item of "basic" has a written wrong answer;
  items added later get a generated one (off by one, a factor of ten, another item's answer,
  another letter, a changed JSON value).

Open-ended items
----------------
The items of ``closedpaw_nb.datasets.load("open")`` are recognised the same way (the last
user message equals an item's ``input``, both stripped). The same accuracy and hash rule apply
(:func:`expected_correct` with the item's id, ``open-01`` ...): the answer is the item's
``reference`` when it says correct, else the item's ``poor`` answer, word for word.

The answer goes through the usual path: usage counts its word pieces (``len(text.split())``
completion tokens), a stream sends the same text one word piece per delta, and max-tokens caps
and stop sequences cut it as they cut filler.

Judge
-----
A chat request whose last user message holds an ``Expected answer:`` section followed by a
``Submitted answer:`` section is a grading prompt, and the simulator grades it
deterministically, the same way for every model. The format, for the ``llm_judge`` scorer
(:data:`JUDGE_TEMPLATE` is one that works)::

    <instructions, any text, e.g. "... reply GRADE: C or GRADE: I">
    Question:            (optional, ignored)
    <the item's input>
    Expected answer:
    <the expected answer>
    Submitted answer:
    <the answer to grade, up to the end of the message>

A section header is a line that starts (after spaces) with ``Question:``,
``Expected answer:`` or ``Submitted answer:`` (any case); its text may also follow the colon
on the same line. The expected answer runs from the first ``Expected answer:`` header to the
next header. The submitted answer is the *last* section: it runs from the first
``Submitted answer:`` header after the expected one to the end of the message, so nothing in
the graded answer can break the parse. Both are stripped.

An expected answer whose first line is ``Any one of these:`` lists acceptable answers, one
per following ``- answer`` line; the submission is correct when it matches any of them by
the rules below (the form ``llm_judge`` writes a list of acceptable answers in).

The expected answer's form picks the one rule that grades the submission:

1. **JSON**: the expected answer starts with ``{`` or ``[`` and parses as JSON. Correct when
   the submission holds JSON (the whole text, else a fenced block, else from its first ``{``
   or ``[``) equal to it by JSON rules (key order does not matter, ``"5"`` is not ``5``,
   ``false`` is not ``0``).
2. **Number**: the expected answer is one number (``42``, ``-7``, ``86,400``, ``20.25``,
   ``2.5e3``). Correct when the submission's last number equals it within 1e-6.
3. **Choice**: the expected answer is one letter A-J (``B``, ``B)``). Correct when the
   choice read from the submission as the ``choice`` scorer reads it (``Answer: B``,
   ``B) Dolphin``, ``B``) is that letter.
4. **Text**, for anything else: correct when both are equal after exact_match's
   normalisation (casefold, no punctuation, no articles, collapsed whitespace).

The reply is exactly two lines: one line of reasoning, then the verdict::

    The submitted answer gives the expected number 42.
    GRADE: C

``GRADE: C`` (correct) or ``GRADE: I`` (incorrect) is always the last line; a scorer should
take the last match of ``GRADE:\\s*([CI])``. A grading prompt with an empty expected or
submitted answer is graded ``I``.

Pairwise judge
--------------
A last user message with these sections is a pairwise judging prompt, for an arena
(:data:`PAIRWISE_TEMPLATE` is one that works)::

    <instructions, any text>
    Question:
    <the item's input>
    Answer A:
    <first answer>
    Answer B:
    <second answer, up to the end of the message>

Headers are lines that start (after spaces) with ``Question:``, ``Answer A:`` or
``Answer B:`` (any case; text may follow the colon); all three are required, in this order.
The question (matched to an item like a question-set prompt) runs from the first ``Question:``
header to the next header; Answer A from the first ``Answer A:`` header after it to the first
``Answer B:`` header after that; Answer B is the last section, to the end of the message, so
nothing in Answer B can break the parse (an ``Answer B:`` line inside Answer A would end it
early). The first ``Expected answer:`` or ``Answer A:`` header decides whether a prompt is for
the grading or the pairwise judge (:func:`judge_kind`), so header lines inside the answers of
either kind never turn it into the other kind.

Each answer's quality: for a question-set item, 1 when the grading judge above grades it ``C``
against the item's expected answer, else 0; for an open item, 1 when it equals the item's
``reference`` after collapsing whitespace, else 0; for any other question, 0. The verdict is
the better answer (``A`` or ``B``) when the qualities differ, ``TIE`` when both are 1 and
``BOTH_BAD`` when both are 0. ``Simulator(judge_position_bias=p)`` makes the judge answer ``A``
whatever the answers for a share ``p`` of prompts: those whose
``sha256("position-bias\\x00" + prompt.strip())`` (first 8 bytes over 2**64) is below ``p``.
A swapped prompt is another text with its own draw, so judging each pair twice, swapped,
exposes the bias. The reply is two lines, a reasoning line and the verdict::

    Answer B answers the question well and Answer A does not.
    VERDICT: B

``VERDICT: A``, ``VERDICT: B``, ``VERDICT: TIE`` or ``VERDICT: BOTH_BAD`` is always the last line.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

__all__ = [
    "ACCURACY",
    "DATASET",
    "DEFAULT_ACCURACY",
    "JUDGE_TEMPLATE",
    "PAIRWISE_TEMPLATE",
    "Item",
    "accuracy_of",
    "answer",
    "answer_text",
    "draw",
    "expected_correct",
    "find_item",
    "grade",
    "items",
    "judge",
    "judge_kind",
    "respond",
    "shipped_rows",
]

#: Accuracy of each simulated model on the shipped question set (the truth a leaderboard recovers).
ACCURACY: Mapping[str, float] = MappingProxyType({"sim-large": 0.9, "sim-small": 0.6})
#: Accuracy of a model that is not in the table (that of ``sim-small``, whose latency profile it has).
DEFAULT_ACCURACY = 0.6
#: The question set the simulator knows.
DATASET = "basic"

#: A grading prompt the simulator's judge understands (fill with ``str.format``).
JUDGE_TEMPLATE = (
    "You are grading an answer to a question against the expected answer. Judge only whether "
    "the submitted answer says the same thing as the expected answer; ignore style and length.\n"
    "Reply with one line of reasoning, then a last line that is exactly GRADE: C if the "
    "submitted answer is correct or GRADE: I if it is incorrect.\n\n"
    "Question:\n{question}\n\n"
    "Expected answer:\n{expected}\n\n"
    "Submitted answer:\n{submitted}"
)

#: A pairwise judging prompt the simulator's judge understands (fill with ``str.format``).
PAIRWISE_TEMPLATE = (
    "You are comparing two answers to the same question. Decide which one answers it better: "
    "correct, helpful and clear. Ignore the order in which the answers are shown and their length.\n"
    "Reply with one line of reasoning, then a last line that is exactly VERDICT: A if Answer A is "
    "better, VERDICT: B if Answer B is better, VERDICT: TIE if both are equally good, or "
    "VERDICT: BOTH_BAD if neither is good.\n\n"
    "Question:\n{question}\n\n"
    "Answer A:\n{answer_a}\n\n"
    "Answer B:\n{answer_b}"
)


@dataclass(frozen=True)
class Item:
    """One item of the question set, as the simulator reads it.

    Attributes:
        id: The item's id.
        input: The prompt the simulator recognises (stripped).
        expected: The expected answer, as the data holds it.
        scorer: The item's scorer (``exact_match``, ``numeric``, ``choice`` or ``json_valid``).
        category: The item's category.
    """

    id: str
    input: str
    expected: Any
    scorer: str
    category: str


# -- the question set ---------------------------------------------------------------------


@functools.cache
def items() -> tuple[Item, ...]:
    """The items of :data:`DATASET`, read once from the package data (no pandas)."""
    found: list[Item] = []
    for row in shipped_rows(DATASET):
        prompt = _prompt_of(row.get("input"))
        if prompt is None:
            continue
        item_id = row.get("id")
        if item_id is None or item_id == "":
            from ..evals.datasets import derive_id

            item_id = derive_id(row["input"])
        found.append(
            Item(
                str(item_id), prompt, row.get("expected"), str(row.get("scorer") or ""), str(row.get("category") or "")
            )
        )
    return tuple(found)


def shipped_rows(name: str) -> list[dict[str, Any]]:
    """The rows of a question set shipped in `closedpaw_nb/evals/data` (read without pandas,
    which `evals.datasets.load` needs)."""
    text = resources.files("closedpaw_nb.evals").joinpath("data", f"{name}.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _prompt_of(value: Any) -> str | None:
    """The text a request's last user message would hold for an item's input."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        users = [m.get("content") for m in value if isinstance(m, dict) and m.get("role") == "user"]
        if users and isinstance(users[-1], str):
            return users[-1].strip()
    return None


@functools.cache
def _by_prompt() -> Mapping[str, Item]:
    return MappingProxyType({item.input: item for item in items()})


def find_item(prompt: str) -> Item | None:
    """The item whose input equals ``prompt`` (both stripped), or None."""
    return _by_prompt().get(prompt.strip())


# -- the truth ----------------------------------------------------------------------------


def _resolve(model: str, table: Mapping[str, float]) -> tuple[str, float]:
    """(name to hash, accuracy): ``name:tag`` falls back to ``name`` when only that is listed."""
    if model in table:
        return model, table[model]
    base = model.split(":")[0]
    if base in table:
        return base, table[base]
    return model, DEFAULT_ACCURACY


def accuracy_of(model: str, table: Mapping[str, float] = ACCURACY) -> float:
    """The accuracy of ``model`` in ``table`` (``name:tag`` falls back to ``name``, then the default)."""
    return _resolve(model, table)[1]


def draw(model: str, item_id: str) -> float:
    """The uniform number in [0, 1) that decides (model, item): sha256 of ``model\\x00item_id``."""
    digest = hashlib.sha256(f"{model}\x00{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def expected_correct(model: str, item_id: str, accuracy: Mapping[str, float] | float | None = None) -> bool:
    """Whether the simulator answers item ``item_id`` correctly as ``model``.

    Args:
        model: The model name as requested.
        item_id: The item's id.
        accuracy: A table to read the model's accuracy from (default :data:`ACCURACY`), or the
            accuracy itself.
    """
    if isinstance(accuracy, int | float):
        return draw(model, item_id) < accuracy
    name, value = _resolve(model, ACCURACY if accuracy is None else accuracy)
    return draw(name, item_id) < value


# -- answers ------------------------------------------------------------------------------

# A written wrong answer per item of "basic": the mistake a model would plausibly make.
_WRONG: Mapping[str, Any] = MappingProxyType(
    {
        "arithmetic-01": 32,  # dropped the carry
        "arithmetic-02": 14,
        "arithmetic-03": 427,
        "arithmetic-04": 723,  # borrow slip
        "arithmetic-05": 24,  # 10% instead of 15%
        "arithmetic-06": 2048,  # 2 to the 11th
        "arithmetic-07": 14,
        "arithmetic-08": 7,  # lost the sign
        "arithmetic-09": 14,  # 7 * (8 - 6)
        "arithmetic-10": 36,  # 12 + 8 * 3
        "arithmetic-11": 20,  # integer division
        "arithmetic-12": 14,  # the quotient, not the remainder
        "units-01": 350,  # unit slip
        "units-02": 250,  # 100 minutes to the hour
        "units-03": 120,
        "units-04": 8640,
        "units-05": 180,  # forgot the + 32
        "units-06": 25.4,  # millimetres
        "units-07": 50,
        "units-08": 144,  # six days
        "units-09": 3280,  # feet in a kilometre
        "units-10": 248.15,  # 273.15 - 25
        "capitals-01": "Marseille",
        "capitals-02": "Kyoto",
        "capitals-03": "Toronto",
        "capitals-04": "Sydney",
        "capitals-05": "Mombasa",
        "capitals-06": "Alexandria",
        "capitals-07": "Munich",
        "capitals-08": "Milan",
        "capitals-09": "Bergen",
        "capitals-10": "Córdoba",
        "capitals-11": "Istanbul",
        "capitals-12": "Auckland",
        "facts-01": "Ag",
        "facts-02": "So",
        "facts-03": "Saturn",
        "facts-04": "Venus",
        "facts-05": "H2O2",
        "facts-06": "Atlantic",
        "facts-07": "Corundum",
        "facts-08": "Helium",
        "facts-09": 8,
        "facts-10": 6,  # an insect's
        "facts-11": 1968,
        "facts-12": 365,
        "choice-01": "A",  # the shark
        "choice-02": "B",
        "choice-03": "C",
        "choice-04": "A",  # oxygen
        "choice-05": "D",
        "choice-06": "A",
        "choice-07": "D",  # 5/8 looks close
        "choice-08": "A",  # 0 is Celsius
        "json-01": {"city": "Paris"},  # a missing key
        "json-02": {"sum": "5"},  # a string, not a number
        "json-03": {"evens": [0, 2, 4, 6, 8]},  # counted zero
        "json-04": {"is_even": "false"},
        "json-05": {"name": "Ada", "age": "36"},
        "json-06": {"a": 1, "b": 2},
    }
)

_NUMERIC_FORMS = ("{0}", "{0}.", "The answer is {0}.")
_TEXT_FORMS = ("{0}", "{0}.")
_CHOICE_FORMS = ("{0}", "Answer: {0}", "{0}) {1}")


def _pick(model: str, item_id: str, salt: str, count: int) -> int:
    digest = hashlib.sha256(f"{salt}\x00{model}\x00{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def _format_number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        found = _NUMBER.findall(value)
        return _number_value(found[0]) if len(found) == 1 else None
    return None


def _options(prompt: str) -> dict[str, str]:
    """The options ``X) text`` of a multiple-choice prompt, by letter."""
    return {m[1].upper(): m[2].strip() for m in re.finditer(r"(?m)^\s*([A-Ja-j])[).:]\s*(.+)$", prompt)}


def _json_value(expected: Any) -> Any:
    if isinstance(expected, str):
        try:
            return json.loads(expected)
        except ValueError:
            return expected
    return expected


def _same_json(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, key order does not matter."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _text_key(text: str) -> str:
    """Roughly exact_match's normalisation, to keep a wrong answer from being right."""
    text = "".join(ch for ch in text.casefold() if ch.isalnum() or ch.isspace())
    return " ".join(word for word in text.split() if word not in ("a", "an", "the"))


def _alternatives(item: Item) -> list[Any]:
    """The acceptable answers: a list gives alternatives, as the scorers read it (not for JSON)."""
    if item.scorer != "json_valid" and isinstance(item.expected, list | tuple):
        return [value for value in item.expected if value is not None and value != ""] or [""]
    return [item.expected]


def _is_wrong(item: Item, value: Any) -> bool:
    """Whether ``value`` (a wrong answer's value) really differs from every expected one."""
    return all(_differs(item.scorer, value, want) for want in _alternatives(item))


def _differs(scorer: str, value: Any, want: Any) -> bool:
    if scorer == "numeric":
        got, number = _as_number(value), _as_number(want)
        return got is not None and (number is None or abs(got - number) > 1e-6)
    if scorer == "json_valid":
        return not _same_json(value, _json_value(want))
    if scorer == "choice":
        return isinstance(value, str) and value.upper() != str(want).strip(" .)").upper()
    return isinstance(value, str) and _text_key(value) != _text_key(str(want))


def _generated_wrong(model: str, item: Item) -> Any:
    """A plausible wrong value for an item without a written one."""
    first = _alternatives(item)[0]
    if item.scorer == "numeric":
        want = _as_number(first)
        if want is None:
            return 0
        slips = [want + 1, want - 1, want * 10, want + 10] if want.is_integer() else [want * 10, want + 1, round(want)]
        slips = [s for s in slips if _is_wrong(item, s)]
        return slips[_pick(model, item.id, "slip", len(slips))] if slips else 0
    if item.scorer == "choice":
        letters = sorted(_options(item.input)) or list("ABCD")
        others = [letter for letter in letters if _is_wrong(item, letter)] or ["I do not know."]
        return others[_pick(model, item.id, "letter", len(others))]
    if item.scorer == "json_valid":
        return _mutate(_json_value(first))
    # Another answer of the same category (another capital, another element...).
    others = [
        str(o.expected)
        for o in items()
        if o.category == item.category and isinstance(o.expected, str) and _is_wrong(item, o.expected)
    ]
    return others[_pick(model, item.id, "other", len(others))] if others else "I am not sure."


def _mutate(value: Any) -> Any:
    """A JSON value near ``value``: a missing key, a changed number, a flipped boolean."""
    if isinstance(value, dict) and len(value) > 1:
        return dict(list(value.items())[:-1])
    if isinstance(value, dict) and value:
        key, inner = next(iter(value.items()))
        return {key: _mutate(inner)}
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "s"
    if isinstance(value, list):
        return value[:-1] if value else [0]
    return {} if value is None else None


def _wrong_value(model: str, item: Item) -> Any:
    written = _WRONG.get(item.id)
    if written is not None and _is_wrong(item, written):
        return written
    return _generated_wrong(model, item)


def answer_text(model: str, item: Item, correct: bool) -> str:
    """The simulator's answer to ``item`` as ``model``: right or wrong as asked, phrased by hash.

    ``model`` is the name the truth is hashed with (see :func:`answer` for ``name:tag``).
    """
    value = _alternatives(item)[0] if correct else _wrong_value(model, item)
    form = _pick(model, item.id, "form", 3)
    if item.scorer == "json_valid":
        data = _json_value(value)
        if form == 0:
            return "```json\n" + json.dumps(data, indent=2, ensure_ascii=False) + "\n```"
        return json.dumps(data, ensure_ascii=False)
    if item.scorer == "numeric":
        number = _as_number(value)
        if number is None:
            return str(value)
        text = _format_number(number)
        if form == 2 and number.is_integer() and abs(number) >= 10_000:
            text = f"{int(number):,}"  # 86,400
        return _NUMERIC_FORMS[form].format(text)
    if item.scorer == "choice":
        letter = str(value).strip(" .)").upper()
        option = _options(item.input).get(letter)
        if len(letter) != 1:
            return str(value)
        return _CHOICE_FORMS[form if option else form % 2].format(letter, option)
    return _TEXT_FORMS[form % len(_TEXT_FORMS)].format(value)


def answer(model: str, prompt: str, accuracy: Mapping[str, float] = ACCURACY) -> str | None:
    """The answer to ``prompt`` when it is an item of the set, else None.

    It is right as :func:`expected_correct` says; ``name:tag`` answers as ``name`` when only
    ``name`` is in ``accuracy``, so Ollama's ``sim-small:latest`` says what ``sim-small`` says.
    """
    item = find_item(prompt)
    if item is None:
        return None
    name, value = _resolve(model, accuracy)
    return answer_text(name, item, draw(name, item.id) < value)


def respond(
    model: str, prompt: str, accuracy: Mapping[str, float] = ACCURACY, *, position_bias: float = 0.0
) -> str | None:
    """What the simulator says instead of filler: an item's answer (question set or open), a
    grade, a pairwise verdict (``position_bias`` as in the module docstring), or None."""
    from . import pairwise  # it builds on this module

    return (
        answer(model, prompt, accuracy)
        or pairwise.answer_open(model, prompt, accuracy)
        or judge(prompt)
        or pairwise.judge_pairwise(prompt, position_bias)
    )


# -- the judge ----------------------------------------------------------------------------

_HEADER = re.compile(r"(?im)^[ \t]*(question|expected answer|submitted answer)[ \t]*:[ \t]*")
_KIND = re.compile(r"(?im)^[ \t]*(expected answer|answer[ \t]+a)[ \t]*:")
_NUMBER = re.compile(r"(?<![\w.])[-+\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_CHOICES = "ABCDEFGHIJ"


def _number_value(text: str) -> float:
    return float(text.replace(",", "").replace("\u2212", "-"))


def _sections(prompt: str) -> tuple[str, str] | None:
    """(expected, submitted) of a grading prompt, or None when ``prompt`` is not one."""
    headers = list(_HEADER.finditer(prompt))
    first = next((i for i, h in enumerate(headers) if h[1].lower() == "expected answer"), None)
    if first is None:
        return None
    submitted = next((h for h in headers[first + 1 :] if h[1].lower() == "submitted answer"), None)
    if submitted is None:
        return None
    expected_end = headers[first + 1].start()
    return prompt[headers[first].end() : expected_end].strip(), prompt[submitted.end() :].strip()


def _clip(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _find_json(text: str) -> tuple[bool, Any]:
    """(found, value): the whole text, a fenced block, or the value at the first { or [."""
    candidates = [text.strip()]
    fence = re.search(r"```(?:json)?[ \t]*\n(.*?)```", text, re.DOTALL | re.IGNORECASE)
    if fence:
        candidates.append(fence[1].strip())
    decoder = json.JSONDecoder()
    for candidate in candidates:
        try:
            return True, json.loads(candidate)
        except ValueError:
            pass
    for match in re.finditer(r"[{\[]", text):
        try:
            return True, decoder.raw_decode(text, match.start())[0]
        except ValueError:
            continue
    return False, None


_ALTERNATIVES = re.compile(r"(?i)\Aany one of these:[ \t]*\n")


def grade(expected: str, submitted: str) -> tuple[bool, str]:
    """(correct, one line of reasoning) for a submitted answer, by the rules in the module docstring."""
    if _ALTERNATIVES.match(expected):
        lines = expected.splitlines()[1:]
        alternatives = [line.strip()[2:].strip() for line in lines if line.strip().startswith("- ")]
        verdicts = [_grade_one(alternative, submitted) for alternative in alternatives] or [_grade_one("", submitted)]
        return next((v for v in verdicts if v[0]), verdicts[-1])
    return _grade_one(expected, submitted)


def _grade_one(expected: str, submitted: str) -> tuple[bool, str]:
    if not expected:
        return False, "There is no expected answer to compare with."
    if not submitted:
        return False, "The submitted answer is empty."
    from ..evals.scorers import Choice, ExactMatch

    if expected.lstrip()[:1] in ("{", "["):
        try:
            want = json.loads(expected)
        except ValueError:
            pass
        else:
            found, got = _find_json(submitted)
            if not found:
                return False, "The submitted answer holds no JSON, but the expected answer is JSON."
            if _same_json(got, want):
                return True, "The submitted JSON equals the expected JSON."
            return False, f"The submitted JSON {_clip(json.dumps(got))} is not the expected {_clip(expected)}."
    if _NUMBER.fullmatch(expected.strip()):
        want_number = _number_value(expected.strip())
        numbers = _NUMBER.findall(submitted)
        if not numbers:
            return False, f"The submitted answer gives no number; the expected number is {expected.strip()}."
        if abs(_number_value(numbers[-1]) - want_number) <= 1e-6:
            return True, f"The submitted answer gives the expected number {expected.strip()}."
        return False, f"The submitted answer gives {numbers[-1]}, but the expected number is {expected.strip()}."
    letter = expected.strip().strip(".)(").upper()
    if len(letter) == 1 and letter in _CHOICES:
        chosen = Choice(choices=_CHOICES).extract(submitted)
        if chosen is None:
            return False, f"No choice can be read from the submitted answer; the expected choice is {letter}."
        if chosen[0] == letter:
            return True, f"The submitted answer chooses {letter}, the expected choice."
        return False, f"The submitted answer chooses {chosen[0]}, but the expected choice is {letter}."
    normal = ExactMatch()
    words = bool(normal.normalize(expected))  # "The" or "?" alone keep their words, as in exact_match
    if normal.normalize(submitted, words=words) == normal.normalize(expected, words=words):
        return True, f"The submitted answer matches the expected answer {_clip(expected)} after normalisation."
    return False, f"The submitted answer {_clip(submitted)} does not match the expected answer {_clip(expected)}."


def judge_kind(prompt: str) -> str | None:
    """``"grading"`` or ``"pairwise"``: the kind of judge prompt its first ``Expected answer:`` or
    ``Answer A:`` header makes ``prompt``, or None without either (it may still not be one)."""
    first = _KIND.search(prompt)
    if first is None:
        return None
    return "grading" if first[1].lower() == "expected answer" else "pairwise"


def judge(prompt: str) -> str | None:
    """The verdict on a grading prompt (reasoning line, then ``GRADE: C`` or ``GRADE: I``), or
    None when ``prompt`` is not one."""
    if "submitted answer" not in prompt.lower() or judge_kind(prompt) != "grading":
        return None
    sections = _sections(prompt)
    if sections is None:
        return None
    correct, reason = grade(*sections)
    return f"{reason}\nGRADE: {'C' if correct else 'I'}"
