"""`python -m closedpaw_nb demo`: a first run with no keys, against the simulator.

Registers every built-in provider against an in-process simulator, sends one prompt to
each (streamed, so TTFT is real) and prints the answers and timings as a table.
"""

from __future__ import annotations

import asyncio

from .config import ProviderConfig
from .manager import ProviderManager

PROMPT = "In one sentence, why compare LLM providers on your own prompts?"
DEMO_PROVIDERS = ("openai", "anthropic", "google", "mistral", "ollama", "custom")


async def _compare(manager: ProviderManager, prompt: str) -> list[dict[str, object]]:
    async def one(name: str) -> dict[str, object]:
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


def run_demo(prompt: str = PROMPT) -> list[dict[str, object]]:
    """Run the demo comparison and print it; returns the rows."""
    import pandas as pd

    from ._runner import run
    from .sim import serve_in_thread

    with serve_in_thread() as sim:
        manager = ProviderManager()
        for name in DEMO_PROVIDERS:
            manager.register_provider(ProviderConfig(
                name, name=name, api_key="sim-demo-key", base_url=sim.base_url(name),
                default_model="sim-large" if name in ("anthropic", "google") else "sim-small"))
        rows = run(_compare(manager, prompt))
    print(f"Prompt: {prompt}\n(simulated providers: the closedpaw_nb simulator on {sim.url})\n")
    print(pd.DataFrame(rows).to_string(index=False))
    return rows
