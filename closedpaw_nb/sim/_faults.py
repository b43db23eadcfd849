"""Scriptable faults: what they are, which request they hit, and how they are played.

Faults wait in a FIFO queue. Each request takes the first fault that matches it, and that
fault's ``times`` count goes down by one, so ``add_fault(Fault("status", status=429))`` followed
by a normal request scripts "429 then 200".
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from ._asgi import (
    Receive,
    Send,
    body,
    drop_connection,
    start,
    until_disconnect,
    wait_closing,
)
from ._protocol import Call, Reply, WireProtocol

__all__ = ["Fault", "FaultKind", "FaultQueue", "play_fault"]

FaultKind = Literal["status", "hang", "reset", "cut_stream", "stream_error", "malformed", "slow_drip", "redirect"]
KINDS = ("status", "hang", "reset", "cut_stream", "stream_error", "malformed", "slow_drip", "redirect")
PROVIDERS = ("openai", "anthropic", "google", "mistral", "ollama")
_ALIASES = {"custom": "openai", "gemini": "google"}
_STREAM_ONLY = ("cut_stream", "stream_error")
_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour for the next matching request(s).

    Scope (None matches anything): ``provider`` is a mount name (``openai``, ``anthropic``,
    ``google``, ``mistral``, ``ollama``; ``custom`` means ``openai``), ``model`` a model name,
    ``endpoint`` one of ``chat``, ``models``, ``meta``. ``times`` is how many requests the fault
    hits (None: every one until cleared).

    Kinds:
        status: reply ``status`` (default 500) in the provider's own error shape; ``message``
            and ``code`` override the text and the error type/code (e.g. OpenAI
            ``code="insufficient_quota"``, Anthropic ``code="overloaded_error"``); for Gemini,
            ``retry_delay="13s"`` adds ``RetryInfo`` and ``quota="day"|"minute"`` a ``QuotaFailure``.
        hang: read the request and never send headers, until the client leaves or the server stops.
        reset: drop the connection with a TCP reset before any headers.
        cut_stream: send ``after`` deltas, then close the connection without the terminator.
        stream_error: send ``after`` deltas, then the provider's in-stream error event for
            ``status`` (default 529, ``overloaded_error``, on Anthropic; else 500).
            Both only match streaming requests. With fewer deltas than ``after``, the break
            comes just before the terminator (Gemini has none: its stream then ends normally).
        malformed: ``variant="truncated"`` (200, the real body cut in half), ``"not_json"``
            (200, plain text), or ``"html"`` (an nginx 502 page); ``body`` replaces the text.
        slow_drip: the normal response, written ``chunk_size`` bytes at a time with
            ``delay_ms`` between writes (streams are not paced, only dripped).
        redirect: ``status`` (default 307) with ``Location: location``.

    ``headers`` are added to the response (e.g. ``{"retry-after": "2"}``, ``retry-after-ms``,
    ``x-should-retry``).
    """

    kind: FaultKind
    provider: str | None = None
    model: str | None = None
    endpoint: str | None = None
    times: int | None = 1
    status: int | None = None
    message: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_delay: str | None = None
    quota: str | None = None
    after: int = 3
    variant: str = "truncated"
    body: str | bytes | None = None
    chunk_size: int = 8
    delay_ms: float = 20.0
    location: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {KINDS}")
        provider = _ALIASES.get(self.provider or "", self.provider)
        if provider is not None and provider not in PROVIDERS:
            raise ValueError(f"unknown provider {self.provider!r}; expected one of {PROVIDERS}")
        object.__setattr__(self, "provider", provider)
        if self.kind == "redirect" and not self.location:
            raise ValueError("a redirect fault needs a location")
        if self.variant not in ("truncated", "not_json", "html"):
            raise ValueError(f"unknown malformed variant {self.variant!r}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1 (or None for always)")

    def matches(self, call: Call) -> bool:
        """Whether this fault applies to ``call``."""
        if self.kind in _STREAM_ONLY and not call.streaming:
            return False
        model = call.model or ""
        return (
            self.provider in (None, call.provider)
            and self.endpoint in (None, call.endpoint)
            and self.model in (None, model, model.split(":")[0])
        )

    @property
    def replaces_response(self) -> bool:
        """True for faults played instead of the normal handling (before auth)."""
        if self.kind == "malformed":
            return self.variant != "truncated"
        return self.kind in ("status", "hang", "reset", "redirect")


class FaultQueue:
    """Thread-safe FIFO of faults (tests add them from another thread than the server's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[list[Any]] = []

    def add(self, fault: Fault) -> None:
        """Append ``fault``."""
        with self._lock:
            self._items.append([fault, fault.times])

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._items.clear()

    def pending(self) -> list[Fault]:
        """Faults not used up yet, in order."""
        with self._lock:
            return [fault for fault, _ in self._items]

    def take(self, call: Call) -> Fault | None:
        """The first fault matching ``call``, counting one use of it."""
        with self._lock:
            for item in self._items:
                fault: Fault = item[0]
                left = item[1]
                if not fault.matches(call):
                    continue
                if left is not None:
                    item[1] = left - 1
                    if item[1] <= 0:
                        self._items.remove(item)
                return fault
        return None


def fault_reply(fault: Fault, call: Call, proto: WireProtocol) -> Reply:
    """The reply of a ``status``, ``redirect`` or non-truncating ``malformed`` fault."""
    if fault.kind == "status":
        return proto.fault_error(call, fault)
    if fault.kind == "redirect":
        return Reply(fault.status or 307, b"", {"location": fault.location or ""}, "text/plain")
    if fault.variant == "html":
        return Reply(fault.status or 502, fault.body or _HTML_502, media_type="text/html")
    return Reply(fault.status or 200, fault.body or "upstream said: this is not JSON", media_type="application/json")


async def play_fault(fault: Fault, reply: Reply | None, send: Send, receive: Receive, closing: threading.Event) -> None:
    """Play a response-replacing fault (``reply`` is its rendered body, if it has one)."""
    if fault.kind == "reset":
        drop_connection(receive, reset=True)
        await until_disconnect(receive)
    elif fault.kind == "hang":
        await _hang(receive, closing)
    elif reply is not None:
        data = reply.content()
        await start(send, reply.status, reply.headers, reply.media_type, len(data))
        await body(send, data, more=False)


async def _hang(receive: Receive, closing: threading.Event) -> None:
    gone = asyncio.ensure_future(until_disconnect(receive))
    stop = asyncio.ensure_future(wait_closing(closing))
    done, _ = await asyncio.wait({gone, stop}, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if gone not in done:
        # Server shutdown: end the connection rather than answer, as a dying server would.
        drop_connection(receive, reset=False)
        await gone


async def drip(send: Send, reply: Reply, data: bytes, fault: Fault) -> None:
    """Write ``data`` a few bytes at a time (fault ``slow_drip``)."""
    await start(send, reply.status, reply.headers, reply.media_type, len(data))
    size = max(fault.chunk_size, 1)
    for offset in range(0, len(data), size):
        if offset:
            await asyncio.sleep(fault.delay_ms / 1000.0)
        await body(send, data[offset : offset + size])
    await body(send, b"", more=False)
