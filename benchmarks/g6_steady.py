"""G6, steady state: ten consecutive 1,000-call benchmarks in one process.

Uses the blocking notebook entry point `closedpaw_nb.benchmark(...)` as a notebook
user would (streaming on, rows to a SQLite file named by path, result dropped after
each run). After every run: garbage collection, then resident memory, socket file
descriptors, all file descriptors and OS threads. Memory growth is measured from
the end of the first run (pools, caches and the runner thread exist by then) to the
end of the last. Sockets and threads must not grow from run to run, and closing the
manager must give every socket back.
"""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path
from typing import Any

from . import _clients
from ._common import (
    Check,
    GoalResult,
    StubServer,
    at_most,
    info,
    open_fds,
    open_sockets,
    rss_kib,
    thread_count,
)

__all__ = ["run"]

TITLE = "steady state (10 consecutive 1,000-call benchmarks, one process)"
NAMES = ("g6-a", "g6-b", "g6-c", "g6-d")


def run(server: StubServer, quick: bool = False) -> GoalResult:
    """Measure G6; `quick` runs 3 benchmarks of 40 calls."""
    shape = (
        {"runs": 3, "prompts": 5, "trials": 2, "concurrency": 4}
        if quick
        else {"runs": 10, "prompts": 25, "trials": 10, "concurrency": 16}
    )
    import closedpaw_nb as cp
    from closedpaw_nb import _runner

    _clients.register_global({name: server.base_url(f"fast-{name}") for name in NAMES})
    # Started before the baseline: the runner's thread and wake-up sockets are not leaks.
    _runner.get_runner().loop  # noqa: B018
    with tempfile.TemporaryDirectory(prefix="closedpaw-bench-") as tmp:
        before = _probe()
        samples = [_one_run(cp, shape, Path(tmp) / f"run{i}.sqlite") for i in range(shape["runs"])]
        _runner.run(cp.get_provider_manager().close_all())
        gc.collect()
        closed = _probe()
    return _result(before, samples, closed, shape)


def _one_run(cp: Any, shape: dict[str, int], path: Path) -> dict[str, Any]:
    prompts = [f"Prompt {i}: say hello." for i in range(shape["prompts"])]
    targets = [f"{name}:{_clients.MODEL}" for name in NAMES]
    result = cp.benchmark(
        prompts,
        targets,
        trials=shape["trials"],
        warmup=0,
        concurrency=shape["concurrency"],
        store=str(path),
        progress=False,
    )
    rows = result.store.rows(result.run_id)
    del result
    return {**_probe(), "rows": len(rows), "ok": sum(r["ok"] for r in rows)}


def _probe() -> dict[str, int]:
    gc.collect()
    return {"rss_kib": rss_kib(), "sockets": open_sockets(), "fds": open_fds(), "threads": thread_count()}


def _result(
    before: dict[str, int], samples: list[dict[str, Any]], closed: dict[str, int], shape: dict[str, int]
) -> GoalResult:
    first, last = samples[0], samples[-1]
    calls = shape["prompts"] * len(NAMES) * shape["trials"]
    ok = sum(s["ok"] for s in samples)
    growth = (last["rss_kib"] - first["rss_kib"]) / first["rss_kib"]
    result = GoalResult("G6", TITLE, details={"before": before, "runs": samples, "after_close": closed, **shape})
    bound = before["sockets"] + len(NAMES) * shape["concurrency"]
    result.checks += [
        Check("calls that succeeded", f"{ok}/{calls * len(samples)}", "all", ok == calls * len(samples)),
        at_most("memory growth, run 1 -> last", growth * 100, 10, "%"),
        info("RSS after the last run (MiB)", last["rss_kib"] / 1024, "absolute"),
        # A pool may add connections up to the calls in flight (4 providers x concurrency),
        # so socket counts may rise to that bound; a leak would pass it and keep rising.
        Check(
            "sockets after each run",
            " ".join(str(s["sockets"]) for s in samples),
            f"<= {bound} (pool bound)",
            max(s["sockets"] for s in samples) <= bound,
        ),
        _steady("threads", [s["threads"] for s in samples]),
        _steady("other fds (files)", [s["fds"] - s["sockets"] for s in samples]),
        Check(
            "sockets after close_all vs before",
            f"{closed['sockets']} vs {before['sockets']}",
            "<= before",
            closed["sockets"] <= before["sockets"],
        ),
    ]
    return result


def _steady(name: str, values: list[int]) -> Check:
    """A count that must not grow after the first run."""
    return Check(
        f"{name} after each run", " ".join(map(str, values)), "no growth", max(values[1:] or values) <= values[0]
    )
