"""Deterministic text, token counting and pacing for the simulator.

One simulated "token" is one word piece (``"The"``, ``" river"``, ``" turns."``) and is
emitted as one stream delta, so completion usage always equals the number of deltas.
A fixed answer (a question-set answer or a judge verdict, see ``answers``) is cut into word
pieces the same way: each piece is a word with the whitespace before it, so its token count
is ``len(text.split())``. Nothing here knows about any provider's wire format.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Generation",
    "LatencyProfile",
    "Pacer",
    "argument_pieces",
    "count_tokens",
    "generate",
    "generate_text",
    "split_tokens",
]

# A tiny grammar, so the filler reads like prose: "The quiet river carries a signal home."
_LEXICON = {
    "D": "the a this that every each one some another".split(),
    "A": (
        "quiet bright simple careful ancient modern gentle heavy narrow distant patient curious "
        "steady golden hidden open early late small large warm cold silent clever"
    ).split(),
    "N": (
        "model signal answer question river city garden engine language system pattern window "
        "morning story reason method result market network memory bridge mountain forest ocean "
        "planet light shadow voice letter paper table journey season harvest teacher student "
        "writer builder sailor friend stranger village station record"
    ).split(),
    "V": (
        "carries builds finds keeps moves opens shows takes turns holds reads writes follows "
        "measures changes explains returns gathers answers remembers crosses"
    ).split(),
    "R": "quietly slowly quickly often rarely always never perhaps clearly simply nearly".split(),
    "P": "with across under over through beyond between near along into from toward".split(),
}
_SENTENCES = ("D A N V D N", "D N R V D A N", "D N V D N P D N", "R D A N V D N P D A N", "D N V P D N")


@dataclass(frozen=True)
class LatencyProfile:
    """How one simulated model behaves in time and length.

    Attributes:
        ttft_ms: Time from request arrival to the first content delta, in milliseconds.
        tokens_per_s: Rate of the following deltas; the gap between deltas is ``1/tokens_per_s``.
        output_tokens: Natural answer length, before any max-tokens cap or stop sequence.
    """

    ttft_ms: float = 30.0
    tokens_per_s: float = 400.0
    output_tokens: int = 24

    def __post_init__(self) -> None:
        if self.ttft_ms < 0 or self.tokens_per_s <= 0 or self.output_tokens < 0:
            raise ValueError(f"invalid latency profile: {self!r}")


@dataclass(frozen=True)
class Generation:
    """The outcome of one simulated completion, in neutral terms.

    Attributes:
        tokens: The word pieces to emit, one per delta.
        finish: ``"stop"`` (natural end), ``"length"`` (max tokens hit) or ``"stop_sequence"``.
        stop_sequence: The stop string that ended the text, when ``finish == "stop_sequence"``.
        prompt_tokens: Deterministic input size (words in the system prompt and all messages).
        tool_calls: Tool calls the answer makes instead of (or after) its text: (id, name,
            arguments) with the arguments as a dict; finish is then ``"tool_calls"``. The id is
            neutral (24 letters and digits); each protocol formats it its own way.
    """

    tokens: tuple[str, ...]
    finish: str
    stop_sequence: str | None
    prompt_tokens: int
    tool_calls: tuple[tuple[str, str, dict[str, Any]], ...] = ()

    @property
    def text(self) -> str:
        """The whole answer, equal to the concatenated deltas."""
        return "".join(self.tokens)

    @property
    def completion_tokens(self) -> int:
        """Number of emitted tokens: the text's deltas, plus per tool call one for its name and
        one per word piece of its arguments' JSON (OpenAI's stream sends one delta for each)."""
        return len(self.tokens) + sum(1 + len(argument_pieces(args)) for _, _, args in self.tool_calls)


def argument_pieces(arguments: dict[str, Any]) -> list[str]:
    """The word pieces a tool call's arguments JSON is streamed in (they join back to it)."""
    return split_tokens(json.dumps(arguments, ensure_ascii=False)) or ["{}"]


def count_tokens(texts: Iterable[str]) -> int:
    """Count simulated input tokens: whitespace-separated words over all texts."""
    return sum(len(text.split()) for text in texts)


def _rng(model: str, prompt: str, seed: int | None, temperature: float | None) -> random.Random:
    # hashlib, not hash(): str hashes are salted per process and would break determinism.
    key = f"{model}\x00{prompt}\x00{seed}\x00{temperature}".encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def _words(rng: random.Random, count: int) -> list[str]:
    words: list[str] = []
    while len(words) < count:
        sentence = [rng.choice(_LEXICON[part]) for part in rng.choice(_SENTENCES).split()]
        sentence[0] = sentence[0].capitalize()
        sentence[-1] += "."
        if len(sentence) > 6 and rng.random() < 0.3:
            sentence[3] += ","
        words += sentence
    words = words[:count]
    if words and not words[-1].endswith("."):
        # The natural (uncapped) answer always ends a sentence.
        words[-1] = words[-1].rstrip(",") + "."
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


