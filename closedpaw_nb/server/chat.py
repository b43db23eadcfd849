"""`POST /api/chat`: one JSON answer, or server-sent events with `stream: true`.

A stream is opened and its first delta awaited before the response starts, so an
error that happens before any text (unknown model, bad key, provider down) is an
ordinary JSON error with its status. After that the status is already 200, and a
failure arrives as an `error` event. Events:

```
event: delta          data: {"text": "..."}          (repeated)
event: done           data: {ChatResult fields}      (last, on success)
event: error          data: {"error": {"type": ..., "message": ...}}   (last, on failure)
```
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ..errors import ConfigError, ProviderError
from ..providers import ChatStream
from ..transport.redact import get_logger
from ..types import ChatResponse
from .deps import (
    API_DEPENDENCIES,
    ERRORS,
    NOT_FOUND,
    UPSTREAM,
    Manager,
    require_provider,
)
from .errors import GENERIC_500, ApiError, error_body, provider_error_body
from .models import ChatRequest, ChatResult

__all__ = ["chat_router", "sse_event"]

log = get_logger("closedpaw_nb.server")

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The answer; with `stream: true`, server-sent events (delta..., then done or error).",
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "required": ["event", "data"],
                    "description": "One server-sent event: deltas, then exactly one `done` or `error`.",
                    "properties": {
                        "event": {"type": "string", "enum": ["delta", "done", "error"]},
                        "data": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "description": '`{"text": ...}` for delta, the ChatResult fields for done, '
                            '`{"error": {"type", "message"}}` for error.',
                        },
                    },
                }
            }
        },
    }
}

chat_router = APIRouter(
    tags=["chat"], dependencies=API_DEPENDENCIES, responses={**ERRORS, **NOT_FOUND, **UPSTREAM, **_STREAM_DOC}
)


@chat_router.post("/api/chat", response_model=ChatResult, summary="Chat with a provider")
async def chat(body: ChatRequest, manager: Manager) -> Any:
    """Send the conversation to a provider (the default one when `provider` is omitted)."""
    name = require_provider(manager, body.provider) if body.provider else _default(manager)
    messages = [m.model_dump() for m in body.messages]
    if not body.stream:
        return _result(await manager.chat(messages, name, body.model, **body.options()))
    relay = _Relay(manager.stream(messages, name, body.model, **body.options()))
    try:
        first = await relay.next()
    except BaseException:
        relay.cancel()
        raise
    if first[0] == "error":
        raise first[1]  # nothing sent yet: the error handlers give it its status
    return StreamingResponse(_events(relay, first), media_type="text/event-stream", headers=SSE_HEADERS)


def sse_event(event: str, data: Any) -> str:
    """One server-sent event; the JSON payload is a single `data:` line."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _default(manager: Any) -> str:
    if manager.default is None:
        raise ApiError(404, "not_found", "no provider is registered; register one with POST /api/providers/register")
    return str(manager.default)


def _result(response: ChatResponse) -> ChatResult:
    return ChatResult(**response.to_dict())


class _Relay:
    """Runs a ChatStream to its end in one task of its own and hands the items over a queue.

    The route handler waits for the first item and the response body is written by
    another task; a provider stream may hold per-call context variables that must be
    set and reset in a single task, so neither of those tasks iterates it directly.
    The queue is unbounded: an answer is small, and the relay then always finishes
    (a client that left cancels it).
    """

    def __init__(self, stream: ChatStream) -> None:
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._task = asyncio.create_task(self._run(stream))

    async def _run(self, stream: ChatStream) -> None:
        try:
            async for delta in stream:
                self._queue.put_nowait(("delta", delta))
            self._queue.put_nowait(("done", await stream.get_response()))
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which reports it
            self._queue.put_nowait(("error", exc))
        finally:
            await stream.aclose()

    async def next(self) -> tuple[str, Any]:
        """The next ("delta", text), ("done", ChatResponse) or ("error", exception)."""
        return await self._queue.get()

    def cancel(self) -> None:
        """Stop reading from the provider and release its connection."""
        self._task.cancel()


async def _events(relay: _Relay, item: tuple[str, Any]) -> AsyncIterator[str]:
    try:
        while item[0] == "delta":
            yield sse_event("delta", {"text": item[1]})
            item = await relay.next()
        if item[0] == "done":
            yield sse_event("done", _result(item[1]).model_dump(mode="json"))
        else:
            yield sse_event("error", _error_payload(item[1]))
    finally:
        relay.cancel()


def _error_payload(exc: Exception) -> dict[str, Any]:
    """The error event's body; the status is already 200, so the error travels in-band."""
    if isinstance(exc, ProviderError):
        return provider_error_body(exc)
    if isinstance(exc, ConfigError):
        return error_body("config_error", str(exc))
    log.error("unexpected error while streaming a chat", exc_info=exc)
    return error_body("internal_error", GENERIC_500)
