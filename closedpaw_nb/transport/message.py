"""The plain parts of an HTTP exchange, shared by the client and the layers above it: the
limits, the fully read response, the request path rules and the JSON body encoding.

No aiohttp here (only `client` imports it); yarl, its URL type, builds the request URL.
"""

from __future__ import annotations

import functools
import json as jsonlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yarl import URL

from ..errors import ConfigError

__all__ = [
    "CONNECT_TIMEOUT",
    "MAX_BODY_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_FIELDS",
    "MAX_REDIRECTS",
    "MAX_STREAM_BYTES",
    "POOL_LIMIT",
    "PROBE_TIMEOUT",
    "HTTPResponse",
    "default_total_timeout",
    "encode_json",
    "joined_url",
]

CONNECT_TIMEOUT = 5.0
PROBE_TIMEOUT = 10.0
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_STREAM_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_FIELDS = 100
MAX_REDIRECTS = 5
# Keep as many connections alive as a 64-256-way benchmark keeps busy.
POOL_LIMIT = 256


def default_total_timeout(read_timeout: float) -> float:
    """The default limit on one exchange's total time: twice the read-idle timeout, at least 60 s."""
    return max(60.0, 2 * read_timeout)


@dataclass
class HTTPResponse:
    """A fully read response."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    elapsed_ms: float

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


_SAFE_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")
_SAFE_QUERY = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*")
_DOT_SEGMENT = re.compile(r"(?:^|/)(?:\.|%2e){1,2}(?:/|$)", re.IGNORECASE)


@functools.lru_cache(maxsize=256)  # bounded: a sweep over many models cannot grow it
def joined_url(prefix: str, path: str) -> URL:
    """`path` under the base URL's path; the last check that nothing can leave it (providers
    encode what they put in a path): no dot segment, no raw space or CR/LF."""
    route, _, query_text = path.partition("?")
    if not _SAFE_PATH.fullmatch(route) or _DOT_SEGMENT.search(route) or not _SAFE_QUERY.fullmatch(query_text):
        raise ConfigError("request path has characters or dot segments a provider path may not carry")
    return URL(prefix + path, encoded=True)


def encode_json(value: Any) -> bytes:
    # Compact, UTF-8, and NaN refused (it is not JSON).
    return jsonlib.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
