"""Streaming plumbing for the comparison: delta buffers, the UI ticker, and a tap on
`ProviderManager.stream` so `bench.call_once` can be reused while deltas are watched.

Deltas arrive far faster than a browser wants updates, so they are buffered in `Live`
and copied into the column state by `tick` every `TICK` seconds.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from typing import Any

from ..bench.frames import tool_call_lines
from ..manager import ProviderManager
from ._state import TargetColumn

__all__ = ["TICK", "Live", "Tap", "tick"]

TICK = 0.05  # seconds between UI updates while streaming


class Live:
    """A column's stream buffer: deltas land here and reach the state on the next tick."""

    def __init__(self, column: TargetColumn) -> None:
        self.column = column
        self.parts: list[str] = []
        self.started = 0.0  # perf_counter() when the call began; 0 while waiting
        self.first: float | None = None  # perf_counter() of the first delta
        self.finished = False

    def begin(self) -> None:
        """The call starts now."""
        self.started = time.perf_counter()
        self.column.phase = "streaming"

    def feed(self, delta: str) -> None:
        """Buffer one delta (runner thread; no widget traffic here)."""
        if self.first is None:
            self.first = time.perf_counter()
        self.parts.append(delta)

    def flush(self) -> None:
        """Copy the buffer and the running timer into the column state."""
        c, now = self.column, time.perf_counter()
        with c.hold_trait_notifications():
            c.text, c.chunks = "".join(self.parts), len(self.parts)
            c.elapsed_ms = (now - self.started) * 1000
            c.ttft_ms = (self.first - self.started) * 1000 if self.first is not None else None

    def finish(self, row: dict[str, Any]) -> None:
        """Show the call's final row: full text or error, latency, TTFT, tokens, cost."""
        self.finished = True
        self.flush()
        c = self.column
        with c.hold_trait_notifications():
            c.text = row.get("response") or c.text
            c.error = "" if row["ok"] else f"{row.get('error_type')}: {row.get('error')}"
            c.latency_ms, c.ttft_ms = _num(row.get("latency_ms")), _num(row.get("ttft_ms"))
            c.tokens = row.get("completion_tokens")
            c.tokens_per_s, c.cost_usd = _num(row.get("tokens_per_s")), _num(row.get("cost_usd"))
            c.tool_calls = tool_call_lines(row.get("tool_calls"))
            c.parsed = _pretty(row.get("parsed"))
            c.phase = "done" if row["ok"] else "error"

    def cancelled(self) -> None:
        """Mark the column cancelled unless its call had finished."""
        if self.finished:
            return
        if self.started:
            self.flush()
        self.column.phase = "cancelled"


async def tick(lives: list[Live]) -> None:
    """Copy every streaming column's buffer into its state, every `TICK` seconds, until cancelled."""
    while True:
        await asyncio.sleep(TICK)
        for live in lives:
            if live.started and not live.finished:
                live.flush()


def _pretty(parsed: Any) -> str:
    """A row's parsed JSON column, indented for reading ('' when there is none)."""
    if not isinstance(parsed, str) or parsed in ("", "null"):
        return ""
    return json.dumps(json.loads(parsed), indent=2, ensure_ascii=False)


def _num(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


class Tap:
    """A manager stand-in for `call_once` whose streams report each delta as it arrives."""

    def __init__(self, manager: ProviderManager, on_delta: Callable[[str], None]) -> None:
        self._manager, self._on_delta = manager, on_delta

    def stream(self, *args: Any, **kwargs: Any) -> _TapStream:
        return _TapStream(self._manager.stream(*args, **kwargs), self._on_delta)

    async def chat(self, *args: Any, **kwargs: Any) -> Any:
        return await self._manager.chat(*args, **kwargs)


class _TapStream:
    def __init__(self, inner: Any, on_delta: Any) -> None:
        self._inner, self._on_delta = inner, on_delta

    async def get_response(self) -> Any:
        try:
            async for delta in self._inner:
                self._on_delta(delta)
        except asyncio.CancelledError:
            await self._inner.aclose()  # Cancel: release the connection now
            raise
        return self._inner.response
