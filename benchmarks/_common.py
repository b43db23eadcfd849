"""Shared pieces of the suite: results, statistics, the stub process and /proc probes.

Statistics follow the issue's rule for noisy machines: each round runs every arm
side by side, a ratio is taken per round, and the reported number is the median of
those per-round ratios.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Check",
    "GoalResult",
    "StubServer",
    "at_least",
    "at_most",
    "between",
    "info",
    "median",
    "median_ratio",
    "open_fds",
    "open_sockets",
    "percentile",
    "rss_kib",
    "stub_server",
    "thread_count",
]

REPO = Path(__file__).resolve().parent.parent


# -- results ---------------------------------------------------------------------------


@dataclass
class Check:
    """One measured number of a goal against its target (`ok` None: reported only)."""

    name: str
    value: float | str
    target: str
    ok: bool | None

    def cell(self) -> str:
        if isinstance(self.value, str):
            return self.value
        return f"{self.value:.3f}" if abs(self.value) < 100 else f"{self.value:,.0f}"


def at_most(name: str, value: float, limit: float, unit: str = "x") -> Check:
    return Check(name, value, f"<= {limit:g}{unit}", bool(value <= limit))


def at_least(name: str, value: float, limit: float, unit: str = "x") -> Check:
    return Check(name, value, f">= {limit:g}{unit}", bool(value >= limit))


def between(name: str, value: float, low: float, high: float) -> Check:
    return Check(name, value, f"[{low:g}, {high:g}]", bool(low <= value <= high))


def info(name: str, value: float | str, note: str = "info") -> Check:
    return Check(name, value, note, None)


@dataclass
class GoalResult:
    """A goal's checks, plus raw numbers worth keeping in the results file."""

    goal: str
    title: str
    checks: list[Check] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok is not False for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


# -- statistics ------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation, as numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median_ratio(rounds: Sequence[dict[str, float]], num: str, den: str) -> float:
    """Median over rounds of round[num] / round[den]."""
    return statistics.median(r[num] / r[den] for r in rounds)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


# -- the stub server process -------------------------------------------------------------


class StubServer:
    """A running `benchmarks.stub` process; `base_url("d50-a")` names an endpoint."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        self.root = f"http://127.0.0.1:{port}"

    def base_url(self, mode: str = "fast") -> str:
        return f"{self.root}/{mode}/v1"

    def stats(self) -> dict[str, float]:
        """The server's request count, CPU seconds and schedule lateness."""
        with urllib.request.urlopen(f"{self.root}/_stats", timeout=5) as response:  # loopback only
            return json.loads(response.read())


@contextmanager
def stub_server() -> Iterator[StubServer]:
    """Start the stub in its own process (its own GIL) and stop it afterwards."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.stub"], stdout=subprocess.PIPE, text=True, cwd=REPO, env=env
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("PORT "):
            raise RuntimeError(f"the stub server did not start (said {line!r})")
        yield StubServer(process, int(line.split()[1]))
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


# -- /proc probes (Linux; no psutil needed) --------------------------------------------------


def rss_kib() -> int:
    """Resident set size of this process in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def open_sockets() -> int:
    """How many socket file descriptors this process holds."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue  # the fd of the listing itself, already closed
    return count


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def thread_count() -> int:
    """OS threads of this process (Python's and native ones)."""
    return len(os.listdir("/proc/self/task"))
