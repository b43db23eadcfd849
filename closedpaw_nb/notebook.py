"""What a data scientist types: sync helpers that work in a Jupyter cell, each with an
awaitable twin (`chat` / `achat`, ...).

All of them run on the background runner loop (`_runner.py`), so they work whether or
not the cell's thread already runs an event loop, and Ctrl-C cancels the work.

```python
import closedpaw_nb as cp
cp.register(simulator=True)                 # or cp.register("openai") with OPENAI_API_KEY set
cp.compare("Why is the sky blue?", ["sim-openai:sim-small", "sim-anthropic:sim-large"])
run = cp.benchmark(["prompt one", "prompt two"], trials=5, concurrency=8)
run.summary()
```
"""

from __future__ import annotations

import asyncio
import html
import os
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import _runner
from .bench.run import (
    BenchmarkResult,
    PromptsLike,
    TargetsLike,
    local_providers,
    new_run_id,
    normalize_prompts,
    resolve_targets,
    resume_benchmark,
    run_benchmark,
    run_matrix,
    simulated_providers,
)
from .bench.store import RunStore
from .config import ProviderConfig
from .errors import ConfigError
from .manager import ProviderManager, get_provider_manager
from .providers import provider_class as provider_class_for
from .providers.base import BaseProvider, MessagesLike
from .types import ChatResponse, ProviderType

if TYPE_CHECKING:  # pandas is imported when a table is made, not with the module
    import pandas as pd

    from .evals.arena import Arena
    from .evals.run import EvalResult
    from .evals.scorers import Scorer
    from .sim import SimServer
    from .tools import ToolRun

T = TypeVar("T")

__all__ = [
    "CompareResult",
    "RunInterrupted",
    "aarena",
    "arena",
    "last_run",
    "load_profiles",
    "read_results",
    "run_tools",
    "arun_tools",
    "runs",
    "save_profiles",
    "abenchmark",
    "achat",
    "aevaluate",
    "acompare",
    "ahealth",
    "amodels",
    "aresume",
    "benchmark",
    "chat",
    "compare",
    "evaluate",
    "health",
    "manager",
    "models",
    "register",
    "resume",
    "stream",
]

SIM_PROVIDERS = ("openai", "anthropic", "google", "mistral", "ollama")
CLOUD_PROVIDERS = (ProviderType.OPENAI, ProviderType.ANTHROPIC, ProviderType.GOOGLE, ProviderType.MISTRAL)
_sim_server: SimServer | None = None


def manager() -> ProviderManager:
    """The manager the helpers use: the process-wide `get_provider_manager()`."""
    return get_provider_manager()


# -- registration -------------------------------------------------------------------


def register(
    provider_type: ProviderType | str | None = None,
    *,
    name: str | None = None,
    simulator: bool = False,
    replace: bool = False,
    provider_class: type[BaseProvider] | None = None,
    **config: Any,
) -> list[str]:
    """Register a provider, or every provider the environment has keys for.

    Args:
        provider_type: One provider to register (with `name`, `api_key`, `base_url`,
            `default_model`, ... as in ProviderConfig). None: register each cloud provider
            whose key is in the environment (OPENAI_API_KEY, ...), skipping names taken.
        simulator: Also start the in-process simulator and register its five providers
            as "sim-openai", "sim-anthropic", ... (output is simulated, not real models).
        replace: Unregister an existing provider of the same name first.
        provider_class: Your BaseProvider subclass, for a custom provider.

    Returns:
        The names registered by this call.
    """
    mgr = manager()
    names = []
    if provider_type is not None:
        cfg = ProviderConfig(provider_type, name=name or "", **config)
        names.append(_register_one(mgr, cfg, replace, provider_class))
    elif not simulator or config:
        for ptype in CLOUD_PROVIDERS:
            if any(os.environ.get(v) for v in provider_class_for(ptype).env_api_key) and ptype.value not in mgr:
                names.append(_register_one(mgr, ProviderConfig(ptype), replace, None))
    if simulator:
        names += _register_simulator(mgr, replace)
    return names


