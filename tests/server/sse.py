"""A small server-sent-events parser for the tests (independent of the server's writer)."""

from __future__ import annotations

import json
from collections.abc import Iterable


def parse_sse(lines: Iterable[str]) -> list[tuple[str, dict]]:
    """(event, JSON data) pairs from SSE text lines; blank lines end events."""
    events, name, data = [], "message", []
    for line in lines:
        if not line:
            if data:
                events.append((name, json.loads("\n".join(data))))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    assert not data, "the stream ended inside an event"
    return events
