"""`llm_judge`: a model grades an answer against a rubric and the expected answer.

The judge sees the rubric, the item's input, the expected answer and the answer, never
which target wrote it. Its reply must end with `GRADE: C` (correct) or `GRADE: I`
(incorrect); the last such line is the verdict (1.0 or 0.0). A reply without one is a
missing score with the reply quoted as its reason, never a silent 0, and so is a judge
call that fails. Verdicts are cached in memory by (judge target, judge prompt), so
scoring the same answers again (`EvalResult.rescore`) calls the judge only once.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ClosedPawError
from .scorers import Score, Scorer

if TYPE_CHECKING:
    from ..manager import ProviderManager

__all__ = ["DEFAULT_TEMPLATE", "LLMJudge", "llm_judge"]

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
_verdicts: OrderedDict[tuple[str, str], str] = OrderedDict()


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
            expected=_text(expected) or "(none given: grade against the rubric)",
            answer=answer,
        )

    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        prompt = self.prompt(answer, expected, item)
        try:
            reply = await self._verdict(prompt)
        except ClosedPawError as exc:
            return Score.missing(f"the judge {self.judge} failed: {type(exc).__name__}: {exc}")
        grades = GRADE.findall(reply)
        if not grades:
            return Score.missing(f"the judge's reply has no 'GRADE: C' or 'GRADE: I' line: {reply[-200:]!r}")
        return Score(1.0 if grades[-1] == "C" else 0.0, answer[:200], reply.strip()[-300:])

    async def _verdict(self, prompt: str) -> str:
        key = (self.judge, prompt)
        if key in _verdicts:
            _verdicts.move_to_end(key)
            return _verdicts[key]
        from ..bench.run import resolve_targets
        from ..manager import get_provider_manager

        manager = self.manager or get_provider_manager()
        (target,) = resolve_targets(manager, self.judge)
        response = await manager.chat(prompt, target.provider, target.model, **self.options)
        _verdicts[key] = response.content
        if len(_verdicts) > CACHE_SIZE:
            _verdicts.popitem(last=False)
        return response.content


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


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or a blank (NaN) cell
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
