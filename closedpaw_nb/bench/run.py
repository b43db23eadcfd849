"""The prompt x target x trial runner behind `compare()` and `benchmark()`.

Every call becomes one row (see `runstore.ROW_FIELDS`). Failures are rows too, never a
crash of the run. Rows go to the run store as they finish, so an interrupted run
keeps what it finished and `resume` runs only what is missing.
"""

from __future__ import annotations

import asyncio
import json
import platform
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from ..errors import ConfigError, MissingModelError, ProviderError
from ..manager import ProviderManager
from ..providers import BaseProvider
from ..providers.base import MessagesLike
from ..types import ChatResponse
from .prices import catalogue_info, price_notes
from .rates import derive_timing
from .store import RunStore

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "BenchmarkResult",
    "ChatCaller",
    "PromptsLike",
    "Target",
    "TargetLike",
    "TargetsLike",
    "WorkItem",
    "new_run_id",
    "normalize_prompts",
    "plan",
    "resolve_targets",
    "resume_benchmark",
    "run_benchmark",
    "run_matrix",
    "run_recorded",
]

RowCallback = Callable[[dict[str, Any]], None]

PromptsLike: TypeAlias = "str | Sequence[str] | Mapping[Any, str] | pd.Series"
"""One prompt, a list of them, {prompt_id: prompt} or a pandas Series (its index gives the ids)."""


@dataclass(frozen=True)
class Target:
    """One provider and model to call."""

    provider: str
    model: str  # "": none given and no default; its calls fail, saying which models to choose from

    def __str__(self) -> str:
        return f"{self.provider}:{self.model or NO_MODEL}"


NO_MODEL = "(no model)"
"""How a target without a model reads ("ollama:(no model)")."""

TargetLike: TypeAlias = "str | tuple[str, str] | Target"
"""One target: "provider:model", "provider" (its default model), ("provider", "model") or a Target."""
TargetsLike: TypeAlias = "str | tuple[str, str] | Iterable[TargetLike] | None"
"""One target (a tuple is always one) or several; None: every registered provider."""


class _Answer(Protocol):
    async def get_response(self) -> ChatResponse: ...


class ChatCaller(Protocol):
    """What `call_once` calls: a ProviderManager, or a stand-in that also watches the stream."""

    async def chat(
        self, messages: MessagesLike, provider: str | None = ..., model: str | None = ..., **options: Any
    ) -> ChatResponse: ...

    def stream(
        self, messages: MessagesLike, provider: str | None = ..., model: str | None = ..., **options: Any
    ) -> _Answer: ...


@dataclass(frozen=True)
class WorkItem:
    """One call of the matrix."""

    target: Target
    prompt_id: str
    trial: int
    warmup: bool = False

    @property
    def key(self) -> tuple[str, str, int, bool]:
        return (str(self.target), self.prompt_id, self.trial, self.warmup)


def resolve_targets(manager: ProviderManager, targets: TargetsLike) -> list[Target]:
    """Turn "provider:model", ("provider", "model") or "provider" into Targets.

    A provider named without a model that has no default model becomes a target with model
    "": its calls fail with a `MissingModelError` that lists the provider's models, while the
    other targets run (one target never stops a compare or a benchmark).

    Raises:
        ConfigError: An unknown provider; raised before anything is sent.
    """
    if targets is None:
        targets = manager.names
    if isinstance(targets, (str, tuple)):
        targets = [targets]
    resolved = []
    for spec in targets:
        name, model = _split_target(spec)
        provider = manager.get_provider(name)
        if provider is None:
            known = ", ".join(manager.names) or "none registered"
            raise ConfigError(f"unknown target {spec!r}: no provider named {name!r} (providers: {known})")
        try:
            resolved.append(Target(name, provider.resolve_model(model)))
        except MissingModelError:
            resolved.append(Target(name, ""))
    if not resolved:
        raise ConfigError("no targets: register a provider or pass targets=['provider:model', ...]")
    return list(dict.fromkeys(resolved))


def _split_target(spec: Any) -> tuple[str, str | None]:
    if isinstance(spec, Target):
        return spec.provider, spec.model
    if isinstance(spec, tuple) and len(spec) == 2:
        return str(spec[0]), str(spec[1])
    if isinstance(spec, str) and spec:
        # Provider names never contain ':', model names may ("llama3.2:latest").
        name, _, model = spec.partition(":")
        return name, None if model in ("", NO_MODEL) else model
    raise ConfigError(f"a target is 'provider:model' or ('provider', 'model'), got {spec!r}")


