"""What the simulator's five wire protocols share: the :class:`WireProtocol` base class and
the neutral request/reply types it works in.

A protocol module turns a provider's request into a :class:`ParsedChat`, and turns a
:class:`~closedpaw_nb.sim._text.Generation` back into that provider's JSON or stream frames.
HTTP plumbing, pacing and faults live in ``_app``, ``_respond``, ``_asgi`` and ``_faults``.
(Not to be confused with ``closedpaw_nb.providers._wire``, the clients' request/response loop.)
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ._text import Generation

if TYPE_CHECKING:
    from ._faults import Fault

__all__ = ["Call", "Frame", "ParsedChat", "Reply", "RouteSpec", "WireProtocol", "key_problem", "sse", "text_of"]

#: Fixed creation time for listed models (2025-01-01T00:00:00Z), so lists are stable.
MODEL_CREATED = 1735689600


@dataclass
class Call:
    """One incoming request, as every layer of the simulator sees it."""

    provider: str
    method: str
    path: str
    query: str
    params: dict[str, str]
    path_params: dict[str, str]
    headers: dict[str, str]
    body: Any
    started: float
    catalog: tuple[str, ...]
    requires_key: bool = True
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    endpoint: str = "meta"
    model: str | None = None
    streaming: bool = False
    #: (time to first token, gap between tokens) in seconds, after ``time_scale``.
    pace: tuple[float, float] = (0.0, 0.0)

    def bearer(self) -> str | None:
        """The token of an ``Authorization: Bearer`` header, or None."""
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None


@dataclass(frozen=True)
class ParsedChat:
    """A chat request in neutral terms, after a protocol parsed its own field names."""

    model: str
    prompt: str
    prompt_tokens: int
    temperature: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    stream: bool = False
    # Structured output, tools and images (issue 18), in neutral terms:
    tools: tuple[dict[str, Any], ...] = ()  # {"name", "description", "parameters": JSON schema}
    tool_choice: str | None = None  # "auto" | "none" | "required" | a tool name; None: the API's default
    schema: dict[str, Any] | None = None  # a JSON schema the answer must follow
    json_mode: bool = False  # any JSON object (no schema)
    images: int = 0  # images in the request's messages
    tool_results: tuple[str, ...] = ()  # contents of tool results sent back, in order
    include_usage: bool = True  # whether a stream ends with usage (OpenAI: stream_options.include_usage)


@dataclass
class Reply:
    """A complete (non-streamed) HTTP reply: JSON when ``body`` is a dict or list."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json"

    def content(self) -> bytes:
        """The encoded body."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Frame:
    """One piece of a streamed body. ``kind`` is ``"head"``, ``"token"`` or ``"tail"``."""

    data: bytes
    kind: str = "token"


@dataclass(frozen=True)
class RouteSpec:
    """A route a protocol serves, relative to its mount point."""

    path: str
    methods: tuple[str, ...]
    handler: Callable[[Call], Any]
    endpoint: str
    auth: bool = True


def sse(data: Any, event: str | None = None, end: str = "\n\n") -> bytes:
    """Encode one server-sent event (``data`` is JSON-encoded unless it is a str)."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}{end}".encode()


def text_of(content: Any) -> str:
    """Plain text of a message content: a string or a list of text parts/blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(text_of(part) for part in content)
    if isinstance(content, dict):
        return str(content.get("text") or "")
    return ""


def key_problem(key: str | None) -> str | None:
    """``"missing"`` or ``"invalid"`` (a key starting with ``invalid``), else None."""
    if not key:
        return "missing"
    return "invalid" if key.startswith("invalid") else None


def now() -> int:
    """Unix seconds, for ``created`` fields."""
    return int(time.time())


class WireProtocol:
    """Base class of the five wire protocols; subclasses translate only at their edges."""

    name: ClassVar[str] = ""
    stream_media_type: ClassVar[str] = "text/event-stream"

    def routes(self) -> list[RouteSpec]:
        """The routes under this protocol's mount."""
        raise NotImplementedError

    def inspect(self, call: Call) -> None:
        """Fill ``call.model`` and ``call.streaming`` (used by fault matching)."""
        body = call.body if isinstance(call.body, dict) else {}
        model = call.path_params.get("model") or body.get("model")
        call.model = model if isinstance(model, str) else None
        call.streaming = call.endpoint == "chat" and body.get("stream") is True

    def authenticate(self, call: Call) -> Reply | None:
        """Return the provider's auth error for a missing or ``invalid...`` key, else None."""
        raise NotImplementedError

    def headers(self, call: Call) -> dict[str, str]:
        """Per-response headers such as request ids."""
        return {}

    def error(self, call: Call, status: int, message: str | None = None, code: str | None = None) -> Reply:
        """This provider's error body for ``status``; ``code`` overrides its error type/code."""
        raise NotImplementedError

    def not_found(self, call: Call, model: str) -> Reply:
        """This provider's model-not-found reply."""
        raise NotImplementedError

    def fault_error(self, call: Call, fault: Fault) -> Reply:
        """The error reply a ``status`` fault renders (extended by protocols with extra details)."""
        return self.error(call, fault.status or 500, fault.message, fault.code)

    def render(self, call: Call, req: ParsedChat, gen: Generation) -> Reply:
        """The non-streamed chat reply."""
        raise NotImplementedError

    def frames(self, call: Call, req: ParsedChat, gen: Generation) -> Iterator[Frame]:
        """The streamed chat reply, one token frame per generated token."""
        raise NotImplementedError

    def stream_error(self, call: Call, status: int, message: str | None = None) -> bytes:
        """The in-stream error event sent after a 200 (fault ``stream_error``)."""
        raise NotImplementedError

    def media_type(self, call: Call) -> str:
        """Content type of a streamed reply to ``call``."""
        return self.stream_media_type