def _register_one(mgr: ProviderManager, cfg: ProviderConfig, replace: bool, cls: type[BaseProvider] | None) -> str:
    if replace and cfg.name in mgr:
        _runner.run(mgr.unregister(cfg.name))
    mgr.register_provider(cfg, provider_class=cls)
    return cfg.name


def _register_simulator(mgr: ProviderManager, replace: bool) -> list[str]:
    """Start the simulator once per process and register its providers."""
    global _sim_server
    if _sim_server is None:
        from .sim import start_server

        _sim_server = start_server()
    server = _sim_server
    names = []
    for ptype in SIM_PROVIDERS:
        name = f"sim-{ptype}"
        if name in mgr and not replace:
            continue
        cfg = ProviderConfig(
            ptype,
            name=name,
            api_key="sim-key",
            base_url=server.base_url(ptype),
            models=["sim-small", "sim-large"],
            default_model="sim-small",
            settings={"simulated": True},
        )
        names.append(_register_one(mgr, cfg, replace, None))
    return names


def save_profiles(path: str | Path | None = None, *, names: Sequence[str] = ()) -> Path:
    """Save the registered providers' non-secret settings (type, name, base URL, models,
    default model, limits; never a key) to `path` (default: profiles.json in the user config
    directory), so `load_profiles()` can register them again after a restart."""
    from .profiles import save_profiles as save

    return save(manager(), path, names=names)


def load_profiles(path: str | Path | None = None, *, replace: bool = False) -> list[str]:
    """Register the providers saved by `save_profiles`; their keys come from the vault or the
    environment as at registration. Returns the names registered; a profile that cannot be
    registered (name taken, no key...) is skipped with a warning that says why."""
    import warnings

    from .profiles import load_profiles as load

    registered, skipped = _runner.run(load(manager(), path, replace=replace))
    if skipped:
        reasons = "; ".join(f"{name}: {why}" for name, why in skipped.items())
        warnings.warn(f"{len(skipped)} saved profile(s) not registered: {reasons}", UserWarning, stacklevel=2)
    return registered


# -- single calls ---------------------------------------------------------------------


def _messages(prompt: MessagesLike, system: str | None) -> MessagesLike:
    if system is None:
        return prompt
    # With a system prompt, `prompt` must be a string: normalize_messages rejects other content.
    turns: list[Mapping[str, Any]] = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    return turns


async def _chat(
    prompt: MessagesLike,
    target: str | tuple[str, str] | None,
    system: str | None,
    options: dict[str, Any],
) -> ChatResponse:
    mgr = manager()
    (t,) = resolve_targets(mgr, target if target is not None else [mgr.default or ""])
    return await mgr.chat(_messages(prompt, system), t.provider, t.model, **options)


def chat(
    prompt: MessagesLike,
    target: str | tuple[str, str] | None = None,
    *,
    system: str | None = None,
    **options: Any,
) -> ChatResponse:
    """Send one prompt (or a list of messages) to a target ("provider:model"; default provider if None)."""
    return _runner.run(_chat(prompt, target, system, options))


async def achat(
    prompt: MessagesLike,
    target: str | tuple[str, str] | None = None,
    *,
    system: str | None = None,
    **options: Any,
) -> ChatResponse:
    """Awaitable `chat`."""
    return await _runner.wrap(_chat(prompt, target, system, options))


def stream(
    prompt: MessagesLike,
    target: str | tuple[str, str] | None = None,
    *,
    system: str | None = None,
    **options: Any,
) -> Iterator[str]:
    """Yield text deltas as they arrive (a plain iterator; breaking out closes the stream)."""
    mgr = manager()
    (t,) = resolve_targets(mgr, target if target is not None else [mgr.default or ""])
    return _runner.iterate(mgr.stream(_messages(prompt, system), t.provider, t.model, **options))


# -- tables ---------------------------------------------------------------------------