def normalize_prompts(prompts: PromptsLike) -> list[tuple[str, str]]:
    """(prompt_id, text) pairs from a string, a list, a dict or a pandas Series/column.

    Ids are stable across runs (positions, or the dict keys / Series index), which is
    what lets `resume` recognise finished calls.
    """
    if isinstance(prompts, str):
        return [("p000", prompts)]
    if hasattr(prompts, "items") and not isinstance(prompts, Mapping) or isinstance(prompts, Mapping):  # pandas Series
        pairs = [(str(k), v) for k, v in prompts.items()]
    else:
        pairs = [(f"p{i:03d}", v) for i, v in enumerate(prompts)]
    if not pairs:
        raise ConfigError("no prompts given")
    bad = [pid for pid, text in pairs if not isinstance(text, str) or not text.strip()]
    if bad:
        raise ConfigError(f"prompts must be non-empty strings; fix {', '.join(bad[:5])}")
    return pairs


def plan(targets: Sequence[Target], prompts: Sequence[tuple[str, str]], trials: int, warmup: int) -> list[WorkItem]:
    """The matrix: warm-up calls first (first prompt, per target), then prompt x target x trial."""
    if trials < 1 or warmup < 0:
        raise ConfigError("trials must be >= 1 and warmup >= 0")
    first = prompts[0][0]
    items = [WorkItem(t, first, i, True) for t in targets for i in range(warmup)]
    # Interleave targets so a slow provider does not run alone at the end.
    items += [WorkItem(t, pid, n, False) for n in range(trials) for pid, _ in prompts for t in targets]
    return items


async def call_once(
    manager: ChatCaller,
    item: WorkItem,
    prompt: str | list[dict[str, Any]],
    system: str | None,
    options: Mapping[str, Any],
    stream: bool,
    run_id: str,
) -> dict[str, Any]:
    """Make one call and describe it as a row, whether it succeeded or failed.

    `prompt` is the user's text, or a whole conversation (a list of message dicts, as an
    evaluation item may give); `system` goes first unless the conversation has its own.
    """
    messages = _conversation(prompt, system)
    prompt = prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    row: dict[str, Any] = {
        "run_id": run_id,
        "target": str(item.target),
        "provider": item.target.provider,
        "model": item.target.model,
        "prompt_id": item.prompt_id,
        "prompt": prompt,
        "trial": item.trial,
        "warmup": item.warmup,
        "started_at": started_at,
        "attempts": 1,
    }
    try:
        if stream:
            response = await manager.stream(messages, item.target.provider, item.target.model, **options).get_response()
        else:
            response = await manager.chat(messages, item.target.provider, item.target.model, **options)
    except ProviderError as exc:
        row.update(
            ok=False,
            error_type=type(exc).__name__,
            error=str(exc),
            status_code=exc.status_code,
            attempts=exc.attempts,
            latency_ms=(time.perf_counter() - started) * 1000,
            response=exc.partial_text or "",
        )
        return row
    except ConfigError as exc:
        row.update(ok=False, error_type=type(exc).__name__, error=str(exc), response="")
        return row
    row.update(
        ok=True,
        attempts=response.attempts,
        ttft_ms=response.ttft_ms,
        latency_ms=response.latency_ms,
        prompt_tokens=response.prompt_tokens,
        completion_tokens=response.completion_tokens,
        finish_reason=response.finish_reason,
        response=response.content,
        tokens_per_s=derive_timing(response.ttft_ms, response.latency_ms, response.completion_tokens)["tokens_per_s"],
        **_structured_columns(response, "response_format" in options),
    )
    return row


def manifest_path(path: Path) -> Path:
    """Where an exported results file keeps its manifest: `<name>.manifest.json` beside it."""
    return path.with_name(path.stem + ".manifest.json")


