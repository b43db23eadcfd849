"""HTTP headers read and checked the same way everywhere: Retry-After in responses, and the
request headers a user may set (extra_headers, in the library and over the HTTP API).

Pure functions, no I/O.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from ..errors import ConfigError

__all__ = ["FORBIDDEN_REQUEST_HEADERS", "check_request_headers", "forbidden_header_problem", "parse_retry_after"]

# Headers that frame the message or belong to one hop: the client sets them itself. A
# user-set Host, Content-Length or Transfer-Encoding would send conflicting framing (request
# smuggling through any proxy on the way) or reach another virtual host.
FORBIDDEN_REQUEST_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade", "expect"}
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def forbidden_header_problem(name: str) -> str | None:
    """Why a request header may not be set by a user, or None when it may."""
    lowered = name.strip().lower()
    if lowered in FORBIDDEN_REQUEST_HEADERS or lowered.startswith("proxy-"):
        return (
            f"header {name[:40]!r} cannot be set: framing and hop-by-hop headers (Host, Content-Length, "
            "Transfer-Encoding, Connection, Keep-Alive, TE, Trailer, Upgrade, Expect, Proxy-*) are the "
            "HTTP client's to send"
        )
    return None


def check_request_headers(
    headers: Mapping[str, str], *, where: str, error: type[Exception] | None = None
) -> dict[str, str]:
    """`headers` as a plain dict of str, or `error` (default ConfigError) naming, never
    showing, the first header that is not a token, carries a control character or a
    character outside Latin-1, or is one a user may not set."""
    fail = error or ConfigError
    checked: dict[str, str] = {}
    for raw_name, raw_value in headers.items():
        name, value = str(raw_name), str(raw_value)
        problem = _name_problem(name)
        if problem:
            raise fail(f"{where}: {problem}")
        if _BAD_VALUE.search(value) or not _latin1(value):
            raise fail(
                f"{where}: header {name[:40]!r} has characters HTTP cannot carry (control characters or "
                "non-Latin-1); check the API key or extra_headers for pasted-in characters"
            )
        checked[name] = value
    return checked


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
        seconds = _seconds_until(raw, now or datetime.now(UTC))
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
        when = when.replace(tzinfo=UTC)
    return (when - now).total_seconds()


@functools.lru_cache(maxsize=256)  # names repeat on every call (Idempotency-Key...); bounded
def _name_problem(name: str) -> str | None:
    problem = forbidden_header_problem(name)
    if problem is None and not _TOKEN.fullmatch(name):
        problem = f"header name {name[:40]!r} is not a valid HTTP header name"
    return problem


def _latin1(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
