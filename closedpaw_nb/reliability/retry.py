"""`RetryPolicy`: the one retry rule of the library (Retry-After is read by `transport.headers`).

The policy follows the official OpenAI/Anthropic SDKs: 2 retries by default; retry
connection errors, timeouts, 408, 409, 429 and 5xx (Anthropic's 529 included); obey
`x-should-retry`; honour `retry-after-ms`, then `retry-after` (seconds or an HTTP
date), then Gemini's `RetryInfo.retryDelay`; otherwise back off
`min(0.5 * 2**n, 8) * U(0.75, 1]`. A server delay above the cap is not waited out:
the RateLimitError is raised with its `retry_after` so the caller can decide.

Providers never retry on their own; `GuardedProvider` (reliability/guard.py) applies this.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, ProviderError
from ..transport.headers import parse_retry_after

__all__ = ["RetryPolicy", "parse_retry_after"]


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
        base: float = min(self.initial_delay * 2**retries_done, self.max_delay)  # int ** int is typed Any
        jitter = 1 - 0.25 * (rng or random).random()
        return base * jitter

    def delay(self, error: ProviderError, retries_done: int, rng: random.Random | None = None) -> float:
        """The server's delay when it gave a usable one, else the backoff."""
        if error.retry_after is not None and 0 < error.retry_after <= self.max_server_delay:
            return error.retry_after
        return self.backoff(retries_done, rng)
