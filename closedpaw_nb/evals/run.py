"""`run_evaluation` and `EvalResult`: a benchmark whose rows also get scores.

The calls go through the benchmark runner (`bench.run.run_matrix`: same concurrency,
retries, rate limits, cancellation and SQLite run store), then every call is scored by
every scorer into the store's `scores` table (one row per call x scorer). Running the
same run_id again calls only the items that have no row yet and runs only the scorers
that have no score yet; `EvalResult.rescore` replaces scores without calling a target.
A failed call gets a missing score that says so: it is never counted as a wrong answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..bench.run import (
    TargetsLike,
    manifest,
    new_run_id,
    plan,
    recordable_options,
    resolve_targets,
    run_matrix,
    run_recorded,
)
from ..bench.store import JUDGE_CALL_FIELDS, RunStore
from ..errors import ConfigError
from ..manager import ProviderManager
from .datasets import read_items
from .judges import judge_store
from .scorers import Score, Scorer

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ..bench.run import BenchmarkResult

__all__ = ["EvalResult", "run_evaluation", "score_benchmark", "score_call", "score_run"]

RowCallback = Callable[[dict[str, Any]], None]


def check_scorers(scorers: Scorer | Sequence[Scorer]) -> list[Scorer]:
    """The scorers as a list with unique names, or a ConfigError saying what to fix."""
    found = [scorers] if isinstance(scorers, Scorer) else list(scorers)
    if not found:
        raise ConfigError("pass at least one scorer, e.g. scorers=[closedpaw_nb.scorers.exact_match()]")
    bad = [repr(s) for s in found if not isinstance(s, Scorer)]
    if bad:
        raise ConfigError(f"scorers must come from closedpaw_nb.scorers (or subclass Scorer); got {', '.join(bad)}")
    names = [s.name for s in found]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"two scorers are named {', '.join(repeated)}: give one a name=... of its own")
    return found


async def run_evaluation(
    manager: ProviderManager,
    data: Any,
    targets: TargetsLike,
    *,
    scorers: Scorer | Sequence[Scorer],
    trials: int = 1,
    concurrency: int = 8,
    stream: bool = True,
    store: RunStore | None = None,
    run_id: str | None = None,
    prices: Mapping[str, Any] | None = None,
    on_row: RowCallback | None = None,
    on_start: Callable[[int], Awaitable[None] | None] | None = None,
    tags: Sequence[str] = (),
    **options: Any,
) -> EvalResult:
    """Call every target on every item (`trials` times), then score every call.

    Bad data, targets or scorers raise ConfigError before anything is sent. Passing the
    run_id of an interrupted evaluation (and its store) finishes it: finished calls and
    finished scores are kept.
    """
    items = read_items(data)
    checked = check_scorers(scorers)
    store = store or RunStore()
    resolved = resolve_targets(manager, targets)
    run_id = run_id or new_run_id()
    prompts: dict[str, Any] = dict(zip(items["id"], items["input"], strict=True))
    systems = {i: s for i, s in zip(items["id"], items["system"], strict=True) if isinstance(s, str) and s}
    parameters = dict(trials=trials, concurrency=concurrency, stream=stream, options=recordable_options(options))
    info = manifest(manager, run_id, resolved, list(prompts.items()), parameters, prices)
    info.update(kind="evaluation", items=items.to_dict(orient="records"), scorers=[s.name for s in checked])
    info["tags"] = list(tags)
    store.create_run(run_id, info)
    done = store.done_keys(run_id)
    todo = [w for w in plan(resolved, list(prompts.items()), trials, 0) if w.key not in done]

    async def work() -> None:
        await run_matrix(
            manager,
            todo,
            prompts,
            run_id=run_id,
            store=store,
            systems=systems,
            options=options,
            stream=stream,
            concurrency=concurrency,
            on_row=on_row,
        )
        await score_run(store, run_id, items, checked, concurrency=concurrency)

    await run_recorded(store, run_id, info, len(todo), on_start, work)
    return EvalResult(run_id, store, info)


async def score_run(
    store: RunStore,
    run_id: str,
    items: pd.DataFrame,
    scorers: Sequence[Scorer],
    *,
    replace: bool = False,
    concurrency: int = 8,
) -> int:
    """Score every measured call of `run_id` with every scorer that has no score for it yet
    (`replace`: with every scorer given). Returns how many scores were written."""
    by_id = {str(item["id"]): item for item in items.to_dict(orient="records")}
    have = {(s["target"], s["prompt_id"], s["trial"], s["scorer"]) for s in store.scores(run_id)}
    gate = asyncio.Semaphore(concurrency)

    async def one(row: dict[str, Any], scorer: Scorer) -> dict[str, Any]:
        async with gate:
            score = await score_call(row, scorer, by_id.get(row["prompt_id"], {}))
        return {
            "run_id": run_id,
            "target": row["target"],
            "prompt_id": row["prompt_id"],
            "trial": row["trial"],
            "scorer": scorer.name,
            "value": score.value,
            "answer": score.answer,
            "explanation": score.explanation,
            "judge_call": score.judge_call.key if score.judge_call else None,
        }

    jobs = [
        one(row, scorer)
        for row in store.rows(run_id)
        if not row["warmup"]
        for scorer in scorers
        if replace or (row["target"], row["prompt_id"], row["trial"], scorer.name) not in have
    ]
    written = 0
    token = judge_store.set(store)  # model judges cache their verdicts in this store
    try:
        for batch in _batches(jobs, 200):  # a cancelled scoring keeps the batches already stored
            written += store.write_scores(await asyncio.gather(*batch), replace=replace)
    finally:
        judge_store.reset(token)
    return written


async def score_benchmark(
    result: BenchmarkResult, *, expected: Any = None, scorers: Scorer | Sequence[Scorer] | None = None
) -> EvalResult:
    """`EvalResult.from_benchmark`, awaitable."""
    import pandas as pd

    from .quick import expected_by_prompt, quick_scorers

    prompts = list((result.manifest.get("prompts") or {}).items())
    wanted = expected_by_prompt(prompts, expected)
    checked = quick_scorers(wanted, scorers)
    if not checked:
        raise ConfigError("nothing to score against: pass expected=... (answers per prompt) or scorers=[...]")
    records = [{"id": pid, "input": text, "expected": wanted.get(pid)} for pid, text in prompts]
    items = pd.DataFrame(records, columns=["id", "input", "expected"])
    await score_run(result.store, result.run_id, items, checked, replace=True)
    manifest = {**result.manifest, "kind": "evaluation", "items": records, "scorers": [s.name for s in checked]}
    result.store.set_status(result.run_id, "done", manifest)
    return EvalResult(result.run_id, result.store, manifest)


def _short(value: float) -> str:
    return f"{value:.3g}"


def _batches(jobs: list[Any], size: int) -> list[list[Any]]:
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]


async def score_call(row: Mapping[str, Any], scorer: Scorer, item: Mapping[str, Any]) -> Score:
    """One call's score by one scorer: a failed call is a missing score that says so (never a
    wrong answer); otherwise the scorer reads the answer, `item["expected"]` and the call record."""
    if not row["ok"]:
        return Score.missing(
            f"the call failed ({row.get('error_type') or 'error'}): nothing to score", scorer=scorer.name
        )
    return await scorer.score(row.get("response") or "", item.get("expected"), {**item, "_call": call_record(row)})


def call_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """What a scorer may read about the call besides its text: its tool calls and its decoded
    structured answer (from the row's JSON columns)."""
    calls, parsed = row.get("tool_calls"), row.get("parsed")
    return {
        "tool_calls": json.loads(calls) if isinstance(calls, str) and calls else [],
        "parsed": json.loads(parsed) if isinstance(parsed, str) and parsed else None,
    }


@dataclass
class EvalResult:
    """An evaluation's calls and scores: `.df`, `.leaderboard()`, `.compare(a, b)`, `.rescore()`.

    Attributes:
        run_id: The run's id in its store.
        store: Where the calls and scores live.
        manifest: What was run (items, targets, scorers, parameters), with no key material.
    """

    run_id: str
    store: RunStore
    manifest: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_benchmark(
        cls,
        result: BenchmarkResult,
        *,
        expected: Any = None,
        scorers: Scorer | Sequence[Scorer] | None = None,
    ) -> EvalResult:
        """Score a finished benchmark's answers (no target is called again); the run becomes
        an evaluation in its store, with a leaderboard (awaitable: `score_benchmark`).

        Args:
            result: A `benchmark()` result (or one read back with `resume`).
            expected: The expected answers, as in `compare`: a list in prompt order, a dict
                by prompt id or text, or one value when the run had one prompt.
            scorers: From `closedpaw_nb.scorers` (default with `expected`: `includes()`).
        """
        from .._runner import run

        return run(score_benchmark(result, expected=expected, scorers=scorers))

    @property
    def scorers(self) -> list[str]:
        """The scorer names with scores in this run, in the order they were given."""
        return list(self.manifest.get("scorers", []))

    @property
    def items(self) -> pd.DataFrame:
        """The evaluated items (id, input, expected, system and metadata)."""
        import pandas as pd

        return pd.DataFrame(self.manifest.get("items", []))

    @property
    def df(self) -> pd.DataFrame:
        """One row per item x target x trial: the benchmark columns, one column per scorer
        (NaN: missing, with the reason in `<scorer>_explanation`) and the item's metadata."""
        from ..bench.frames import add_costs, rows_to_frame
        from .leaderboard import join_scores

        calls = rows_to_frame(self.store.rows(self.run_id))
        info = self.manifest
        calls = add_costs(calls, info.get("prices") or {}, info.get("local_providers", ()), info.get("providers"))
        return join_scores(calls, self.store.scores(self.run_id), self.items, self.scorers)

    @property
    def judge_calls(self) -> pd.DataFrame:
        """The model-judge calls behind this run's scores, one row per distinct call (a verdict
        reused for several scores appears once, `scores` says how often): judge, reply,
        latency_ms, tokens and cost_usd (priced like the targets' calls)."""
        import pandas as pd

        from ..bench.frames import add_costs

        calls = pd.DataFrame(self.store.judge_calls(self.run_id), columns=[*JUDGE_CALL_FIELDS, "scores"])
        calls = calls.rename(columns={"judge": "target"})
        local = set(calls.loc[calls["local"].astype(bool), "provider"])
        priced = add_costs(calls, self.manifest.get("prices") or {}, local, self.manifest.get("providers"))
        priced = priced.rename(columns={"target": "judge"})
        return priced.drop(columns=["local"])

    def leaderboard(
        self, *, by: str | Sequence[str] = "target", confidence: float = 0.95, seed: int = 0
    ) -> pd.DataFrame:
        """One row per target: items, each scorer's mean with its CI (bootstrap over items),
        error rate, p50 latency, cost per item and per correct answer (see `leaderboard`).
        `by=["target", "category"]` gives the same per target and metadata value."""
        from .leaderboard import leaderboard

        return leaderboard(self.df, self.scorers, by=by, confidence=confidence, seed=seed)

    def summary(self, by: str | Sequence[str] = "target", *, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
        """`bench.frames.summarize` (calls, timing, tokens, cost) per `by` group, e.g.
        `by=["target", "category"]`, with each scorer's mean and CI (as in `leaderboard`) beside it."""
        from ..bench.frames import summarize
        from .leaderboard import leaderboard

        keys = [by] if isinstance(by, str) else list(by)
        df = self.df
        board = leaderboard(df, self.scorers, by=keys, confidence=confidence, seed=seed).set_index(keys)
        score_columns = [c for c in board.columns if c == "n_items" or c.split("_ci_")[0] in self.scorers]
        return summarize(df, by=keys if len(keys) > 1 else keys[0], ci=confidence).join(board[score_columns])

    def compare(self, a: str, b: str, *, scorer: str | None = None, confidence: float = 0.95) -> pd.DataFrame:
        """Target `a` minus target `b` on the same items, per scorer, with CI and McNemar's p."""
        from .leaderboard import paired_comparison

        names = [scorer] if scorer else self.scorers
        return paired_comparison(self.df, a, b, names, confidence=confidence)

    def chart(self, scorer: str | None = None) -> Figure:
        """Score with CI against cost per item and p50 latency, Pareto frontier marked."""
        from ..bench.charts import quality_vs_cost

        return quality_vs_cost(self.leaderboard(), scorer or self.scorers[0])

    def to_html(self, path: str | Path) -> Path:
        """Write one self-contained HTML report (leaderboard, per-category scores, the quality
        chart, manifest; no keys) that opens in a browser without Jupyter."""
        from ..bench.report import figure_html, write_report

        board = self.leaderboard()
        sections = [("Leaderboard (95% CIs)", board.to_html(index=False, na_rep="—", float_format=_short))]
        if "category" in self.items.columns:
            per = self.leaderboard(by=["target", "category"])
            sections.append(("Per category", per.to_html(index=False, na_rep="—", float_format=_short)))
        if self.scorers:
            sections.append(("Quality against cost and latency", figure_html(self.chart(), "quality against cost")))
        manifest = {**self.manifest, "items": f"{len(self.items)} items (see the run store)"}
        simulated = self.manifest.get("simulated_providers", ())
        return write_report(path, f"Evaluation {self.run_id}", sections, manifest=manifest, simulated=simulated)

    def rescore(self, scorers: Scorer | Sequence[Scorer]) -> EvalResult:
        """Score the run's calls again with `scorers` (added, or replacing same-named ones);
        no target is called."""
        from .._runner import run

        checked = check_scorers(scorers)
        run(score_run(self.store, self.run_id, self.items, checked, replace=True))
        names = list(dict.fromkeys([*self.scorers, *(s.name for s in checked)]))
        self.manifest = {**self.manifest, "scorers": names}
        self.store.set_status(self.run_id, "done", self.manifest)
        return self

    def _repr_html_(self) -> str:
        head = f"<p><b>evaluation {self.run_id}</b>: {len(self.items)} items, scorers {', '.join(self.scorers)}</p>"
        if self.manifest.get("simulated_providers"):
            names = ", ".join(self.manifest["simulated_providers"])
            head += f"<p><i>Simulated output ({names}): closedpaw_nb's simulator, not a real model.</i></p>"
        table: str = self.leaderboard().to_html(na_rep="—", float_format=_short)
        return head + table
