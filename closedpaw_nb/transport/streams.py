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
import re
from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_LINE", "NDJSONDecoder", "SSEDecoder", "SSEEvent", "StreamLineTooLong"]


@dataclass(frozen=True)
class SSEEvent:
    """One server-sent event."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


# One line ending: CRLF, LF or a bare CR (WHATWG). Splitting with a compiled regex keeps
# the work linear in the bytes received; only the unfinished last line is carried over.
_EOL = re.compile(r"\r\n|\r|\n")
DEFAULT_MAX_LINE = 4 * 1024 * 1024


class StreamLineTooLong(ValueError):
    """A stream line grew past the decoder's cap (a server that never ends its lines)."""


class _LineSplitter:
    """Turns chunks of bytes into complete text lines, whatever the line ending.

    Each chunk is decoded and scanned once; the partial last line is kept as a list of
    pieces (joined when its end arrives), so a long line costs time linear in its size.
    """

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []
        self._pending_size = 0
        self._skip_lf = False  # the last piece ended in CR: a LF that starts the next is its pair
        self._max_line = max_line

    def feed(self, chunk: bytes) -> list[str]:
        return self._split(self._utf8.decode(chunk))

    def flush(self) -> list[str]:
        lines = self._split(self._utf8.decode(b"", final=True))
        if self._pending:
            lines.append("".join(self._pending))
            self._pending, self._pending_size = [], 0
        return lines

    def _split(self, text: str) -> list[str]:
        if self._skip_lf and text:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
        if not text:
            return []
        pieces = _EOL.split(text)
        self._skip_lf = text[-1] == "\r"
        tail = pieces.pop()
        lines: list[str] = []
        if pieces:
            self._pending.append(pieces[0])
            lines.append("".join(self._pending))
            lines.extend(pieces[1:])
            self._pending, self._pending_size = [], 0
        if tail:
            self._pending.append(tail)
            self._pending_size += len(tail)
        if self._pending_size > self._max_line or any(len(line) > self._max_line for line in lines):
            raise StreamLineTooLong(f"a stream line is longer than {self._max_line} characters")
        return lines


class SSEDecoder:
    """Incremental `text/event-stream` parser; a line over `max_line` raises StreamLineTooLong."""

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._lines = _LineSplitter(max_line)
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

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._lines = _LineSplitter(max_line)

    def feed(self, chunk: bytes) -> list[str]:
        return [line for line in self._lines.feed(chunk) if line.strip()]

    def flush(self) -> list[str]:
        return [line for line in self._lines.flush() if line.strip()]