async def _models() -> pd.DataFrame:
    import pandas as pd

    mgr = manager()
    providers = [p for n in mgr.names if (p := mgr.get_provider(n)) is not None]
    found = await asyncio.gather(*(p.list_model_info() for p in providers), return_exceptions=True)
    rows: list[dict[str, Any]] = []
    for provider, models_or_error in zip(providers, found, strict=True):
        if isinstance(models_or_error, BaseException):
            rows.append(
                {
                    "provider": provider.name,
                    "model": None,
                    "error": f"{type(models_or_error).__name__}: {models_or_error}",
                }
            )
            continue
        rows += [
            {
                "provider": m.provider,
                "model": m.id,
                "display_name": m.display_name,
                "context_length": m.context_length,
                "error": None,
            }
            for m in models_or_error
        ]
    return pd.DataFrame(rows, columns=["provider", "model", "display_name", "context_length", "error"])


def models() -> pd.DataFrame:
    """Every registered provider's models as a DataFrame (live lists; errors as rows)."""
    return _runner.run(_models())


async def amodels() -> pd.DataFrame:
    """Awaitable `models`."""
    return await _runner.wrap(_models())


async def _health() -> pd.DataFrame:
    import pandas as pd

    statuses = await manager().check_health_all()
    rows = [s.to_dict() for s in statuses.values()]
    return pd.DataFrame(rows, columns=["provider", "status", "ok", "latency_ms", "model_count", "detail", "checked_at"])


def health() -> pd.DataFrame:
    """Probe every provider concurrently (no billing) and return a DataFrame."""
    return _runner.run(_health())


async def ahealth() -> pd.DataFrame:
    """Awaitable `health`."""
    return await _runner.wrap(_health())


def run_tools(
    prompt: MessagesLike, target: str | None = None, tools: Any = (), *, max_rounds: int = 5, **options: Any
) -> ToolRun:
    """Answer `prompt` with Python `tools`: each tool call the model makes is run and its result
    sent back, until it answers in text (at most `max_rounds` rounds; see
    `closedpaw_nb.tools.run_tools`). Returns the ToolRun: `.response`, `.messages`, `.rounds`."""
    return _runner.run(_run_tools(prompt, target, tools, max_rounds, options))


async def arun_tools(
    prompt: MessagesLike, target: str | None = None, tools: Any = (), *, max_rounds: int = 5, **options: Any
) -> ToolRun:
    """Awaitable `run_tools` (same arguments)."""
    return await _runner.wrap(_run_tools(prompt, target, tools, max_rounds, options))


async def _run_tools(prompt: MessagesLike, target: str | None, tools: Any, max_rounds: int, options: Any) -> ToolRun:
    from .tools import run_tools as loop

    mgr = manager()
    provider, model = None, None
    if target is not None:
        (chosen,) = resolve_targets(mgr, target)
        provider, model = chosen.provider, chosen.model or None
    return await loop(mgr.chat, prompt, tools, max_rounds=max_rounds, provider=provider, model=model, **options)


# -- compare --------------------------------------------------------------------------


