"""`tool_call`: did the model call the expected tool with the expected arguments?

A tool call is not in the answer text, so this scorer reads the call's record: the runner
hands every scorer the item with a `_call` entry, `{"tool_calls": [{"id", "name",
"arguments"}, ...], "parsed": ...}` (see `evals.run`). Arguments are compared as JSON: key
order does not matter, `1` is not `"1"`, and `true` is not `1`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .scorers import Score, Scorer, _CannotScore, _json_diff

__all__ = ["ToolCallScorer", "tool_call"]


class ToolCallScorer(Scorer):
    """Expected tool call check; built by `tool_call()`, which documents it."""

    kind = "tool_call"
    needs_expected = False  # the expected call may be given to the constructor

    def __init__(
        self,
        name: str | None = None,
        arguments: Mapping[str, Any] | None = None,
        *,
        subset: bool = False,
        scorer_name: str | None = None,
    ) -> None:
        super().__init__(name=scorer_name)
        self.tool, self.arguments, self.subset = name, None if arguments is None else dict(arguments), subset

    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        tool, arguments = self._wanted(expected)
        record = item.get("_call")
        if not isinstance(record, Mapping):
            raise _CannotScore("no call record to read tool calls from: score a run's calls (evaluate, compare)")
        calls = [c for c in record.get("tool_calls") or [] if isinstance(c, Mapping)]
        if not calls:
            return Score(0.0, None, f"no tool call (expected {tool})")
        named = [c for c in calls if c.get("name") == tool]
        if not named:
            return Score(
                0.0, calls[0].get("name"), f"called {', '.join(str(c.get('name')) for c in calls)}, not {tool}"
            )
        if arguments is None:
            return Score(1.0, tool, f"called {tool}")
        for call in named:
            got = call.get("arguments") or {}
            if self._matches(got, arguments):
                return Score(1.0, _text(got), f"called {tool} with the expected arguments")
        return Score(
            0.0, _text(named[0].get("arguments")), f"called {tool}, but with other arguments than {_text(arguments)}"
        )

    def _wanted(self, expected: Any) -> tuple[str, dict[str, Any] | None]:
        if self.tool is not None:
            return self.tool, self.arguments
        if isinstance(expected, str):
            try:
                expected = json.loads(expected)
            except ValueError:
                return expected, None  # a bare tool name
        if isinstance(expected, Mapping) and isinstance(expected.get("name"), str):
            arguments = expected.get("arguments")
            return expected["name"], None if arguments is None else dict(arguments)
        raise _CannotScore(
            'no expected tool call: pass tool_call(name=...) or expected {"name": ..., "arguments": ...}'
        )

    def _matches(self, got: Any, want: dict[str, Any]) -> bool:
        if not isinstance(got, Mapping):
            return False
        if self.subset:
            return all(key in got and _json_diff(got[key], value) is None for key, value in want.items())
        return _json_diff(dict(got), want) is None


def tool_call(
    name: str | None = None,
    arguments: Mapping[str, Any] | None = None,
    *,
    subset: bool = False,
    scorer_name: str | None = None,
) -> ToolCallScorer:
    """The model called tool `name` (and, if given, with `arguments`) — 1.0, else 0.0.

    Args:
        name: The tool that should be called; None: read it from the item's `expected`, a
            dict `{"name": ..., "arguments": {...}}`, its JSON text, or a bare tool name.
        arguments: The expected arguments, compared as JSON; None: any arguments.
        subset: Only the given argument keys must match (extra arguments are allowed).
        scorer_name: The scorer's name in results (default "tool_call").

    Any of several calls in one answer may match. No tool call scores 0.0; a run without a
    call record (scoring text alone) is a missing score with its reason.
    """
    return ToolCallScorer(name, arguments, subset=subset, scorer_name=scorer_name)


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)[:200]
