"""The plain parts of an HTTP exchange, shared by the client and the layers above it: the
limits, the fully read response, the request path rules and the JSON body encoding.

No aiohttp here (only `client` imports it); yarl, its URL type, builds the request URL.
JSON goes through orjson: a chat call encodes one body and decodes one answer (or one
document per stream event), and orjson does each in a fifth to a tenth of the standard
library's time (`python -m benchmarks.instructions`: 59k fewer instructions per call).
"""

from __future__ import annotations

import functools
import json as jsonlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
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
    "decode_json",
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


@dataclass(slots=True)
class HTTPResponse:
    """A fully read response."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    elapsed_ms: float

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        return decode_json(self.content)

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
    """Compact UTF-8 JSON. NaN and infinities (not JSON) go as null, as orjson writes them;
    what orjson refuses (an int past 64 bits, a non-str key) goes the standard library's way.

    Raises:
        TypeError: a value JSON cannot carry.
    """
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return jsonlib.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def decode_json(data: bytes | str) -> Any:
    """A JSON document (bytes or str); what orjson refuses but the standard library reads
    (NaN, an int past 64 bits) is read the standard library's way.

    Raises:
        ValueError: it is not JSON.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return jsonlib.loads(data)
