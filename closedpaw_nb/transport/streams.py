"""Incremental decoders for the two streaming formats: SSE and NDJSON. Bytes in, events out.

Pure: no I/O, no asyncio. Feed any chunking of the body (a UTF-8 character or a CRLF
split across chunks is fine) and get the same events as for the whole body at once.
The SSE rules are the WHATWG ones the official SDKs follow: lines end in LF, CRLF or a
bare CR; a blank line ends an event; `:` lines are comments (llama.cpp pings); a field
is split at the first colon with one leading space stripped; `data` lines are joined
with newlines.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

__all__ = ["NDJSONDecoder", "SSEDecoder", "SSEEvent"]


@dataclass(frozen=True)
class SSEEvent:
    """One server-sent event."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


class _LineSplitter:
    """Turns chunks of bytes into complete text lines, whatever the line ending."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += self._utf8.decode(chunk)
        return self._take_lines(final=False)

    def flush(self) -> list[str]:
        self._buffer += self._utf8.decode(b"", final=True)
        lines = self._take_lines(final=True)
        if self._buffer:
            lines.append(self._buffer)
            self._buffer = ""
        return lines

    def _take_lines(self, final: bool) -> list[str]:
        lines: list[str] = []
        buf = self._buffer
        start = 0
        i = 0
        while i < len(buf):
            ch = buf[i]
            if ch == "\n" or ch == "\r":
                if ch == "\r" and i + 1 == len(buf) and not final:
                    break  # might be the first half of a CRLF split across chunks
                lines.append(buf[start:i])
                i += 2 if ch == "\r" and i + 1 < len(buf) and buf[i + 1] == "\n" else 1
                start = i
            else:
                i += 1
        self._buffer = buf[start:]
        return lines


class SSEDecoder:
    """Incremental `text/event-stream` parser."""

    def __init__(self) -> None:
        self._lines = _LineSplitter()
        self._reset()

    def _reset(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse a chunk; returns the events it completed."""
        return self._consume(self._lines.feed(chunk))

    def flush(self) -> list[SSEEvent]:
        """End of body: complete a final event that lacked its blank line."""
        events = self._consume(self._lines.flush())
        last = self._dispatch()
        return events + ([last] if last else [])

    def _consume(self, lines: list[str]) -> list[SSEEvent]:
        events = []
        for line in lines:
            if line == "":
                event = self._dispatch()
                if event:
                    events.append(event)
            else:
                self._field(line)
        return events

    def _field(self, line: str) -> None:
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)

    def _dispatch(self) -> SSEEvent | None:
        if not self._data and not self._event:
            self._reset()
            return None
        event = SSEEvent(self._event or "message", "\n".join(self._data), self._id, self._retry)
        self._reset()
        return event


class NDJSONDecoder:
    """Incremental newline-delimited JSON splitter: yields each non-empty line's text."""

    def __init__(self) -> None:
        self._lines = _LineSplitter()

    def feed(self, chunk: bytes) -> list[str]:
        return [line for line in self._lines.feed(chunk) if line.strip()]

    def flush(self) -> list[str]:
        return [line for line in self._lines.flush() if line.strip()]
