"""The ASGI responses the app returns: complete replies, paced chat answers, played faults."""

from __future__ import annotations

import threading
from typing import Any

from . import _asgi
from ._asgi import Receive, Send
from ._faults import Fault, drip, play_fault
from ._protocol import Call, ParsedChat, Reply, WireProtocol
from ._text import Generation, Pacer

__all__ = ["FaultResponse", "GenerationResponse", "ReplyResponse", "add_headers"]


def add_headers(reply: Reply, call: Call, proto: WireProtocol, fault: Fault | None = None) -> Reply:
    """Add the protocol's per-response headers (request ids) and the fault's extra headers."""
    reply.headers = {**proto.headers(call), **reply.headers, **(fault.headers if fault else {})}
    return reply


class ReplyResponse:
    """A complete reply, possibly truncated (``malformed``) or dripped (``slow_drip``)."""

    def __init__(self, reply: Reply, fault: Fault | None) -> None:
        self.reply, self.fault = reply, fault

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        await send_reply(send, self.reply, self.fault)


async def send_reply(send: Send, reply: Reply, fault: Fault | None) -> None:
    """Write ``reply`` whole, or half of it (``malformed``), or slowly (``slow_drip``)."""
    data = reply.content()
    if fault is not None and fault.kind == "malformed":
        data = data[: len(data) // 2]
    if fault is not None and fault.kind == "slow_drip":
        await drip(send, reply, data, fault)
        return
    await _asgi.start(send, reply.status, reply.headers, reply.media_type, len(data))
    await _asgi.body(send, data, more=False)


class FaultResponse:
    """A fault played instead of the normal answer (``reply`` is its rendered body, if any)."""

    def __init__(self, fault: Fault, reply: Reply | None, closing: threading.Event) -> None:
        self.fault, self.reply, self.closing = fault, reply, closing

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        await play_fault(self.fault, self.reply, send, receive, self.closing)


class GenerationResponse:
    """A chat answer (a :class:`Generation`) written in ``proto``'s format at the model's pace."""

    def __init__(
        self, proto: WireProtocol, call: Call, req: ParsedChat, gen: Generation, pacer: Pacer, fault: Fault | None
    ) -> None:
        self.proto, self.call, self.req, self.gen, self.pacer, self.fault = proto, call, req, gen, pacer, fault
        # Deltas to send before a cut_stream/stream_error fault breaks the stream.
        breaks = fault is not None and fault.kind in ("cut_stream", "stream_error")
        self.break_after = fault.after if breaks and fault is not None else None

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if self.fault is not None and self.fault.kind in ("malformed", "slow_drip"):
            await send_reply(send, self._whole(), self.fault)
        elif self.req.stream:
            await _asgi.race(self._stream(send, receive), receive)
        else:
            await _asgi.race(self._single(send), receive)

    def _whole(self) -> Reply:
        if not self.req.stream:
            return add_headers(self.proto.render(self.call, self.req, self.gen), self.call, self.proto, self.fault)
        data = b"".join(f.data for f in self.proto.frames(self.call, self.req, self.gen))
        reply = Reply(200, data, media_type=self.proto.media_type(self.call))
        return add_headers(reply, self.call, self.proto, self.fault)

    async def _single(self, send: Send) -> None:
        await self.pacer.wait_total(self.gen.completion_tokens)
        reply = add_headers(self.proto.render(self.call, self.req, self.gen), self.call, self.proto, self.fault)
        await send_reply(send, reply, None)

    async def _stream(self, send: Send, receive: Receive) -> bool:
        headers = add_headers(Reply(200, b""), self.call, self.proto, self.fault).headers
        await _asgi.start(send, 200, headers | {"cache-control": "no-cache"}, self.proto.media_type(self.call))
        index = 0
        for frame in self.proto.frames(self.call, self.req, self.gen):
            if self.break_after is not None and frame.kind != "head" and index >= self.break_after:
                return await self._break(send, receive)
            if frame.kind == "token":
                await self.pacer.wait(index)
                index += 1
            await _asgi.body(send, frame.data)
        await _asgi.body(send, b"", more=False)
        return False

    async def _break(self, send: Send, receive: Receive) -> bool:
        assert self.fault is not None
        if self.fault.kind == "cut_stream":
            return _asgi.drop_connection(receive, reset=False)
        status = self.fault.status or (529 if self.proto.name == "anthropic" else 500)
        await _asgi.body(send, self.proto.stream_error(self.call, status, self.fault.message))
        await _asgi.body(send, b"", more=False)
        return False
