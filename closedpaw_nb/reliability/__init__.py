"""Reliability: the retry policy, the rate limiter with its pause gate, and the guard
(`GuardedProvider`) that the manager wraps around every provider, built-in or custom."""

from .guard import GuardedProvider
from .ratelimit import RateLimiter
from .retry import RetryPolicy

__all__ = ["GuardedProvider", "RateLimiter", "RetryPolicy"]
