"""A fast OpenAI-compatible stub server for the performance suite.

Run as its own process (`python -m benchmarks.stub`), so that client and server never
share a GIL. It is a raw asyncio protocol server: no framework, no JSON parsing of
requests, responses pre-encoded once per mode, so that its cost per request is a small
fraction of any client's (the suite checks the headroom from the server's own CPU time).

The first path segment picks the behaviour, so one server can play many endpoints:

- `/fast/...`           answers at once.
- `/d50/...`            answers after 50 ms (any number of ms).
- `/g4-200-20-64/...`   streams a role-only frame at once, the first content at 200 ms,
                        then one delta every 20 ms (64 in all), then finish + usage,
                        paced against an absolute schedule from the request's arrival.
- `GET /_stats`         requests served, the server's CPU seconds, schedule lateness.

Any further segments are free (e.g. `/d50-a/v1`), so four "providers" can share a port.
The server listens on 127.0.0.1 only and exits by itself when its parent dies or after
`--max-seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

__all__ = ["Mode", "StubProtocol", "main", "parse_mode"]

MODEL = "stub-model"
CONTENT = "Hello from the stub server."
USAGE = {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}
STREAM_FLAG = re.compile(rb'"stream"\s*:\s*true')
MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Mode:
    """What one endpoint does: a fixed delay, or a paced stream schedule (seconds)."""

    delay: float = 0.0
    ttft: float | None = None
    itl: float = 0.0
    deltas: int = 8


@lru_cache(maxsize=256)
def parse_mode(segment: str) -> Mode:
    """The Mode named by a path's first segment (`fast`, `d50`, `g4-200-20-64`; `-suffix` ignored)."""
    if segment.startswith("g4-"):
        ttft, itl, deltas = (int(x) for x in segment.split("-")[1:4])
        return Mode(ttft=ttft / 1000, itl=itl / 1000, deltas=deltas)
    head = segment.split("-", 1)[0]
    if head.startswith("d") and head[1:].isdigit():
        return Mode(delay=int(head[1:]) / 1000)
    return Mode()


# -- pre-encoded bodies ------------------------------------------------------------------


def _chunk(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _frame(delta: dict, finish: str | None = None) -> dict:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


ROLE_FRAME = _chunk(_frame({"role": "assistant", "content": ""}))


@lru_cache(maxsize=4096)
def delta_frame(index: int) -> bytes:
    """The SSE frame carrying content delta number `index`."""
    return _chunk(_frame({"content": f"t{index} "}))


@lru_cache(maxsize=64)
def stream_tail(deltas: int) -> bytes:
    """Finish, usage (completion_tokens = the number of deltas) and [DONE]."""
    usage = {**USAGE, "completion_tokens": deltas, "total_tokens": USAGE["prompt_tokens"] + deltas}
    return _chunk(_frame({}, "stop")) + _chunk({**_frame({}), "choices": [], "usage": usage}) + b"data: [DONE]\n\n"


def _head(status: str, content_type: str, length: int | None) -> bytes:
    framing = f"content-length: {length}" if length is not None else "transfer-encoding: chunked"
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n{framing}\r\nx-request-id: req-stub\r\n\r\n"
    ).encode()


def _whole(status: str, content_type: str, body: bytes) -> bytes:
    return _head(status, content_type, len(body)) + body


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


CHAT_BODY = json.dumps(
    {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": CONTENT},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": USAGE,
    },
    separators=(",", ":"),
).encode()
CHAT_RESPONSE = _whole("200 OK", "application/json", CHAT_BODY)
MODELS_RESPONSE = _whole(
    "200 OK",
    "application/json",
    json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "stub"}]}).encode(),
)
NOT_FOUND = _whole("404 Not Found", "application/json", b'{"error":{"message":"not found"}}')


@lru_cache(maxsize=64)
def whole_stream(deltas: int) -> bytes:
    """A complete streamed answer in one write (for the delay modes)."""
    body = ROLE_FRAME + b"".join(delta_frame(i) for i in range(deltas)) + stream_tail(deltas)
    return _whole("200 OK", "text/event-stream", body)


# -- the server --------------------------------------------------------------------------


class Stats:
    """Counters the `/_stats` endpoint reports."""

    requests = 0
    connections = 0
    late_max = 0.0
    late_sum = 0.0
    late_n = 0
    # Per paced stream: when its first and last content actually left (ms after arrival),
    # which is the "true" TTFT whatever this process's own scheduling did, and the arrival
    # time itself (CLOCK_MONOTONIC, the same clock as a client's perf_counter on Linux).
    paced: ClassVar[deque[tuple[float, float, float]]] = deque(maxlen=256)

    @classmethod
    def late(cls, seconds: float) -> None:
        cls.late_max = max(cls.late_max, seconds)
        cls.late_sum += seconds
        cls.late_n += 1

    @classmethod
    def encode(cls) -> bytes:
        return _whole(
            "200 OK",
            "application/json",
            json.dumps(
                {
                    "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
                    "requests": cls.requests,
                    "connections": cls.connections,
                    "cpu_s": time.process_time(),
                    "late_max_ms": cls.late_max * 1000,
                    "late_mean_ms": cls.late_sum * 1000 / max(cls.late_n, 1),
                    "paced": list(cls.paced),
                }
            ).encode(),
        )