def recordable_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Chat options as the manifest keeps them (JSON, so `resume` can send them again): tools
    as {name, description, parameters}, a response_format as its JSON schema (or "json")."""
    from ..structured import ResponseFormat
    from ..tools import as_tools

    kept = dict(options)
    if kept.get("tools") is not None:
        kept["tools"] = [tool.to_dict() for tool in as_tools(kept["tools"])]
    if kept.get("response_format") is not None:
        fmt = ResponseFormat.of(kept["response_format"])
        kept["response_format"] = fmt.schema if fmt.kind == "json_schema" else "json"
    return kept


def _structured_columns(response: ChatResponse, asked_format: bool) -> dict[str, Any]:
    """The row's tool_calls / parsed as JSON text, schema_valid (None without a format) and usage_source."""
    # Not response.to_dict(): a deep copy of every field per row costs more than the rest of the row.
    calls = [call.to_dict() for call in response.tool_calls]
    parsed = response.parsed.model_dump(mode="json") if hasattr(response.parsed, "model_dump") else response.parsed
    return {
        "tool_calls": json.dumps(calls, ensure_ascii=False) if calls else None,
        "parsed": json.dumps(parsed, ensure_ascii=False, default=str) if asked_format else None,
        "schema_valid": (response.parse_error is None and response.parsed is not None) if asked_format else None,
        "usage_source": response.usage_source if response.completion_tokens is not None else "missing",
    }


def _conversation(prompt: str | list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    turns = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if system and not any(turn.get("role") == "system" for turn in turns):
        turns.insert(0, {"role": "system", "content": system})
    return turns


async def run_matrix(
    manager: ProviderManager,
    items: Sequence[WorkItem],
    prompts: Mapping[str, str | list[dict[str, Any]]],
    *,
    run_id: str,
    store: RunStore,
    system: str | None = None,
    systems: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    stream: bool = True,
    concurrency: int = 4,
    on_row: RowCallback | None = None,
) -> int:
    """Run `items` with at most `concurrency` calls in flight; each row is stored as it
    finishes. Returns how many rows were written. Cancelling stops new calls; finished
    rows stay in the store. `systems` gives a prompt its own system prompt (by prompt id)."""
    if concurrency < 1:
        raise ConfigError("concurrency must be >= 1")
    loop = asyncio.get_running_loop()
    finished: list[dict[str, Any]] = []
    failures: list[Exception] = []
    written = 0

    def commit() -> None:
        # The rows that finished during one event-loop turn, in one transaction: a commit
        # per row would spend the loop's time (and distort the timing of calls still in
        # flight) on SQLite. A row is reported to `on_row` only once it is on disk.
        nonlocal written
        rows = finished[:]
        finished.clear()
        if not rows:
            return
        try:
            written += store.write_rows(rows)
        except Exception as exc:  # e.g. disk full: stop starting calls, keep the rows for a last try
            finished[:0] = rows
            failures.append(exc)
            return
        if on_row is not None:
            try:
                for row in rows:
                    on_row(row)
            except Exception as exc:  # the caller's callback failed: the run stops with its error
                failures.append(exc)

    pending = iter(items)

    async def worker() -> None:
        # `concurrency` workers share one iterator (each item is taken once, in order): no
        # task, semaphore wait and wake-up per item, which a sweep pays on every call.
        for item in pending:
            if failures:
                raise failures[0]
            own_system = (systems or {}).get(item.prompt_id) or system
            row = await call_once(manager, item, prompts[item.prompt_id], own_system, options or {}, stream, run_id)
            if not finished:
                loop.call_soon(commit)
            finished.append(row)

    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(items)))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        commit()  # rows that finished in the last turn, or before a cancellation
    if failures:
        raise failures[-1]
    return written


def _provider(manager: ProviderManager, name: str) -> BaseProvider:
    provider = manager.get_provider(name)
    if provider is None:
        raise ConfigError(f"no provider named {name!r} (registered: {', '.join(manager.names) or 'none'})")
    return provider


