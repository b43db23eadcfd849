"""`per_item`: score each item with the scorer its own row names (a dataset's `scorer` column).

The shipped "basic" set mixes arithmetic, capitals, multiple choice and JSON items; its
`scorer` column says how each is judged (`exact_match`, `numeric`, `choice`,
`json_valid`, `includes`). One `per_item()` scorer applies the right one to every row,
so a leaderboard has one "correct" column across the whole set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .scorers import Score, Scorer, choice, exact_match, includes, json_valid, numeric

__all__ = ["PerItem", "per_item"]


class PerItem(Scorer):
    """Dispatches on `item[column]` to a built-in scorer with its default settings; the
    explanation starts with the scorer used ("numeric: ..."), and an item naming no known
    scorer gets a missing score saying so (never a 0)."""

    kind = "correct"

    def __init__(self, column: str = "scorer", *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.column = column
        self.scorers: dict[str, Scorer] = {
            s.kind: s for s in (exact_match(), numeric(), choice(), json_valid(), includes())
        }

    async def _score(self, answer: str, expected: Any, item: Mapping[str, Any]) -> Score:
        kind = item.get(self.column)
        scorer = self.scorers.get(kind.strip()) if isinstance(kind, str) else None
        if scorer is None:
            known = ", ".join(sorted(self.scorers))
            return Score.missing(f"the item's {self.column!r} is {kind!r}; expected one of {known}")
        score = await scorer.score(answer, expected, item)
        return replace(score, explanation=f"{scorer.name}: {score.explanation}")  # say which rule judged it


def per_item(column: str = "scorer", *, name: str | None = None) -> PerItem:
    """One scorer that judges each item by the scorer named in its `column` (default "scorer")."""
    return PerItem(column, name=name)
