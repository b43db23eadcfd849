"""`RateLimiter`: per-provider request (and optional token) limits, plus a pause gate.

Limits are sliding windows over the last 60 seconds, so "60 requests per minute" means
at most 60 request starts in *any* 60-second window (a token bucket would allow a
burst of 60 plus the refill). Waiters are served first come, first served, and a
cancelled waiter takes no capacity with it.

The pause gate is how a 429 protects everyone: when a provider says "retry after
N seconds", every task for that provider waits until then instead of each one
hitting the server to learn the same thing.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import ConfigError

__all__ = ["Clock", "MonotonicClock", "RateLimiter", "RequestTooLargeError"]

WINDOW = 60.0


class Clock(Protocol):
    """Time source; tests inject a fake one."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: `time.monotonic` (immune to wall-clock jumps) and `asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class RequestTooLargeError(ConfigError):
    """One request's estimated tokens exceed the whole per-minute token limit."""


@dataclass
class _Window:
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    starts: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)
    paused_until: float = 0.0
    lock: asyncio.Lock | None = None

    def expire(self, now: float) -> None:
        while self.starts and self.starts[0] <= now - WINDOW:
            self.starts.popleft()
        while self.tokens and self.tokens[0][0] <= now - WINDOW:
            self.tokens.popleft()

    def wait_time(self, now: float, cost: int) -> float:
        """Seconds until a request costing `cost` tokens may start (0: now)."""
        self.expire(now)
        waits = [self.paused_until - now]
        if self.requests_per_minute and len(self.starts) >= self.requests_per_minute:
            waits.append(self.starts[len(self.starts) - self.requests_per_minute] + WINDOW - now)
        if self.tokens_per_minute and cost:
            used = sum(c for _, c in self.tokens)
            excess = used + cost - self.tokens_per_minute
            for stamp, spent in self.tokens:
                if excess <= 0:
                    break
                excess -= spent
                waits.append(stamp + WINDOW - now)
        return max(waits)


class RateLimiter:
    """Sliding-window limits per key (a provider name), with a pause gate per key.

    Args:
        clock: Time source; defaults to the monotonic clock.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or MonotonicClock()
        self._windows: dict[str, _Window] = {}

    def configure(self, key: str, requests_per_minute: int | None = None, tokens_per_minute: int | None = None) -> None:
        """Set (or clear, with None) the limits for `key`."""
        window = self._window(key)
        window.requests_per_minute = requests_per_minute
        window.tokens_per_minute = tokens_per_minute

    def limits_tokens(self, key: str) -> bool:
        """Whether `key` has a tokens-per-minute limit (so calls need a token estimate)."""
        window = self._windows.get(key)
        return window is not None and bool(window.tokens_per_minute)

    def is_free(self, key: str) -> bool:
        """Whether a request for `key` may start now without counting against anything: no
        limits, no pause and nobody queued (`acquire` then returns at once; the guard asks
        first, to skip awaiting it)."""
        window = self._windows.get(key)
        if window is None:
            return True
        if window.requests_per_minute or window.tokens_per_minute or (window.lock and window.lock.locked()):
            return False
        return window.paused_until <= self.clock.monotonic()

    def check_limit(self, key: str, tokens: int = 0) -> bool:
        """The seed's non-waiting form: take a slot now if one is free, else return False."""
        window = self._window(key)
        now = self.clock.monotonic()
        if window.wait_time(now, tokens) > 0:
            return False
        self._record(window, now, tokens)
        return True

    async def acquire(self, key: str, tokens: int = 0) -> float:
        """Wait (first come, first served) until a request may start; returns seconds waited.

        Raises:
            RequestTooLargeError: `tokens` alone exceeds the per-minute token limit.
        """
        # No limit to count against: only the pause gate (and anyone already queued behind
        # it, to keep first come, first served) can hold this request. This path is taken on
        # every call of a benchmark sweep, so it takes no lock.
        if self.is_free(key):
            return 0.0
        window = self._window(key)
        if window.tokens_per_minute and tokens > window.tokens_per_minute:
            raise RequestTooLargeError(
                f"{key}: a request estimated at {tokens} tokens can never fit the limit of "
                f"{window.tokens_per_minute} tokens per minute; raise the limit or shorten the prompt"
            )
        if window.lock is None:
            window.lock = asyncio.Lock()
        started = self.clock.monotonic()
        # asyncio.Lock wakes waiters in FIFO order; a waiter cancelled while holding it
        # releases it via `async with` before recording anything, so no capacity leaks.
        async with window.lock:
            while (delay := window.wait_time(self.clock.monotonic(), tokens)) > 0:
                await self.clock.sleep(delay)
            self._record(window, self.clock.monotonic(), tokens)
        return self.clock.monotonic() - started

    def pause(self, key: str, seconds: float) -> None:
        """Hold every request for `key` for `seconds` (from a 429's server delay)."""
        window = self._window(key)
        window.paused_until = max(window.paused_until, self.clock.monotonic() + max(seconds, 0.0))

    def paused_for(self, key: str) -> float:
        """Seconds left on `key`'s pause gate."""
        return max(0.0, self._window(key).paused_until - self.clock.monotonic())

    def reconcile(self, key: str, estimated: int, actual: int) -> None:
        """Correct the most recent token estimate for `key` with the provider's usage count."""
        window = self._window(key)
        for i in range(len(window.tokens) - 1, -1, -1):
            stamp, cost = window.tokens[i]
            if cost == estimated:
                window.tokens[i] = (stamp, actual)
                return

    def _window(self, key: str) -> _Window:
        window = self._windows.get(key)
        if window is None:  # not setdefault: that would build a _Window on every call
            window = self._windows[key] = _Window()
        return window

    @staticmethod
    def _record(window: _Window, now: float, tokens: int) -> None:
        window.starts.append(now)
        if tokens and window.tokens_per_minute:
            window.tokens.append((now, tokens))
