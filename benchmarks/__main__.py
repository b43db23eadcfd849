"""`python -m benchmarks [G1 ... G6] [--quick] [--out FILE] [--no-litellm]`

Runs the goals (all by default) against one stub server process, prints one table
and writes the results as JSON (default `benchmarks/results/latest.json`; with
`--quick`, `benchmarks/results/quick.json`). Exit status 0 when every goal ran, 1 when
one raised; a missed target is a reported result, not a crash.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from . import GOALS, _guard
from ._common import Check, GoalResult, stub_server

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _guard.install()
    goals = [g.upper() for g in args.goals] or list(GOALS)
    unknown = sorted(set(goals) - set(GOALS))
    if unknown:
        print(f"unknown goal(s) {', '.join(unknown)}; choose from {', '.join(GOALS)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    results = _run_all(goals, args)
    out = args.out or RESULTS / ("quick.json" if args.quick else "latest.json")
    _write(out, results, args, time.perf_counter() - started)
    print(render(results))
    loads = [r.details["loadavg_1min"]["start"] for r in results if r.details.get("loadavg_1min")]
    print(
        f"\n{len(results)} goal(s) in {time.perf_counter() - started:.0f} s on {os.cpu_count()} cores "
        f"(1-min load average at each goal's start: {', '.join(map(str, loads))}); results in {out}"
    )
    return 1 if any(r.details.get("error") for r in results) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="closedpaw_nb performance suite")
    parser.add_argument("goals", nargs="*", help="goals to run, e.g. G1 G4 (default: all)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the code paths run")
    parser.add_argument("--out", type=Path, help="results file (JSON)")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out even when installed")
    return parser


def _run_all(goals: list[str], args: argparse.Namespace) -> list[GoalResult]:
    results = []
    with stub_server() as server:
        for goal in goals:
            print(f"{goal}: running ...", file=sys.stderr, flush=True)
            started, load = time.perf_counter(), _load()
            result = _run_one(goal, server, args)
            result.seconds = round(time.perf_counter() - started, 1)
            # Other processes' load skews absolute times (ratios less so): keep it on record.
            result.details["loadavg_1min"] = {"start": load, "end": _load()}
            results.append(result)
    return results


def _run_one(goal: str, server: Any, args: argparse.Namespace) -> GoalResult:
    module = GOALS[goal]
    kwargs: dict[str, Any] = {"quick": args.quick}
    if goal in ("G1", "G5"):
        kwargs["litellm"] = not args.no_litellm
    try:
        return module.run(server, **kwargs)
    except Exception as exc:  # noqa: BLE001 - one broken goal must not hide the others' numbers
        traceback.print_exc()
        result = GoalResult(goal, module.TITLE, details={"error": f"{type(exc).__name__}: {exc}"})
        result.checks.append(Check("error", f"{type(exc).__name__}: {exc}"[:60], "runs", False))
        return result


def render(results: list[GoalResult]) -> str:
    """The results as one plain-text table (also valid Markdown)."""
    rows = [("goal", "check", "measured", "target", "result")]
    for result in results:
        for check in result.checks:
            verdict = {True: "pass", False: "FAIL", None: "-"}[check.ok]
            rows.append((result.goal, check.name, check.cell(), check.target, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _write(path: Path, results: list[GoalResult], args: argparse.Namespace, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "command": "python -m benchmarks" + "".join(f" {a}" for a in sys.argv[1:]),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "quick": args.quick,
        "machine": _machine(),
        "goals": [r.to_dict() for r in results],
    }
    path.write_text(json.dumps(_rounded(document), indent=1, default=str) + "\n")


def _rounded(value: Any) -> Any:
    """Floats to 4 decimals, so that the committed results file diffs readably."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def _load() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def _machine() -> dict[str, Any]:
    versions = {}
    for name in ("closedpaw_nb", "aiohttp", "httpx", "httpcore", "openai", "litellm"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_end": load,
        "versions": versions,
    }


if __name__ == "__main__":
    sys.exit(main())