@dataclass
class CompareResult:
    """Answers side by side: `.df` has one row per call (benchmark columns).

    Attributes:
        df: One row per call, with the benchmark columns.
        simulated: Providers whose answers came from the simulator, not a real model.
        score_rows: The score of each answer by each scorer (with `expected=` / `scorers=`).
        local: Providers on a local endpoint (their calls cost nothing).
    """

    df: pd.DataFrame
    simulated: tuple[str, ...] = ()
    score_rows: list[dict[str, Any]] = field(default_factory=list)
    local: tuple[str, ...] = ()

    @property
    def scores(self) -> pd.DataFrame:
        """One row per prompt and scorer, one column per target: the score (NaN: missing; the
        reason is in `score_rows`). Empty when no expected answer or scorer was given."""
        from .evals.quick import wide_scores

        return wide_scores(self.score_rows, list(self.answers.index), list(self.answers.columns))

    @property
    def answers(self) -> pd.DataFrame:
        """One column per target, one row per prompt."""
        from .bench.frames import wide_answers

        return wide_answers(self.df)

    @property
    def metrics(self) -> pd.DataFrame:
        """Latency, TTFT, tokens, tokens/s and cost per target."""
        from .bench.frames import metrics_table

        return metrics_table(self.df)

    def _repr_html_(self) -> str:

        note = ""
        if self.simulated:
            names = html.escape(", ".join(self.simulated))
            note = f"<p><i>Simulated output ({names}): closedpaw_nb's simulator, not a real model.</i></p>"
        from .bench.render import compare_html

        answers = self.answers
        by_provider = {str(t): str(t).split(":", 1)[0] for t in answers.columns}
        simulated = [t for t, p in by_provider.items() if p in self.simulated]
        local = [t for t, p in by_provider.items() if p in self.local]
        return note + compare_html(answers, self.scores, self.metrics, simulated=simulated, local=local)

    def to_html(self, path: str | Path) -> Path:
        """Write the comparison as one self-contained HTML file (answers, scores, numbers)."""
        from .bench.report import write_report

        body = self._repr_html_()
        prompts = dict(zip(self.df["prompt_id"], self.df["prompt"], strict=False))
        manifest = {"targets": list(self.answers.columns), "prompts": prompts}
        return write_report(path, "Comparison", [("Side by side", body)], manifest=manifest)

    def __repr__(self) -> str:
        return f"CompareResult({len(self.df)} calls)\n{self.answers.to_string()}"


async def _compare(
    prompts: PromptsLike,
    targets: TargetsLike,
    system: str | None,
    stream: bool,
    options: dict[str, Any],
    expected: Any = None,
    scorers: Scorer | Sequence[Scorer] | None = None,
    prices: Mapping[str, Any] | None = None,
) -> CompareResult:
    from .bench.frames import add_costs, rows_to_frame
    from .bench.run import plan, public_configs
    from .evals.quick import expected_by_prompt, quick_scorers, score_prompts

    mgr = manager()
    resolved, pairs = resolve_targets(mgr, targets), normalize_prompts(prompts)
    wanted = expected_by_prompt(pairs, expected)
    checked = quick_scorers(wanted, scorers)  # bad expected answers or scorers: nothing is sent
    store, run_id = RunStore(":memory:"), new_run_id()
    await run_matrix(
        mgr,
        plan(resolved, pairs, 1, 0),
        dict(pairs),
        run_id=run_id,
        store=store,
        system=system,
        options=options,
        stream=stream,
        concurrency=len(resolved) * len(pairs),
    )
    # Rows arrive in finishing order; show prompts and targets in the order they were given.
    rank = {key: i for i, key in enumerate((pid, str(t)) for pid, _ in pairs for t in resolved)}
    rows = sorted(store.rows(run_id), key=lambda r: rank[(r["prompt_id"], r["target"])])
    providers = dict.fromkeys(t.provider for t in resolved)
    local = tuple(local_providers(mgr, providers))
    frame = add_costs(rows_to_frame(rows), prices or {}, local, public_configs(mgr))
    scores = await score_prompts(store, run_id, pairs, wanted, checked) if checked else []
    store.close()
    return CompareResult(frame, tuple(simulated_providers(mgr, providers)), scores, local)


def compare(
    prompts: PromptsLike,
    targets: TargetsLike = None,
    *,
    system: str | None = None,
    stream: bool = True,
    expected: Any = None,
    scorers: Scorer | Sequence[Scorer] | None = None,
    prices: Mapping[str, Any] | None = None,
    **options: Any,
) -> CompareResult:
    """Send the same prompt(s) to several targets at once and show the answers side by side.

    Args:
        prompts: A string, a list, a dict {prompt_id: text} or a pandas Series.
        targets: "provider:model" strings or tuples (default: every registered provider).
        system: A system prompt for every call.
        stream: Stream the answers (gives TTFT).
        expected: The expected answer(s), to score each answer: one value for one prompt (a
            list: acceptable answers), else a list in prompt order or a dict by prompt id.
        scorers: From `closedpaw_nb.scorers` (default with `expected`: `includes()`).
        prices: As in `benchmark` (calls it leaves out are priced from genai-prices).
        **options: temperature, top_p, max_tokens, stop, seed, extra_body.

    Returns:
        A CompareResult: `.answers`, `.scores`, `.metrics` and `.df`.
    """
    return _runner.run(_compare(prompts, targets, system, stream, options, expected, scorers, prices))


