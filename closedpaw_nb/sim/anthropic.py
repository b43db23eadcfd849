"""Anthropic Messages wire format (``/anthropic/v1``).

Stream: named events ``message_start``, ``content_block_start``, ``ping``,
``content_block_delta`` (one per token), ``content_block_stop``, ``message_delta`` (with the
cumulative ``output_tokens``) and ``message_stop``. There is no ``[DONE]``.

Tools: ``tools[].input_schema`` and ``tool_choice`` ({"type": auto|any|tool|none}); a call is
a ``tool_use`` block (streamed: ``content_block_start`` with ``input: {}``, then
``input_json_delta`` fragments, then ``content_block_stop``), ``stop_reason: "tool_use"``.
Results come back as ``tool_result`` blocks. A schema arrives natively in
``output_config.format`` (or the older beta ``output_format``); a forced tool needs nothing
special. Images are ``image`` blocks with a ``base64`` or ``url`` source.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._anthropic_request import image_problem, nested_blocks, tool_choice, tool_results
from ._protocol import (
    Call,
    Frame,
    ParsedChat,
    Reply,
    RouteSpec,
    WireProtocol,
    key_problem,
    sse,
    text_of,
)
from ._text import Generation, argument_pieces, count_tokens

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_MESSAGES = {
    "authentication_error": "invalid x-api-key",
    "not_found_error": "Not found",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit.",
    "api_error": "Internal server error",
    "overloaded_error": "Overloaded",
    "timeout_error": "Request timed out",
}
_STOP = {"stop": "end_turn", "length": "max_tokens", "stop_sequence": "stop_sequence", "tool_calls": "tool_use"}
_MAX_LIMIT = 1000


def error_body(status: int, message: str | None, kind: str | None, request_id: str) -> dict[str, Any]:
    """``{"type": "error", "error": {"type", "message"}, "request_id"}`` for ``status``."""
    kind = kind or _TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    text = message or _MESSAGES.get(kind, "Invalid request")
    return {"type": "error", "error": {"type": kind, "message": text}, "request_id": request_id}


class AnthropicProtocol(WireProtocol):
    """Messages and models as api.anthropic.com speaks them."""

    name = "anthropic"

    def routes(self) -> list[RouteSpec]:
        """``POST /messages``, ``GET /models`` (paged), ``GET /models/{id}``."""
        return [
            RouteSpec("/messages", ("POST",), self.chat, "chat"),
            RouteSpec("/models", ("GET",), self.list_models, "models"),
            RouteSpec("/models/{model:path}", ("GET",), self.get_model, "models"),
        ]

    def authenticate(self, call: Call) -> Reply | None:
        """401 ``authentication_error``; then 400 when ``anthropic-version`` is missing."""
        problem = key_problem(call.headers.get("x-api-key") or call.bearer())
        if problem == "missing":
            return self.error(call, 401, "x-api-key header is required")
        if problem == "invalid":
            return self.error(call, 401)
        if not call.headers.get("anthropic-version"):
            return self.error(call, 400, "anthropic-version: header is required")
        return None

    def headers(self, call: Call) -> dict[str, str]:
        """``request-id`` on every response."""
        return {"request-id": self._request_id(call)}

    def error(self, call: Call, status: int, message: str | None = None, code: str | None = None) -> Reply:
        """The Anthropic error envelope; ``code`` overrides ``error.type``."""
        return Reply(status, error_body(status, message, code, self._request_id(call)))

    def not_found(self, call: Call, model: str) -> Reply:
        """404 ``not_found_error``."""
        return self.error(call, 404, f"model: {model}")

    def _request_id(self, call: Call) -> str:
        return f"req_011C{call.request_id[:20]}"

    # -- requests ---------------------------------------------------------------------

    def chat(self, call: Call) -> ParsedChat | Reply:
        """Parse a Messages request; ``system`` is top level and ``max_tokens`` is required."""
        body = call.body if isinstance(call.body, dict) else {}
        for name in ("model", "messages", "max_tokens"):
            if name not in body:
                return self.error(call, 400, f"{name}: Field required")
        system = text_of(body.get("system") or "")
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        blocks = [
            b for m in messages if isinstance(m.get("content"), list) for b in m["content"] if isinstance(b, dict)
        ]
        problem = image_problem(blocks)
        if problem is not None:
            return self.error(call, 400, problem)
        users = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
        results = tool_results(messages)
        fmt = (body.get("output_config") or {}).get("format") or body.get("output_format") or {}
        return ParsedChat(
            model=body["model"],
            prompt=next((u for u in reversed(users) if u.strip()), ""),
            prompt_tokens=count_tokens([system, *(text_of(m.get("content")) for m in messages), *results]),
            temperature=body.get("temperature"),
            max_tokens=body["max_tokens"],
            stop=tuple(body.get("stop_sequences") or ()),
            stream=body.get("stream") is True,
            tools=tuple(
                {"name": t.get("name"), "description": t.get("description", ""), "parameters": t.get("input_schema")}
                for t in body.get("tools") or ()
                if isinstance(t, dict)
            ),
            tool_choice=tool_choice(body.get("tool_choice")),
            schema=fmt.get("schema") if fmt.get("type") == "json_schema" else None,
            images=sum(1 for b in nested_blocks(blocks) if b.get("type") == "image"),
            tool_results=tuple(results),
        )

    def list_models(self, call: Call) -> Reply:
        """One page: ``limit`` (1-1000, default 20), ``after_id`` or ``before_id``."""
        ids = list(call.catalog)
        try:
            limit = int(call.params.get("limit", "20"))
            start, stop = _window(ids, limit, call.params.get("after_id"), call.params.get("before_id"))
        except ValueError as exc:
            return self.error(call, 400, str(exc))
        page = ids[start:stop]
        body = {
            "data": [self._model(name, ids.index(name)) for name in page],
            "has_more": (start > 0) if "before_id" in call.params else stop < len(ids),
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        }
        return Reply(200, body)

    def get_model(self, call: Call) -> Reply:
        """One ``ModelInfo``."""
        name = call.path_params["model"]
        ids = list(call.catalog)
        return Reply(200, self._model(name, ids.index(name) if name in ids else 0))

    def _model(self, name: str, position: int) -> dict[str, Any]:
        # Newest first, like the real list: earlier catalog entries get later dates.
        created = f"2025-{12 - position % 12:02d}-01T00:00:00Z"
        return {
            "type": "model",
            "id": name,
            "display_name": f"{name} (simulated)",
            "created_at": created,
            "lifecycle": "active",
            "max_input_tokens": 200000,
            "max_tokens": 8192,
        }

    # -- responses --------------------------------------------------------------------

    def render(self, call: Call, req: ParsedChat, gen: Generation) -> Reply:
        """A ``message`` object: a text block (unless only tools were called), then ``tool_use`` blocks."""
        content: list[Any] = [{"type": "text", "text": gen.text}] if gen.tokens or not gen.tool_calls else []
        content += [_tool_use(call_id, name, args) for call_id, name, args in gen.tool_calls]
        body = self._message(call, req, content)
        body.update(stop_reason=_STOP[gen.finish], stop_sequence=gen.stop_sequence)
        body["usage"]["output_tokens"] = gen.completion_tokens
        return Reply(200, body)

    def frames(self, call: Call, req: ParsedChat, gen: Generation) -> Iterator[Frame]:
        """The named-event sequence; ``message_delta.usage.output_tokens`` is cumulative.

        Blocks go out in order 0, 1, 2... (the SDK's accumulator ignores ``index``)."""
        start = self._message(call, req, [])
        start["usage"]["output_tokens"] = min(1, gen.completion_tokens)
        yield Frame(sse({"type": "message_start", "message": start}, "message_start"), "head")
        index = 0
        if gen.tokens or not gen.tool_calls:
            block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
            yield Frame(sse(block, "content_block_start"), "head")
            yield Frame(sse({"type": "ping"}, "ping"), "head")
            for token in gen.tokens:
                delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": token}}
                yield Frame(sse(delta, "content_block_delta"))
            yield Frame(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"), "tail")
            index = 1
        else:
            yield Frame(sse({"type": "ping"}, "ping"), "head")
        for i, (call_id, name, args) in enumerate(gen.tool_calls, start=index):
            yield from _tool_use_frames(i, call_id, name, args)
        stop = {"stop_reason": _STOP[gen.finish], "stop_sequence": gen.stop_sequence}
        usage = {"output_tokens": gen.completion_tokens}
        yield Frame(sse({"type": "message_delta", "delta": stop, "usage": usage}, "message_delta"), "tail")
        yield Frame(sse({"type": "message_stop"}, "message_stop"), "tail")

    def stream_error(self, call: Call, status: int, message: str | None = None) -> bytes:
        """``event: error`` with the error envelope (``overloaded_error`` for 529)."""
        return sse(error_body(status, message, None, self._request_id(call)), "error")

    def _message(self, call: Call, req: ParsedChat, content: list[Any]) -> dict[str, Any]:
        usage = {
            "input_tokens": req.prompt_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 0,
            "service_tier": "standard",
        }
        return {
            "id": f"msg_01{call.request_id[:22]}",
            "type": "message",
            "role": "assistant",
            "model": req.model,
            "content": content,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }


def _tool_use(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{call_id}", "name": name, "input": arguments}


def _tool_use_frames(index: int, call_id: str, name: str, arguments: dict[str, Any]) -> Iterator[Frame]:
    """One ``tool_use`` block: start (``input: {}``, the name's token), JSON fragments, stop."""
    block = {**_tool_use(call_id, name, {}), "input": {}}
    yield Frame(sse({"type": "content_block_start", "index": index, "content_block": block}, "content_block_start"))
    for piece in ["", *argument_pieces(arguments)]:
        delta = {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "input_json_delta", "partial_json": piece},
        }
        yield Frame(sse(delta, "content_block_delta"), "token" if piece else "head")
    yield Frame(sse({"type": "content_block_stop", "index": index}, "content_block_stop"), "tail")


def _window(ids: list[str], limit: int, after: str | None, before: str | None) -> tuple[int, int]:
    """Slice bounds of one page; raises ValueError like the API's 400s."""
    if not 1 <= limit <= _MAX_LIMIT:
        raise ValueError(f"limit: Input should be between 1 and {_MAX_LIMIT}")
    for cursor in (after, before):
        if cursor is not None and cursor not in ids:
            raise ValueError(f"Invalid cursor: {cursor}")
    if after is not None:
        start = ids.index(after) + 1
        return start, start + limit
    if before is not None:
        stop = ids.index(before)
        return max(stop - limit, 0), stop
    return 0, limit
