"""Scorers for evaluating answers on your own data: `exact_match`, `includes`, `regex`,
`numeric`, `choice`, `json_valid`, `tool_call`, `python`, the model judge `llm_judge`, `per_item` (each
item judged by its own `scorer` column), and the `Score` they return.

This is the public path; the code lives in `closedpaw_nb.evals`, whose `scorers` docstring
explains the outcomes (a value, a missing score, an exception) and the size limits.
"""

from .evals.judges import llm_judge
from .evals.per_item import per_item
from .evals.scorers import (
    MAX_ANSWER_CHARS,
    JudgeCall,
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
from .evals.tool_scorer import tool_call

__all__ = [
    "MAX_ANSWER_CHARS",
    "JudgeCall",
    "Score",
    "Scorer",
    "choice",
    "exact_match",
    "includes",
    "json_valid",
    "llm_judge",
    "numeric",
    "per_item",
    "python",
    "regex",
    "tool_call",
]
