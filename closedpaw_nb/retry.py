"""`RetryPolicy`: the one retry rule of the library, and the Retry-After parser.

The policy follows the official OpenAI/Anthropic SDKs: 2 retries by default; retry
connection errors, timeouts, 408, 409, 429 and 5xx (Anthropic's 529 included); obey
`x-should-retry`; honour `retry-after-ms`, then `retry-after` (seconds or an HTTP
date), then Gemini's `RetryInfo.retryDelay`; otherwise back off
`min(0.5 * 2**n, 8) * U(0.75, 1]`. A server delay above the cap is not waited out:
the RateLimitError is raised with its `retry_after` so the caller can decide.

Providers never retry on their own; `GuardedProvider` (wrappers.py) applies this.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from .errors import ConfigError, ProviderError

__all__ = ["IDEMPOTENCY_KEY", "RetryPolicy", "parse_retry_after"]

# Set by GuardedProvider for the whole of one logical call, so that every retry of it
# sends the same Idempotency-Key header.
IDEMPOTENCY_KEY: ContextVar[str | None] = ContextVar("closedpaw_idempotency_key", default=None)


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait, or None when it gave no usable hint.

    `retry-after-ms` wins over `retry-after`; a date in the past, zero, a negative or
    unparseable value all mean "no hint". Never raises.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = _number(lowered.get("retry-after-ms"))
    if ms is not None and ms > 0:
        return ms / 1000
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is None:
        seconds = _seconds_until(raw, now or datetime.now(timezone.utc))
    return seconds if seconds is not None and seconds > 0 else None


def _number(raw: str | None) -> float | None:
    try:
        value = float(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _seconds_until(raw: str, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - now).total_seconds()


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a failed call again.

    Attributes:
        max_retries: Retries after the first attempt (0 turns retrying off).
        initial_delay: First backoff step in seconds.
        max_delay: Largest backoff step in seconds.
        max_server_delay: Largest server-requested delay we wait out; above it the
            error is raised with `retry_after` instead.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_server_delay: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(f"max_retries must be a whole number >= 0, got {self.max_retries!r}")
        if self.initial_delay < 0 or self.max_delay < 0 or self.max_server_delay < 0:
            raise ConfigError("retry delays must be >= 0 seconds")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> RetryPolicy:
        """Build from `ProviderConfig.settings` keys: max_retries, retry_initial_delay,
        retry_max_delay, retry_max_server_delay; `retries: False` turns retrying off."""
        if settings.get("retries") is False:
            return cls(max_retries=0)
        defaults = cls()
        try:
            return cls(
                max_retries=int(settings.get("max_retries", defaults.max_retries)),
                initial_delay=float(settings.get("retry_initial_delay", defaults.initial_delay)),
                max_delay=float(settings.get("retry_max_delay", defaults.max_delay)),
                max_server_delay=float(settings.get("retry_max_server_delay", defaults.max_server_delay)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad retry setting: {exc}; retry settings take numbers of seconds/retries") from None

    def should_retry(self, error: ProviderError, retries_done: int) -> bool:
        """Whether to try again after `error`, given how many retries were already made."""
        if retries_done >= self.max_retries or not error.retryable:
            return False
        return error.retry_after is None or error.retry_after <= self.max_server_delay

    def backoff(self, retries_done: int, rng: random.Random | None = None) -> float:
        """The jittered exponential delay for retry number `retries_done` (0-based)."""
        base = min(self.initial_delay * 2**retries_done, self.max_delay)
        jitter = 1 - 0.25 * (rng or random).random()
        return base * jitter

    def delay(self, error: ProviderError, retries_done: int, rng: random.Random | None = None) -> float:
        """The server's delay when it gave a usable one, else the backoff."""
        if error.retry_after is not None and 0 < error.retry_after <= self.max_server_delay:
            return error.retry_after
        return self.backoff(retries_done, rng)
