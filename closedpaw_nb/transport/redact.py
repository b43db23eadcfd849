"""Secret redaction: one registry of live key values and the text scrubber built on it.

Every `Secret` registers its value here, so `redact()` can remove it from any text
literally, whatever shape the key has. Key-shaped strings and `key=`-style query
parameters are scrubbed too, as a second line of defence for keys we never saw
(e.g. a provider echoing a key in an error body).

`SecretFilter` applies the same scrub to log records; it is installed on our own
loggers and on httpx/httpcore, which log full request URLs and headers at DEBUG/INFO.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

MASK = "***"

_lock = threading.Lock()
_known: set[str] = set()
# Keys shorter than this are too likely to collide with ordinary words to scrub literally.
_MIN_LITERAL = 6

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
        r"(?i)((?:authorization|x-api-key|x-goog-api-key|api-key)['\"]?\s*[:=]\s*['\"]?)"
        r"(?:bearer\s+)?[^\s'\",}]+"
    ),
]


def register_secret(value: str) -> None:
    """Remember a secret value so that `redact()` removes it from any text."""
    if value and len(value) >= _MIN_LITERAL:
        with _lock:
            _known.add(value)


def redact(text: Any) -> str:
    """`text` as a string with every known secret and key-shaped token masked."""
    out = str(text)
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in out:
            out = out.replace(value, MASK)
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

    httpx passes `httpx.URL` objects as `record.args`, so the args are rewritten too,
    not only `msg`; exception text attached to the record is scrubbed as well.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = redact(record.getMessage())
            record.args = None
        else:
            record.msg = redact(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


# A logger's filters see only records created on that exact logger, not its children's,
# so each logger that may carry a URL or header is named here.
_FILTERED_LOGGERS = (
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