async def acompare(
    prompts: PromptsLike,
    targets: TargetsLike = None,
    *,
    system: str | None = None,
    stream: bool = True,
    expected: Any = None,
    scorers: Scorer | Sequence[Scorer] | None = None,
    prices: Mapping[str, Any] | None = None,
    **options: Any,
) -> CompareResult:
    """Awaitable `compare` (same arguments)."""
    return await _runner.wrap(_compare(prompts, targets, system, stream, options, expected, scorers, prices))


# -- benchmark ------------------------------------------------------------------------


class _Progress:
    """A tqdm bar (notebook widget or text) with live ok/error counts."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.ok, self.errors = enabled, 0, 0
        self.bar: Any = None  # a tqdm bar (tqdm ships no types)

    def start(self, total: int) -> None:
        if self.enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="benchmark", unit="call")

    def row(self, row: dict[str, Any]) -> None:
        self.ok, self.errors = self.ok + bool(row["ok"]), self.errors + (not row["ok"])
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(ok=self.ok, errors=self.errors, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _store(store: RunStore | str | None) -> RunStore:
    return store if isinstance(store, RunStore) else RunStore(store)


class RunInterrupted(KeyboardInterrupt):
    """A benchmark or evaluation was interrupted (Ctrl-C, kernel interrupt): its finished calls
    are kept, `result` (also `last_run()`) is the partial result, and the message names the
    call that finishes it. A KeyboardInterrupt, so `except KeyboardInterrupt` still catches it."""

    def __init__(self, result: BenchmarkResult | EvalResult, finish: str) -> None:
        self.result, self.finish = result, finish
        kept = len(result.store.done_keys(result.run_id))  # one key per finished call, without decoding rows
        super().__init__(
            f"run {result.run_id} interrupted: {kept} finished calls are kept in {result.store.path}. "
            f"Run only the missing calls with: {finish} (cp.last_run() is the partial result)"
        )


_last_run: Any = None  # BenchmarkResult | EvalResult | None


def last_run() -> BenchmarkResult | EvalResult | None:
    """The last benchmark or evaluation started with these helpers: finished, or the partial
    result of an interrupted one (its rows are in its store)."""
    if _last_run is not None and not _last_run.manifest:  # interrupted: read what the store has now
        _last_run.manifest = _last_run.store.manifest(_last_run.run_id) or {}
    result: BenchmarkResult | EvalResult | None = _last_run
    return result


def _blocking(job: Coroutine[Any, Any, T], partial: BenchmarkResult | EvalResult, finish: str) -> T:
    """Run a benchmark-like `job`; on an interrupt, keep `partial` as `last_run()` and raise
    `RunInterrupted` (from None: the runner's concurrent.futures frames say nothing useful)."""
    global _last_run
    _last_run = partial
    try:
        _last_run = result = _runner.run(job)
    except KeyboardInterrupt:
        partial.manifest = partial.store.manifest(partial.run_id) or {}
        raise RunInterrupted(partial, finish) from None
    return result


async def _awaiting(job: Coroutine[Any, Any, T], partial: BenchmarkResult | EvalResult) -> T:
    """The awaitable twin of `_blocking`: `partial` is `last_run()` while `job` runs (and
    after a cancellation), the result once it has finished."""
    global _last_run
    _last_run = partial
    result = await _runner.wrap(job)
    _last_run = result
    return result


def runs(store: RunStore | str | None = None) -> pd.DataFrame:
    """The runs in a store (default: the user data directory), newest first: run_id, started,
    status, kind (benchmark / evaluation), targets, rows and tags."""
    import pandas as pd

    records = [
        {
            "run_id": run["run_id"],
            "started": pd.Timestamp(run["created_at"]),
            "status": run["status"],
            "kind": run["manifest"].get("kind", "benchmark"),
            "targets": list(run["manifest"].get("targets", [])),
            "rows": run["rows"],
            "tags": list(run["manifest"].get("tags", [])),
        }
        for run in _store(store).runs(manifests=True)
    ]
    columns = ["run_id", "started", "status", "kind", "targets", "rows", "tags"]
    return pd.DataFrame(records, columns=columns)


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a results file written by `.to_csv` / `.to_json` / `.to_parquet` with the dtypes
    it was written with; the manifest beside it is in `df.attrs["manifest"]`."""
    from .bench.files import read_results as read

    return read(path)


def benchmark(
    prompts: PromptsLike,
    targets: TargetsLike = None,
    *,
    trials: int = 3,
    concurrency: int = 4,
    warmup: int = 1,
    stream: bool = True,
    system: str | None = None,
    prices: Mapping[str, Any] | None = None,
    store: RunStore | str | None = None,
    run_id: str | None = None,
    progress: bool = True,
    tags: Sequence[str] = (),
    **options: Any,
) -> BenchmarkResult:
    """Run prompts x targets x trials concurrently and record every call.

    Args:
        prompts: A string, a list, a dict {id: prompt} or a DataFrame column.
        targets: "provider:model" strings or tuples (default: every registered provider).
        trials: Measured calls per prompt and target.
        concurrency: Calls in flight at once (each provider's rate limit also applies).
        warmup: Unmeasured calls per target first (marked warmup, left out of summaries).
        stream: Stream responses, so TTFT is measured (default True).
        system: An optional system prompt.
        prices: {"provider:model" or "model": (usd_per_million_input, usd_per_million_output)}.
        store: A RunStore or a path to its SQLite file (default: the user data directory).
        run_id: Continue this run instead of starting a new one.
        progress: Show a progress bar with live ok/error counts.
        tags: Labels kept with the run (`runs()` lists them).
        **options: temperature, top_p, max_tokens, stop, seed, extra_body.

    Returns:
        A BenchmarkResult (`.df`, `.summary()`, `.to_csv()`, ...). An interrupted run (Ctrl-C,
        kernel interrupt) keeps its rows and raises `RunInterrupted`, which names the
        `resume(...)` call that runs only the missing calls; `last_run()` is the partial result.
    """
    settings = dict(trials=trials, concurrency=concurrency, warmup=warmup, stream=stream, system=system, prices=prices)
    where, run_id = _store(store), run_id or new_run_id()
    job = abenchmark_core(
        prompts, targets, store=where, run_id=run_id, progress=progress, tags=tags, **settings, **options
    )
    return _blocking(job, BenchmarkResult(run_id, where), f"cp.resume({run_id!r}, store={where.path!r})")


async def abenchmark(
    prompts: PromptsLike,
    targets: TargetsLike = None,
    *,
    trials: int = 3,
    concurrency: int = 4,
    warmup: int = 1,
    stream: bool = True,
    system: str | None = None,
    prices: Mapping[str, Any] | None = None,
    store: RunStore | str | None = None,
    run_id: str | None = None,
    progress: bool = True,
    tags: Sequence[str] = (),
    **options: Any,
) -> BenchmarkResult:
    """Awaitable `benchmark` (same arguments)."""
    settings = dict(trials=trials, concurrency=concurrency, warmup=warmup, stream=stream, system=system, prices=prices)
    where, run_id = _store(store), run_id or new_run_id()
    job = abenchmark_core(
        prompts, targets, store=where, run_id=run_id, progress=progress, tags=tags, **settings, **options
    )
    return await _awaiting(job, BenchmarkResult(run_id, where))


async def abenchmark_core(
    prompts: PromptsLike,
    targets: TargetsLike,
    *,
    progress: bool = True,
    **kwargs: Any,
) -> BenchmarkResult:
    bar = _Progress(progress)
    try:
        return await run_benchmark(manager(), prompts, targets, on_start=bar.start, on_row=bar.row, **kwargs)
    finally:
        bar.close()


def resume(run_id: str, *, store: RunStore | str | None = None, progress: bool = True) -> BenchmarkResult:
    """Finish an interrupted benchmark: run only the calls that have no row yet."""
    where = _store(store)
    again = f"cp.resume({run_id!r}, store={where.path!r})"
    return _blocking(_resume(run_id, where, progress), BenchmarkResult(run_id, where), again)


async def aresume(run_id: str, *, store: RunStore | str | None = None, progress: bool = True) -> BenchmarkResult:
    """Awaitable `resume`."""
    where = _store(store)
    return await _awaiting(_resume(run_id, where, progress), BenchmarkResult(run_id, where))


async def _resume(run_id: str, store: RunStore, progress: bool) -> BenchmarkResult:
    bar = _Progress(progress)
    try:
        return await resume_benchmark(manager(), run_id, store, on_start=bar.start, on_row=bar.row)
    finally:
        bar.close()


# -- evaluate -------------------------------------------------------------------------


def evaluate(
    data: Any,
    targets: TargetsLike = None,
    *,
    scorers: Scorer | Sequence[Scorer],
    trials: int = 1,
    concurrency: int = 8,
    store: RunStore | str | None = None,
    run_id: str | None = None,
    prices: Mapping[str, Any] | None = None,
    progress: bool = True,
    tags: Sequence[str] = (),
    **options: Any,
) -> EvalResult:
    """Score targets on your own data: every item to every target (`trials` times), then
    every answer by every scorer, with latency, tokens and cost on the same rows.

    Args:
        data: Strings, dicts, a DataFrame, or a CSV/JSONL/Parquet path with an `input`
            column (and optional `expected`, `id`, `system`, metadata columns).
        targets: "provider:model" strings or tuples (default: every registered provider).
        scorers: From `closedpaw_nb.scorers` (exact_match(), numeric(), ...).
        trials: Calls per item and target (trials of one item are kept together in the CIs).
        concurrency: Calls in flight at once.
        store: A RunStore or a path to its SQLite file (default: the user data directory).
        run_id: Finish this interrupted evaluation instead of starting a new one.
        prices: As in `benchmark`.
        progress: Show a progress bar with live ok/error counts.
        tags: Labels kept with the run (`runs()` lists them).
        **options: temperature, top_p, max_tokens, stop, seed, extra_body.

    Returns:
        An EvalResult: `.df`, `.leaderboard()`, `.compare(a, b)`, `.rescore(scorers)`. An
        interrupted evaluation keeps its finished calls and scores and raises `RunInterrupted`
        (with the call that finishes it); `last_run()` is the partial result.
    """
    from .evals.run import EvalResult

    where, run_id = _store(store), run_id or new_run_id()
    options = {**options, "tags": tags}
    job = _evaluate(data, targets, scorers, trials, concurrency, where, run_id, prices, progress, options)
    again = f"cp.evaluate(<the same data, targets and scorers>, run_id={run_id!r}, store={where.path!r})"
    return _blocking(job, EvalResult(run_id, where), again)


async def aevaluate(
    data: Any,
    targets: TargetsLike = None,
    *,
    scorers: Scorer | Sequence[Scorer],
    trials: int = 1,
    concurrency: int = 8,
    store: RunStore | str | None = None,
    run_id: str | None = None,
    prices: Mapping[str, Any] | None = None,
    progress: bool = True,
    tags: Sequence[str] = (),
    **options: Any,
) -> EvalResult:
    """Awaitable `evaluate` (same arguments)."""
    from .evals.run import EvalResult

    where, run_id = _store(store), run_id or new_run_id()
    options = {**options, "tags": tags}
    job = _evaluate(data, targets, scorers, trials, concurrency, where, run_id, prices, progress, options)
    return await _awaiting(job, EvalResult(run_id, where))


async def _evaluate(
    data: Any,
    targets: TargetsLike,
    scorers: Scorer | Sequence[Scorer],
    trials: int,
    concurrency: int,
    store: RunStore,
    run_id: str | None,
    prices: Mapping[str, Any] | None,
    progress: bool,
    options: dict[str, Any],
) -> EvalResult:
    from .evals.run import run_evaluation

    bar = _Progress(progress)
    try:
        return await run_evaluation(
            manager(),
            data,
            targets,
            scorers=scorers,
            trials=trials,
            concurrency=concurrency,
            store=store,
            run_id=run_id,
            prices=prices,
            on_start=bar.start,
            on_row=bar.row,
            **options,
        )
    finally:
        bar.close()


# -- arena ----------------------------------------------------------------------------


def arena(
    source: Any,
    targets: TargetsLike = None,
    *,
    pairs: str | int = "all",
    judge: str | Sequence[str] | None = None,
    seed: int = 0,
    store: RunStore | str | None = None,
    progress: bool = True,
    **options: Any,
) -> Arena:
    """Blind pairwise battles between targets' answers, for people (`widgets.ArenaPanel`) and
    model judges to vote on, ranked with Bradley–Terry and bootstrap CIs.

    Args:
        source: An EvalResult, a BenchmarkResult or a run id (answers you already have: no
            target is called), or prompts / a dataset (a list, dict or DataFrame with an
            `input` column), which are first sent to `targets` once each.
        targets: The targets that battle (default: every target of the run).
        pairs: "all" pairs per item, "adjacent" targets only, or N pairs drawn per item.
        judge: "provider:model" (or a list) to judge every battle, twice with the answers
            swapped; inconsistent verdicts count as ties.
        seed: Decides which answer is shown as A, and the pairs drawn for a number.
        store: The run store (a RunStore or a path) for a run id or for new calls.
        progress: Show a progress bar while new calls run.
        **options: Chat options for the judges (default temperature 0).

    Returns:
        An Arena: `.pending()`, `.vote()`, `.ranking()`, `.win_matrix()`, `.agreement()`, `.chart()`.
    """
    return _runner.run(_arena(source, targets, pairs, judge, seed, store, progress, options))


async def aarena(
    source: Any,
    targets: TargetsLike = None,
    *,
    pairs: str | int = "all",
    judge: str | Sequence[str] | None = None,
    seed: int = 0,
    store: RunStore | str | None = None,
    progress: bool = True,
    **options: Any,
) -> Arena:
    """Awaitable `arena` (same arguments)."""
    return await _runner.wrap(_arena(source, targets, pairs, judge, seed, store, progress, options))


async def _arena(
    source: Any,
    targets: TargetsLike,
    pairs: str | int,
    judge: str | Sequence[str] | None,
    seed: int,
    store: RunStore | str | None,
    progress: bool,
    options: dict[str, Any],
) -> Arena:
    from .bench.run import BenchmarkResult
    from .evals.arena import build_arena
    from .evals.datasets import read_items
    from .evals.run import EvalResult

    mgr = manager()
    if isinstance(source, EvalResult | BenchmarkResult):
        run_id, where = source.run_id, source.store
    elif isinstance(source, str):
        run_id, where = source, _store(store)
        if where.manifest(run_id) is None:
            raise ConfigError(f"no run {run_id!r} in {where.path}: pass its store=, or prompts in a list")
    else:
        prompts = source
        if _is_dataset(source):
            items = read_items(source)
            prompts = dict(zip(items["id"].astype(str), items["input"], strict=True))
        run = await abenchmark_core(prompts, targets, store=_store(store), trials=1, warmup=0, progress=progress)
        run_id, where = run.run_id, run.store
    names = None if targets is None else [str(t) for t in resolve_targets(mgr, targets)]
    battles = build_arena(where, run_id, targets=names, pairs=pairs, seed=seed, manager=mgr)
    if judge:
        await battles.ajudge(judge, **options)
    return battles


def _is_dataset(source: Any) -> bool:
    """A DataFrame or a list of dicts (items with an `input`), rather than prompts."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return True
    return isinstance(source, list) and bool(source) and isinstance(source[0], Mapping)