class StubProtocol(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection; requests are answered in order."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.busy = False
        self.transport: asyncio.Transport | None = None
        self.timers: list[asyncio.TimerHandle] = []
        self.first_sent = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        Stats.connections += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Without it, small stream frames wait for the peer's delayed ACK (~40 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in self.timers:
            timer.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.serve()

    def serve(self) -> None:
        """Answer every complete request in the buffer, unless one is still in progress."""
        while not self.busy and self.transport is not None:
            request = self.take_request()
            if request is None:
                return
            self.answer(*request)

    def take_request(self) -> tuple[bytes, bytes, bytes] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                self.transport.close()  # type: ignore[union-attr]
            return None
        head = bytes(self.buffer[:end])
        length = _content_length(head)
        if len(self.buffer) < end + 4 + length:
            return None
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        method, path, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
        return method, path, body

    def answer(self, method: bytes, path: bytes, body: bytes) -> None:
        Stats.requests += 1
        if path.endswith(b"/chat/completions") and method == b"POST":
            mode = parse_mode(path.split(b"/", 2)[1].decode())
            self.chat(mode, STREAM_FLAG.search(body) is not None)
        elif path == b"/_stats":
            self.transport.write(Stats.encode())  # type: ignore[union-attr]
        elif path.endswith(b"/models"):
            self.transport.write(MODELS_RESPONSE)  # type: ignore[union-attr]
        else:
            self.transport.write(NOT_FOUND)  # type: ignore[union-attr]

    def chat(self, mode: Mode, stream: bool) -> None:
        if mode.ttft is not None and stream:
            self.paced_stream(mode)
            return
        payload = whole_stream(mode.deltas) if stream else CHAT_RESPONSE
        if mode.delay <= 0 and mode.ttft is None:
            self.transport.write(payload)  # type: ignore[union-attr]
            return
        self.busy = True
        delay = mode.delay if mode.ttft is None else mode.ttft + mode.itl * (mode.deltas - 1)
        self.timers = [asyncio.get_running_loop().call_later(delay, self.finish, payload)]

    def finish(self, payload: bytes) -> None:
        if self.transport is None:
            return
        self.transport.write(payload)
        self.busy = False
        self.timers = []
        self.serve()

    def paced_stream(self, mode: Mode) -> None:
        """Role frame now; delta k at arrival + ttft + k * itl (absolute, so no drift)."""
        loop = asyncio.get_running_loop()
        start, ttft = loop.time(), mode.ttft or 0.0
        self.busy = True
        self.transport.write(_head("200 OK", "text/event-stream", None) + _chunked(ROLE_FRAME))  # type: ignore[union-attr]
        dues = [start + ttft + k * mode.itl for k in range(mode.deltas)]
        self.timers = [loop.call_at(due, self.send_delta, k, mode, start, due) for k, due in enumerate(dues)]

    def send_delta(self, index: int, mode: Mode, start: float, due: float) -> None:
        if self.transport is None:
            return
        now = asyncio.get_running_loop().time()
        Stats.late(now - due)
        data = delta_frame(index)
        if index == 0:
            self.first_sent = now - start
        if index == mode.deltas - 1:
            Stats.paced.append((self.first_sent * 1000, (now - start) * 1000, start))
            # The last delta, finish, usage and [DONE] leave together, as real servers do.
            self.finish(_chunked(data + stream_tail(mode.deltas)) + b"0\r\n\r\n")
            return
        self.transport.write(_chunked(data))


def _content_length(head: bytes) -> int:
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = lower.find(b"\r\n", at + 2)
    return int(lower[at + 17 : end if end > 0 else None].strip())


async def serve(port: int, max_seconds: float) -> None:
    """Listen on 127.0.0.1, print `PORT n`, serve until the parent dies or time runs out."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(StubProtocol, "127.0.0.1", port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    parent = os.getppid()
    deadline = loop.time() + max_seconds
    # Bounded: a stub left behind by a crashed run stops on its own.
    while loop.time() < deadline and os.getppid() == parent:
        await asyncio.sleep(0.5)
    server.close()


def main(argv: list[str] | None = None) -> int:
    """Command line: `python -m benchmarks.stub [--port N] [--max-seconds S] [--asyncio]`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stub", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    parser.add_argument("--asyncio", action="store_true", help="use asyncio's loop even if uvloop is installed")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        _runner(args.asyncio)(serve(args.port, args.max_seconds))
    return 0


def _runner(plain: bool) -> Any:
    """uvloop when installed (a server several times cheaper per request), else asyncio."""
    if not plain:
        try:
            import uvloop

            return uvloop.run
        except ImportError:
            pass
    return asyncio.run


if __name__ == "__main__":
    sys.exit(main())