def manifest(
    manager: ProviderManager,
    run_id: str,
    targets: Sequence[Target],
    prompts: Sequence[tuple[str, str]],
    parameters: Mapping[str, Any],
    prices: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Everything needed to understand (and resume) a run, with no key material."""
    from .._version import __version__

    providers = {t.provider for t in targets}
    configs = {name: _provider(manager, name).config.public_dict() for name in sorted(providers)}
    return {
        "run_id": run_id,
        "library": {"closedpaw_nb": __version__, "python": sys.version.split()[0], "platform": platform.platform()},
        "providers": configs,
        "local_providers": local_providers(manager, sorted(configs)),
        "simulated_providers": simulated_providers(manager, sorted(configs)),
        "targets": [str(t) for t in targets],
        "prompts": dict(prompts),
        "parameters": dict(parameters),
        "prices": {k: list(v) if isinstance(v, tuple) else v for k, v in (prices or {}).items()},
        "pricing": catalogue_info(),
        "price_notes": price_notes(targets, _pricing_configs(manager, configs), prices or {}),
        "started_at": datetime.now(UTC).isoformat(),
    }


def public_configs(manager: ProviderManager) -> dict[str, dict[str, Any]]:
    """Every registered provider's public config (no key), by name."""
    return {name: provider.config.public_dict() for name in manager.names if (provider := manager.get_provider(name))}


def local_providers(manager: ProviderManager, names: Iterable[str] | None = None) -> list[str]:
    """Of `names` (default: every registered provider), those on a loopback address: their
    calls cost 0.0 unless priced."""
    return [n for n in (manager.names if names is None else names) if (p := manager.get_provider(n)) and p.is_local]


def simulated_providers(manager: ProviderManager, names: Iterable[str] | None = None) -> list[str]:
    """Of `names` (default: every registered provider), those registered as closedpaw_nb's
    simulator (`settings["simulated"]`)."""
    return [n for n in (manager.names if names is None else names) if (p := manager.get_provider(n)) and p.simulated]


def _pricing_configs(manager: ProviderManager, configs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each provider's public config with whether it is local and simulated (for price notes)."""
    local, simulated = set(local_providers(manager, configs)), set(simulated_providers(manager, configs))
    return {
        name: {**config, "local": name in local, "simulated": name in simulated} for name, config in configs.items()
    }


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


@dataclass
class BenchmarkResult:
    """A run's rows, summary, charts and exports.

    Attributes:
        run_id: The run's id in its store.
        store: Where the rows live.
        manifest: Versions, redacted provider configs, prompts, parameters, prices, times.
    """

    run_id: str
    store: RunStore
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def df(self) -> pd.DataFrame:
        """All rows (warm-up included) as a DataFrame, with cost from the price table."""
        from .frames import add_costs, rows_to_frame

        frame = rows_to_frame(self.store.rows(self.run_id))
        info = self.manifest
        return add_costs(frame, info.get("prices") or {}, info.get("local_providers", ()), info.get("providers"))

    def summary(self, by: str = "target") -> pd.DataFrame:
        """Per-target statistics with warm-up rows excluded (see `frames.summarize`)."""
        from .frames import summarize

        return summarize(self.df, by=by)

    def latency_chart(self, kind: str = "box") -> Figure:
        """Latency distribution per target (a matplotlib Figure)."""
        from .charts import latency_distribution

        return latency_distribution(self.df, kind=kind)

    def throughput_chart(self) -> Figure:
        """TTFT against tokens/s, one point per call."""
        from .charts import ttft_vs_throughput

        return ttft_vs_throughput(self.df)

    def error_chart(self) -> Figure:
        """Error rate per target."""
        from .charts import error_rate_bars

        return error_rate_bars(self.df)

    def to_csv(self, path: str | Path) -> Path:
        """Write the rows as CSV, and the manifest beside them."""
        return self._export(path, lambda df, p: df.to_csv(p, index=False))

    def to_json(self, path: str | Path) -> Path:
        """Write the rows as JSON records (ISO dates), and the manifest beside them."""
        # Microseconds and 15 digits: what read_results gets back equals what was written.
        options = dict(orient="records", date_format="iso", date_unit="us", double_precision=15, indent=1)
        return self._export(path, lambda df, p: df.to_json(p, **options))

    def to_parquet(self, path: str | Path) -> Path:
        """Write the rows as Parquet (needs pyarrow: pip install "closedpaw_nb[parquet]")."""
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError(
                'Parquet export needs pyarrow: pip install "closedpaw_nb[parquet]" (or use to_csv)'
            ) from None
        return self._export(path, lambda df, p: df.to_parquet(p, index=False))

    def to_html(self, path: str | Path) -> Path:
        """Write one self-contained HTML report (summary, charts, manifest; no keys) that
        opens in a browser without Jupyter."""
        from .frames import style_summary
        from .report import figure_html, write_report

        sections = [
            ("Summary", style_summary(self.summary()).to_html()),
            ("Latency by target", figure_html(self.latency_chart(), "latency by target")),
            ("Time to first token against tokens/s", figure_html(self.throughput_chart(), "TTFT against tokens/s")),
            ("Errors", figure_html(self.error_chart(), "error rate by target")),
        ]
        simulated = self.manifest.get("simulated_providers", ())
        return write_report(path, f"Benchmark {self.run_id}", sections, manifest=self.manifest, simulated=simulated)

    def _export(self, path: str | Path, write: Callable[[pd.DataFrame, Path], object]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write(self.df, path)
        manifest_path(path).write_text(json.dumps(self.manifest, indent=1, default=str))
        return path

    def _repr_html_(self) -> str:
        from .frames import style_summary

        head = f"<p><b>run {self.run_id}</b>: {len(self.store.rows(self.run_id))} rows</p>"
        if self.manifest.get("simulated_providers"):
            names = ", ".join(self.manifest["simulated_providers"])
            head += f"<p><i>Simulated output ({names}): closedpaw_nb's simulator, not a real model.</i></p>"
        table: str = style_summary(self.summary()).to_html()
        return head + table


async def run_benchmark(
    manager: ProviderManager,
    prompts: PromptsLike,
    targets: TargetsLike = None,
    *,
    trials: int = 3,
    warmup: int = 1,
    concurrency: int = 4,
    stream: bool = True,
    system: str | None = None,
    prices: Mapping[str, Any] | None = None,
    store: RunStore | None = None,
    run_id: str | None = None,
    on_row: RowCallback | None = None,
    on_start: Callable[[int], Awaitable[None] | None] | None = None,
    tags: Sequence[str] = (),
    **options: Any,
) -> BenchmarkResult:
    """Plan, record and run a benchmark (or the missing part of it, for an existing run_id);
    `tags` are kept in the manifest (`RunStore.runs()` lists them)."""
    store = store or RunStore()
    resolved, pairs = resolve_targets(manager, targets), normalize_prompts(prompts)
    run_id = run_id or new_run_id()
    parameters = dict(
        trials=trials,
        warmup=warmup,
        concurrency=concurrency,
        stream=stream,
        system=system,
        options=recordable_options(options),
    )
    info = manifest(manager, run_id, resolved, pairs, parameters, prices) | {"kind": "benchmark", "tags": list(tags)}
    store.create_run(run_id, info)
    done = store.done_keys(run_id)
    todo = [item for item in plan(resolved, pairs, trials, warmup) if item.key not in done]
    await run_recorded(
        store,
        run_id,
        info,
        len(todo),
        on_start,
        lambda: run_matrix(
            manager,
            todo,
            dict(pairs),
            run_id=run_id,
            store=store,
            system=system,
            options=options,
            stream=stream,
            concurrency=concurrency,
            on_row=on_row,
        ),
    )
    return BenchmarkResult(run_id, store, info)


async def run_recorded(
    store: RunStore,
    run_id: str,
    info: dict[str, Any],
    todo: int,
    on_start: Callable[[int], Awaitable[None] | None] | None,
    work: Callable[[], Awaitable[object]],
) -> None:
    """Announce `todo` calls to `on_start`, await `work`, and record how the run ended
    ("done", or "cancelled" when it raised or was interrupted) with its finishing time."""
    if on_start is not None:
        maybe = on_start(todo)
        if asyncio.iscoroutine(maybe):
            await maybe
    status = "cancelled"
    try:
        await work()
        status = "done"
    finally:
        info["finished_at"] = datetime.now(UTC).isoformat()
        store.set_status(run_id, status, info)


async def resume_benchmark(
    manager: ProviderManager, run_id: str, store: RunStore | None = None, **hooks: Any
) -> BenchmarkResult:
    """Run only the calls of `run_id` that have no row yet (same prompts, targets, parameters)."""
    store = store or RunStore()
    info = store.manifest(run_id)
    if info is None:
        raise ConfigError(f"no run {run_id!r} in {store.path}; RunStore.runs() lists the runs there")
    params = dict(info["parameters"])
    options = params.pop("options", {}) or {}
    return await run_benchmark(
        manager,
        info["prompts"],
        info["targets"],
        prices=info.get("prices"),
        store=store,
        run_id=run_id,
        tags=info.get("tags", ()),
        **params,
        **options,
        **hooks,
    )