def _cut_at_stop(tokens: list[str], stops: Sequence[str]) -> tuple[list[str], str | None]:
    text = "".join(tokens)
    hits = [(text.find(stop), stop) for stop in stops if stop and stop in text]
    if not hits:
        return tokens, None
    cut, stop = min(hits)
    kept: list[str] = []
    used = 0
    for token in tokens:
        if used + len(token) > cut:
            # A stop inside a token still yields that token's prefix, as a real
            # detokenizer would emit the text it had before the match.
            if cut > used:
                kept.append(token[: cut - used])
            break
        kept.append(token)
        used += len(token)
    return kept, stop


def generate(
    *,
    model: str,
    prompt: str,
    prompt_tokens: int,
    profile: LatencyProfile,
    seed: int | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
    preface: str = "",
) -> Generation:
    """Produce the deterministic answer for one request.

    The same (model, prompt, seed, temperature) always gives the same text; a max-tokens cap
    or a stop sequence only shortens it, so a capped answer is a prefix of the full one.

    Args:
        model: Model name as requested (part of the seed).
        prompt: The last user message (part of the seed).
        prompt_tokens: Input size to report in usage.
        profile: Gives the natural answer length.
        seed: Request seed, if the API has one.
        temperature: Request temperature, if given.
        max_tokens: The request's max-tokens knob in its own API's name.
        stop: Stop sequences; the earliest match ends the text (the match itself is not emitted).
        preface: Text said before the filler (e.g. ``"I see 2 images."``), counted in its length.

    Returns:
        The tokens to emit and how the answer finished.
    """
    tokens = _words(_rng(model, prompt, seed, temperature), profile.output_tokens)
    if preface:
        head = split_tokens(preface)
        tokens = head + ([" " + tokens[0].lstrip(), *tokens[1:]] if tokens else [])
    return _shape(tokens, prompt_tokens, max_tokens, stop)


def split_tokens(text: str) -> list[str]:
    """Cut ``text`` into word pieces (each word with the whitespace before it); they join back to
    ``text`` less any trailing whitespace, and there are ``len(text.split())`` of them."""
    return _PIECE.findall(text)


def generate_text(
    text: str,
    *,
    prompt_tokens: int,
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
) -> Generation:
    """A :class:`Generation` of a fixed answer, capped and stopped exactly like :func:`generate`.

    Args:
        text: The whole answer; its natural length is its number of word pieces.
        prompt_tokens: Input size to report in usage.
        max_tokens: The request's max-tokens knob.
        stop: Stop sequences; the earliest match ends the text.
    """
    return _shape(split_tokens(text.rstrip()), prompt_tokens, max_tokens, stop)


_PIECE = re.compile(r"\s*\S+")


def _shape(tokens: list[str], prompt_tokens: int, max_tokens: int | None, stop: Sequence[str]) -> Generation:
    finish = "stop"
    if max_tokens is not None and max_tokens < len(tokens):
        tokens, finish = tokens[: max(max_tokens, 0)], "length"
    tokens, matched = _cut_at_stop(tokens, stop)
    if matched is not None:
        finish = "stop_sequence"
    return Generation(tuple(tokens), finish, matched, prompt_tokens)


class Pacer:
    """Schedules deltas against an absolute start time, so waits never accumulate drift.

    Token ``i`` (0-based) is due at ``start + scale * (ttft + i / tokens_per_s)``.
    A ``time_scale`` of 0 disables waiting entirely.
    """

    # Timer wake-ups come late: the selector rounds timeouts up to whole milliseconds and the
    # thread must be scheduled. We aim early by a bias learned from observed lateness, so the
    # mean delivery time matches the profile (busy-waiting would cost CPU under many streams).
    _bias = 0.0005
    _MAX_BIAS = 0.002

    def __init__(self, profile: LatencyProfile, time_scale: float, start: float) -> None:
        self._ttft = profile.ttft_ms / 1000.0
        self._gap = 1.0 / profile.tokens_per_s
        self._scale = time_scale
        self._start = start

    def due(self, index: int) -> float:
        """The ``time.perf_counter()`` value at which token ``index`` should go out."""
        return self._start + self._scale * (self._ttft + index * self._gap)

    async def wait(self, index: int) -> None:
        """Sleep until token ``index`` is due (returns at once when already late)."""
        if self._scale <= 0:
            return
        due = self.due(index)
        delay = due - time.perf_counter() - Pacer._bias
        if delay > 0:
            await asyncio.sleep(delay)
            late = time.perf_counter() - due
            Pacer._bias = min(max(Pacer._bias + 0.1 * late, 0.0), Pacer._MAX_BIAS)

    async def wait_total(self, count: int) -> None:
        """Sleep as long as a stream of ``count`` tokens would take (for non-streamed replies)."""
        await self.wait(max(count - 1, 0))
