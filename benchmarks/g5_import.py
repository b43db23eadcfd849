"""G5, import and footprint: a cold `import closedpaw_nb` against `import openai` and LiteLLM.

Each measurement is a fresh interpreter that imports one module and reports the
import's own duration (perf_counter around the import statement, so interpreter
start-up is left out) and its resident memory afterwards. Rounds rotate the order of
the modules; the median of per-round ratios is reported (7 rounds).

Bytecode: every child gets the same private PYTHONPYCACHEPREFIX, filled by an unmeasured
first round, so all modules load from cached bytecode as after a `pip install`
(this machine sets PYTHONDONTWRITEBYTECODE, which would otherwise make only the repo
checkout compile from source every time).

Two more checks, in one extra child with an audit hook: importing closedpaw_nb opens or
resolves no socket, and leaves pandas, ipywidgets, matplotlib, the simulator, the
server, aiohttp and orjson (loaded with the first built-in provider's client) and httpx
(loaded with a custom provider's `client`) unloaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from . import _clients
from ._common import REPO, Check, GoalResult, at_most, info, median, median_ratio

__all__ = ["run"]

TITLE = "import time and footprint (fresh process per import)"
LAZY = (
    "pandas",
    "ipywidgets",
    "matplotlib",
    "closedpaw_nb.sim",
    "closedpaw_nb.server",
    "uvicorn",
    "starlette",
    "aiohttp",
    "orjson",
    "httpx",
)

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import {module}
seconds = time.perf_counter() - t0
rss = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS:'))
print(json.dumps({{"seconds": seconds, "rss_kib": rss}}))
"""

AUDITED = """
import json, sys
events = []
def hook(event, args):
    if event.startswith("socket."):
        events.append(event)
sys.addaudithook(hook)
import closedpaw_nb
print(json.dumps({"socket_events": sorted(set(events)),
                  "loaded": [m for m in LAZY if m in sys.modules]}))
""".replace("LAZY", repr(LAZY))


def run(server: Any = None, quick: bool = False, litellm: bool = True) -> GoalResult:
    """Measure G5 (needs no server); `quick` runs one round."""
    modules = ["closedpaw_nb", "openai"] + (["litellm"] if litellm and _clients.has_litellm() else [])
    rounds_wanted = 1 if quick else 7
    with tempfile.TemporaryDirectory(prefix="closedpaw-pyc-") as cache:
        env = _env(cache)
        for module in modules:
            _child(CHILD.format(module=module), env)  # fills the bytecode cache, unmeasured
        rounds = [_round(modules, env, i) for i in range(rounds_wanted)]
        audit = _child(AUDITED, env)
    return _result(rounds, audit, modules)


def _env(cache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    path = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, **_clients.litellm_env(), "PYTHONPYCACHEPREFIX": cache, "PYTHONPATH": path}


def _child(code: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"child failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _round(modules: list[str], env: dict[str, str], index: int) -> dict[str, float]:
    order = modules[index % len(modules) :] + modules[: index % len(modules)]
    stats: dict[str, float] = {}
    for module in order:
        measured = _child(CHILD.format(module=module), env)
        stats[f"{module}_ms"] = measured["seconds"] * 1000
        stats[f"{module}_rss_mib"] = measured["rss_kib"] / 1024
    return stats


def _result(rounds: list[dict[str, float]], audit: dict[str, Any], modules: list[str]) -> GoalResult:
    result = GoalResult("G5", TITLE, details={"rounds": rounds, "audit": audit})
    result.checks += [
        at_most("import closedpaw_nb / import openai", median_ratio(rounds, "closedpaw_nb_ms", "openai_ms"), 1.0),
        info("import closedpaw_nb (ms)", median([r["closedpaw_nb_ms"] for r in rounds]), "absolute"),
        info("RSS after import closedpaw_nb (MiB)", median([r["closedpaw_nb_rss_mib"] for r in rounds]), "absolute"),
    ]
    if "litellm" in modules:
        result.checks += [
            at_most("import closedpaw_nb / import litellm", median_ratio(rounds, "closedpaw_nb_ms", "litellm_ms"), 0.2),
            at_most(
                "RSS closedpaw_nb / litellm", median_ratio(rounds, "closedpaw_nb_rss_mib", "litellm_rss_mib"), 0.33
            ),
        ]
    else:
        result.checks.append(info("litellm", "not installed", "skipped"))
    result.checks += [
        Check(
            "socket events during import",
            ", ".join(audit["socket_events"]) or "none",
            "none",
            not audit["socket_events"],
        ),
        Check("heavy modules loaded by import", ", ".join(audit["loaded"]) or "none", "none", not audit["loaded"]),
    ]
    return result
