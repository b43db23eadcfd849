"""Benchmarks: the plan (prompt x target x trial), the concurrent run, the SQLite run
store, the statistics (`frames`) and the charts. `frames` and `charts` are pure: no I/O.
"""

from .run import (
    BenchmarkResult,
    Target,
    WorkItem,
    new_run_id,
    normalize_prompts,
    plan,
    resolve_targets,
    resume_benchmark,
    run_benchmark,
    run_matrix,
)
from .store import RunStore

__all__ = [
    "BenchmarkResult",
    "RunStore",
    "Target",
    "WorkItem",
    "new_run_id",
    "normalize_prompts",
    "plan",
    "resolve_targets",
    "resume_benchmark",
    "run_benchmark",
    "run_matrix",
]
