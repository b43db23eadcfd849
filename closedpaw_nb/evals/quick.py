"""Scores for a quick side-by-side: `compare(..., expected=..., scorers=...)` and the panels.

A comparison has no dataset, only prompts and, when given, their expected answers. This
module turns those into the items `score_run` reads, and the scores it writes into a table
with one column per target, so a compare shows each answer's score under it.

Expected answers, for N prompts:
- one prompt: the value itself (a list is a list of acceptable answers);
- several prompts: a list of N values in prompt order, or a dict keyed by prompt id (or by
  the prompt's text); a prompt left out has no expected answer.

No scorers and an expected answer: `includes()` (the expected text appears in the answer,
case-insensitively), the forgiving rule for free-text answers; pass `scorers=` for others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .run import check_scorers, score_run
from .scorers import Scorer, includes

if TYPE_CHECKING:
    import pandas as pd

    from ..bench.store import RunStore

__all__ = ["expected_by_prompt", "quick_scorers", "score_prompts", "wide_scores"]


def expected_by_prompt(prompts: Sequence[tuple[str, str]], expected: Any) -> dict[str, Any]:
    """{prompt_id: expected answer} for the prompts that have one (see the module docstring)."""
    if expected is None:
        return {}
    if isinstance(expected, Mapping):
        by_text = {text: pid for pid, text in prompts}
        known = {pid for pid, _ in prompts}
        unknown = [str(k) for k in expected if k not in known and k not in by_text]
        if unknown:
            raise ConfigError(f"expected names prompts that were not given: {', '.join(unknown[:5])}")
        return {(k if k in known else by_text[k]): v for k, v in expected.items()}
    if len(prompts) == 1:
        return {prompts[0][0]: expected}
    if isinstance(expected, str) or not isinstance(expected, Sequence) or len(expected) != len(prompts):
        raise ConfigError(
            f"with {len(prompts)} prompts, pass expected as a list of {len(prompts)} answers in prompt order, "
            "or as a dict {prompt_id: answer}"
        )
    return {pid: value for (pid, _), value in zip(prompts, expected, strict=True)}


def quick_scorers(expected: Mapping[str, Any], scorers: Scorer | Sequence[Scorer] | None) -> list[Scorer]:
    """The scorers to run: those given, else `includes()` when some prompt has an expected answer."""
    if scorers is not None:
        return check_scorers(scorers)
    return [includes()] if expected else []


async def score_prompts(
    store: RunStore,
    run_id: str,
    prompts: Sequence[tuple[str, str]],
    expected: Mapping[str, Any],
    scorers: Sequence[Scorer],
) -> list[dict[str, Any]]:
    """Score every call of `run_id` (the store's score rows, one per call x scorer)."""
    import pandas as pd

    items = pd.DataFrame(
        [{"id": pid, "input": text, "expected": expected.get(pid)} for pid, text in prompts],
        columns=["id", "input", "expected"],
    )
    await score_run(store, run_id, items, scorers, concurrency=max(1, len(prompts)))
    return store.scores(run_id)


def wide_scores(scores: Sequence[Mapping[str, Any]], prompt_ids: Sequence[str], targets: Sequence[str]) -> pd.DataFrame:
    """Scores side by side: index (prompt_id, scorer) in prompt order, one column per target;
    a cell is the value (NaN: missing, see the score rows' explanation). Trial 0 only."""
    import pandas as pd

    first = [s for s in scores if s["trial"] == 0]
    names = list(dict.fromkeys(s["scorer"] for s in first))
    index = [(pid, name) for pid in prompt_ids for name in names]
    cells = {(s["prompt_id"], s["scorer"], s["target"]): s["value"] for s in first}
    data = {t: [cells.get((pid, name, t)) for pid, name in index] for t in targets}
    names = ["prompt_id", "scorer"]
    rows = pd.MultiIndex.from_tuples(index, names=names) if index else pd.MultiIndex.from_arrays([[], []], names=names)
    frame = pd.DataFrame(data, index=rows, columns=list(targets))
    frame.columns.name = "target"
    return frame.astype(float)
