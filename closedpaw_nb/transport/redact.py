"""Secret redaction: one registry of live key values and the text scrubber built on it.

Every `Secret` registers its value here, so `redact()` can remove it from any text
literally, whatever shape the key has. Key-shaped strings and `key=`-style query
parameters are scrubbed too, as a second line of defence for keys we never saw
(e.g. a provider echoing a key in an error body).

`SecretFilter` applies the same scrub to log records; it is installed on our own
loggers, on aiohttp's and httpx/httpcore's (which log request URLs and headers at
DEBUG/INFO), and on uvicorn's.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

MASK = "***"

_lock = threading.Lock()
_known: set[str] = set()
# Keys shorter than this could be part of ordinary words: they are masked wherever they
# stand alone (not inside a longer run of letters and digits), longer ones everywhere.
_MIN_LITERAL = 6
_short: re.Pattern[str] | None = None
_short_values: set[str] = set()
_CREDENTIAL_NAME = re.compile(r"(?i)(auth|key|token|secret|password|passwd|credential|signature|cookie|session)")

_PATTERNS = [
    re.compile(r"sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{12,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*"),
    re.compile(
        # Any parameter whose name ends like a credential: key, api_key, openai_api_key,
        # x-api-key, id_token, client_secret, password, sig, credentials, auth...
        r"(?i)([?&][\w.-]*(?:key|token|secret|password|passwd|sig|signature|credentials?|auth)=)[^&#\s'\"]+"
    ),
    re.compile(
        # `(?:bearer\s+)?+` is possessive so that a placeholder (`Bearer <token>`, as in
        # documentation and our own 401 message) is never taken for the value.
        r"(?i)((?:authorization|x-api-key|x-goog-api-key|api-key)['\"]?\s*[:=]\s*['\"]?)"
        r"(?:bearer\s+)?+(?!<)[^\s'\",}]+"
    ),
]


def credential_header(name: str) -> bool:
    """Whether a header's name says it carries a credential (Authorization, X-Api-Key, Cookie...)."""
    return bool(_CREDENTIAL_NAME.search(name))


def register_secret(value: str) -> None:
    """Remember a secret value so that `redact()` removes it from any text, whatever its
    length, as written and in its JSON-escaped and percent-encoded forms."""
    global _short
    if not value:
        return
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], quote(value, safe="")}
    with _lock:
        for form in forms:
            if len(form) >= _MIN_LITERAL:
                _known.add(form)
            elif form not in _short_values:
                _short_values.add(form)
                alternatives = "|".join(re.escape(v) for v in sorted(_short_values, key=len, reverse=True))
                _short = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")


def redact(text: Any) -> str:
    """`text` as a string with every known secret and key-shaped token masked."""
    out = str(text)
    with _lock:
        known = sorted(_known, key=len, reverse=True)
        short = _short
    for value in known:
        if value in out:
            out = out.replace(value, MASK)
    if short is not None:
        out = short.sub(MASK, out)
    for pattern in _PATTERNS:
        out = pattern.sub(_keep_prefix, out)
    return out


def _keep_prefix(match: re.Match[str]) -> str:
    # Patterns with a group keep their label ("Bearer ", "?key=") and mask only the value.
    if match.groups():
        return match.group(1) + (" " if match.group(1).lower() == "bearer" else "") + MASK
    return MASK


class SecretFilter(logging.Filter):
    """A logging filter that scrubs secrets from the message and its arguments.

    The record keeps its shape: `args` stays a tuple (or mapping) of the same length, and
    an argument whose text needs no scrubbing is left as it is, so formatters that read
    `record.args` (uvicorn's access log unpacks five of them and formats the status as a
    number) still work. An argument that carries a secret (httpx passes `httpx.URL`
    objects) is replaced by its scrubbed text. Exception text is scrubbed as well.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_scrubbed(arg) for arg in args)
        elif isinstance(args, Mapping):
            record.args = {key: _scrubbed(value) for key, value in args.items()}
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _scrubbed(value: Any) -> Any:
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    text = str(value)
    clean = redact(text)
    return value if clean == text else clean


# A logger's filters see only records created on that exact logger, not its children's,
# so each logger that may carry a URL or header is named here.
_FILTERED_LOGGERS = (
    "aiohttp.client",
    "aiohttp.internal",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "uvicorn.access",
    "uvicorn.error",
)
_filter = SecretFilter()


def get_logger(name: str) -> logging.Logger:
    """A logger of ours with the secret filter attached."""
    logger = logging.getLogger(name)
    if _filter not in logger.filters:
        logger.addFilter(_filter)
    return logger


def install_log_filters() -> None:
    """Attach the secret filter to the HTTP stack's loggers (idempotent)."""
    for name in _FILTERED_LOGGERS:
        get_logger(name)
