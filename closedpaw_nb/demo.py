"""`python -m closedpaw_nb demo`: a first run with no keys, against the simulator.

Registers every built-in provider against an in-process simulator, sends one prompt to
each (streamed, so TTFT is real), prints the answers and timings as a table and writes
them as a bar chart (PNG, default `closedpaw-demo.png` in `default_output_dir()`: $CLOSEDPAW_OUTPUT_DIR,
else ~/Documents/closedpaw_nb).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

from .config import ProviderConfig
from .manager import ProviderManager

PROMPT = "In one sentence, why compare LLM providers on your own prompts?"
DEMO_PROVIDERS = ("openai", "anthropic", "google", "mistral", "ollama", "custom")


class DemoRow(TypedDict):
    """One provider's answer and timings."""

    target: str
    ttft_ms: float
    latency_ms: float
    completion_tokens: int | None
    answer: str


async def _compare(manager: ProviderManager, prompt: str) -> list[DemoRow]:
    async def one(name: str) -> DemoRow:
        stream = manager.stream(prompt, provider=name)
        response = await stream.get_response()
        return {
            "target": f"{name}:{response.model}",
            "ttft_ms": round(response.ttft_ms or 0, 1),
            "latency_ms": round(response.latency_ms or 0, 1),
            "completion_tokens": response.completion_tokens,
            "answer": response.content[:60] + ("…" if len(response.content) > 60 else ""),
        }

    rows = await asyncio.gather(*(one(name) for name in manager.names))
    await manager.close_all()
    return list(rows)


def run_demo(prompt: str = PROMPT, chart: str | Path | None = "") -> list[DemoRow]:
    """Run the demo comparison, print it and (unless `chart` is None) save it as a PNG ("": in
    the default output folder); returns the rows."""
    import pandas as pd

    from ._runner import run
    from .sim import serve_in_thread

    with serve_in_thread() as sim:
        manager = ProviderManager()
        for name in DEMO_PROVIDERS:
            manager.register_provider(
                ProviderConfig(
                    name,
                    name=name,
                    api_key="sim-demo-key",
                    base_url=sim.base_url(name),
                    default_model="sim-large" if name in ("anthropic", "google") else "sim-small",
                )
            )
        rows = run(_compare(manager, prompt))
    print(f"Prompt: {prompt}\n(simulated providers: the closedpaw_nb simulator on {sim.url})\n")
    print(pd.DataFrame(rows).to_string(index=False))
    if chart is not None:
        from .bench.store import default_output_dir

        path = Path(chart) if chart else default_output_dir() / "closedpaw-demo.png"
        print(f"\nChart: {write_chart(rows, path).resolve()}")
    return rows


def write_chart(rows: Sequence[DemoRow], path: str | Path) -> Path:
    """TTFT and total latency per target as horizontal bars, saved as a PNG."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 1.6 + 0.45 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    ax.barh(y - 0.2, [float(r["ttft_ms"]) for r in rows], height=0.4, label="time to first token")
    ax.barh(y + 0.2, [float(r["latency_ms"]) for r in rows], height=0.4, label="total latency")
    ax.set_yticks(y, [str(r["target"]) for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("milliseconds (lower is better)")
    ax.set_title("One prompt, every provider (simulated)")
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m closedpaw_nb demo [--chart PATH | --no-chart]`."""
    parser = argparse.ArgumentParser(prog="python -m closedpaw_nb demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--chart", default="", help="where to write the PNG chart (default: closedpaw-demo.png in the output folder)"
    )
    parser.add_argument("--no-chart", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    run_demo(chart=None if args.no_chart else args.chart)
    return 0
