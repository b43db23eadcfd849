"""`llm_judge`: a model grades an answer against a rubric and the expected answer.

The judge sees the rubric, the item's input, the expected answer and the answer, never
which target wrote it. Its reply must end with `GRADE: C` (correct) or `GRADE: I`
(incorrect); the last such line is the verdict (1.0 or 0.0). A reply without one is a
missing score with the reply quoted as its reason, never a silent 0, and so is a judge
call that fails.

Expected answers are written into the prompt as text: a list of acceptable answers as
"Any one of these:" followed by one "- answer" line each, a number or JSON value as JSON.

Verdicts are cached by (judge target, judge prompt): in memory, and in the run store while
an evaluation scores (`judge_store`), where each judge call is also its own row (reply,
latency, tokens: `RunStore.judge_calls`). So scoring the same answers again
(`EvalResult.rescore`, or a resumed evaluation in a new process) calls the judge only once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import ClosedPawError
from .scorers import JudgeCall, Score, Scorer

if TYPE_CHECKING:
    from ..bench.store import RunStore
    from ..manager import ProviderManager

__all__ = ["DEFAULT_TEMPLATE", "LLMJudge", "judge_call", "judge_store", "llm_judge"]

DEFAULT_TEMPLATE = """You are grading an answer. {rubric}
Think in one short line, then end with a last line that is exactly GRADE: C if the submitted \
answer is correct, or GRADE: I if it is not.

Question:
{input}
Expected answer:
{expected}
Submitted answer:
{answer}"""
"""The judge prompt. `{rubric}`, `{input}`, `{expected}` and `{answer}` are filled in;
the submitted answer comes last, so nothing inside it can pose as the expected answer."""

GRADE = re.compile(r"GRADE:\s*([CI])\b")
CACHE_SIZE = 10_000
_verdicts: OrderedDict[str, dict[str, Any]] = OrderedDict()  # key -> judge call (JUDGE_CALL_FIELDS)
judge_store: ContextVar[RunStore | None] = ContextVar("judge_store", default=None)
"""The run store whose `judge_calls` table caches verdicts and records judge calls (set while
`evals.run.score_run` scores); None: the in-memory cache only."""


class LLMJudge(Scorer):
    """A model as the scorer (see the module docstring); build it with `llm_judge`."""

    kind = "llm_judge"
    needs_expected = False  # a rubric alone can be enough

    def __init__(
        self,
        rubric: str,
        judge: str,
        *,
        template: str = DEFAULT_TEMPLATE,
        manager: ProviderManager | None = None,
        name: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(name=name)
        for field in ("{answer}", "{expected}"):
            if field not in template:
                raise ValueError(f"the judge template must contain {field}")
        self.rubric, self.judge, self.template = rubric, judge, template
        self.manager = manager
        self.options = {"temperature": 0.0, "max_tokens": 256, **options}

    def prompt(self, answer: str, expected: Any, item: Mapping[str, Any]) -> str:
        """The judge prompt for one answer (what the judge is sent, word for word)."""
        return self.template.format(
            rubric=self.rubric,
            input=_text(item.get("input")),
            expected=_expected_text(expected) or "(none given: grade against the rubric)",
            answer=answer,
        )

    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        prompt = self.prompt(answer, expected, item)
        try:
            call = await judge_call(self.judge, prompt, manager=self.manager, options=self.options)
        except ClosedPawError as exc:
            return Score.missing(f"the judge {self.judge} failed: {type(exc).__name__}: {exc}")
        reply = call.pop("reply")
        grades, record = GRADE.findall(reply), JudgeCall(**call)
        if not grades:
            reason = f"the judge's reply has no 'GRADE: C' or 'GRADE: I' line: {reply[-200:]!r}"
            return Score(None, None, reason, judge_call=record)
        return Score(1.0 if grades[-1] == "C" else 0.0, answer[:200], reply.strip()[-300:], judge_call=record)


async def judge_call(
    judge: str, prompt: str, *, manager: ProviderManager | None = None, options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A model judge's reply to `prompt`: JudgeCall's fields, the `reply` and `cached`.

    Cached by (judge target, prompt) in memory and in the `judge_store` run store, where the
    call is recorded as its own row; a failed call raises (a ClosedPawError) and is not cached.
    """
    key = hashlib.sha256(f"{judge}\0{prompt}".encode()).hexdigest()
    store = judge_store.get()
    recorded = _verdicts.get(key) or (store.judge_verdict(key) if store is not None else None)
    cached = recorded is not None
    if recorded is None:
        recorded = await _call(judge, key, prompt, manager, options or {})
    _verdicts[key] = recorded
    _verdicts.move_to_end(key)
    if len(_verdicts) > CACHE_SIZE:
        _verdicts.popitem(last=False)
    if store is not None:
        store.write_judge_call(recorded)  # a verdict cached in memory is recorded in this store too
    fields = ("key", "judge", "latency_ms", "prompt_tokens", "completion_tokens", "reply")
    return {**{name: recorded[name] for name in fields}, "cached": cached}


async def _call(
    judge: str, key: str, prompt: str, manager: ProviderManager | None, options: Mapping[str, Any]
) -> dict[str, Any]:
    from ..bench.run import resolve_targets
    from ..manager import get_provider_manager

    manager = manager or get_provider_manager()
    (target,) = resolve_targets(manager, judge)
    response = await manager.chat(prompt, target.provider, target.model, **options)
    provider = manager.get_provider(target.provider)
    return {
        "key": key,
        "judge": judge,
        "provider": target.provider,
        "model": response.model or target.model,
        "local": bool(provider is not None and provider.is_local),
        "reply": response.content,
        "latency_ms": response.latency_ms,
        "prompt_tokens": response.prompt_tokens,
        "completion_tokens": response.completion_tokens,
        "created_at": datetime.now(UTC).isoformat(),
    }


def llm_judge(
    rubric: str = "The submitted answer is correct if it means the same as the expected answer.",
    judge: str = "",
    *,
    template: str = DEFAULT_TEMPLATE,
    manager: ProviderManager | None = None,
    name: str | None = None,
    **options: Any,
) -> LLMJudge:
    """A model judge: `judge` ("provider:model") grades each answer against `rubric` and the
    expected answer (see the module docstring for the reply it must give).

    Args:
        rubric: What makes an answer correct, in words.
        judge: The grading target, "provider:model".
        template: The judge prompt (`DEFAULT_TEMPLATE` by default); it must contain
            `{answer}` and `{expected}`, and may use `{rubric}` and `{input}`.
        manager: Where the judge is registered (default: the notebook helpers' manager).
        name: The scorer's name in results (default "llm_judge").
        **options: Chat options for the judge (default temperature 0, max_tokens 256).
    """
    if not judge:
        raise ValueError('name the judge model: llm_judge(rubric, judge="provider:model")')
    return LLMJudge(rubric, judge, template=template, manager=manager, name=name, **options)


def _expected_text(value: Any) -> str:
    """An expected answer as prompt text: alternatives one per line, anything else as `_text`."""
    if isinstance(value, list | tuple):
        alternatives = [text for text in map(_text, value) if text.strip()]
        if len(alternatives) > 1:
            return "Any one of these:\n" + "\n".join(f"- {text}" for text in alternatives)
        return alternatives[0] if alternatives else ""
    return _text(value)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or a blank (NaN) cell
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
