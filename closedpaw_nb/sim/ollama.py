"""Ollama native wire format (``/ollama``).

``POST /api/chat`` streams NDJSON by default (``"stream": false`` gives one JSON object); the
last line has ``"done": true`` with ``prompt_eval_count``, ``eval_count`` and nanosecond
durations (zero metrics are omitted, as the server's ``omitempty`` does). Generation knobs live
in ``options``: ``num_predict``, ``stop``, ``seed``, ``temperature``, ``top_p``. No auth unless
the simulator is configured with ``ollama_requires_key=True``.

Chat extras: ``images`` (raw base64 strings) on a message, ``tools`` in OpenAI's function
shape (Ollama has no ``tool_choice``), ``format`` ("json" or a JSON schema). A call comes
back whole in ``message.tool_calls`` (``function.name``, ``function.index``, ``arguments``
as an object; streamed, in a ``done: false`` line); results are ``role: "tool"`` messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ._protocol import (
    Call,
    Frame,
    ParsedChat,
    Reply,
    RouteSpec,
    WireProtocol,
    key_problem,
    text_of,
)
from ._text import Generation, count_tokens

VERSION = "0.12.6"
_ASKS_FOR_TOOL = re.compile(r"\b(use|call)\b.*\btools?\b", re.IGNORECASE)
_MODIFIED = "2025-01-01T00:00:00Z"


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _timestamp() -> str:
    # RFC 3339 with nanosecond digits, like Go's time.Time marshalling.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


class OllamaProtocol(WireProtocol):
    """The native Ollama API: chat, generate, tags, show, version and the root health text."""

    name = "ollama"
    stream_media_type = "application/x-ndjson"

    def routes(self) -> list[RouteSpec]:
        """``/``, ``/api/version``, ``/api/tags``, ``/api/show``, ``/api/chat``, ``/api/generate``."""
        return [
            RouteSpec("/", ("GET", "HEAD"), self.root, "meta", auth=False),
            RouteSpec("/api/version", ("GET",), self.version, "meta"),
            RouteSpec("/api/tags", ("GET",), self.tags, "models"),
            RouteSpec("/api/show", ("POST",), self.show, "models"),
            RouteSpec("/api/chat", ("POST",), self.chat, "chat"),
            RouteSpec("/api/generate", ("POST",), self.chat, "chat"),
        ]

    def inspect(self, call: Call) -> None:
        """``stream`` defaults to true for chat and generate."""
        body = call.body if isinstance(call.body, dict) else {}
        model = body.get("model")
        call.model = model if isinstance(model, str) else None
        call.streaming = call.endpoint == "chat" and body.get("stream", True) is not False

    def authenticate(self, call: Call) -> Reply | None:
        """401 ``{"error": "unauthorized"}``, only when the simulator requires a key."""
        if not call.requires_key or key_problem(call.bearer()) is None:
            return None
        return Reply(401, {"error": "unauthorized"})

    def error(self, call: Call, status: int, message: str | None = None, code: str | None = None) -> Reply:
        """``{"error": "<message>"}``."""
        defaults = {400: "invalid request", 404: "not found", 429: "too many requests", 502: "bad gateway"}
        return Reply(status, {"error": message or defaults.get(status, "internal server error")})

    def not_found(self, call: Call, model: str) -> Reply:
        """404 ``model 'x' not found``."""
        return self.error(call, 404, f"model '{model}' not found")

    # -- requests ---------------------------------------------------------------------

    def root(self, call: Call) -> Reply:
        """The health text."""
        return Reply(200, "Ollama is running", media_type="text/plain; charset=utf-8")

    def version(self, call: Call) -> Reply:
        """``{"version": ...}``."""
        return Reply(200, {"version": VERSION})

    def tags(self, call: Call) -> Reply:
        """Local models as ``name:latest``."""
        return Reply(200, {"models": [self._tag(name) for name in call.catalog]})

    def show(self, call: Call) -> Reply:
        """Model details; 404 for unknown ``missing...`` names is handled upstream."""
        body = call.body if isinstance(call.body, dict) else {}
        if not isinstance(body.get("model"), str):
            return self.error(call, 400, "model is required")
        info = {
            "general.architecture": "simulated",
            "general.parameter_count": 135_000_000,
            "simulated.context_length": 8192,
        }
        return Reply(
            200,
            {
                "modelfile": f"# simulated by closedpaw_nb.sim\nFROM {body['model']}\n",
                "parameters": 'stop "<|im_end|>"',
                "template": "{{ .Prompt }}",
                "details": _details(),
                "model_info": info,
                "capabilities": ["completion"],
                "modified_at": _MODIFIED,
            },
        )

    def chat(self, call: Call) -> ParsedChat | Reply:
        """Parse ``/api/chat`` (messages) or ``/api/generate`` (prompt + top-level system)."""
        body = call.body if isinstance(call.body, dict) else {}
        if not isinstance(body.get("model"), str):
            return self.error(call, 400, "model is required")
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        if call.path.endswith("/api/generate"):
            texts = [str(body.get("system") or ""), str(body.get("prompt") or "")]
            prompt = texts[1]
            messages = [{"role": "user", "images": body.get("images")}]
        else:
            texts = [text_of(m.get("content")) for m in messages]
            users = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
            prompt = next((u for u in reversed(users) if u.strip()), "")
        images = [i for m in messages for i in m.get("images") or ()]
        if not all(_decodes(i) for i in images):
            return self.error(call, 400, "illegal base64 data in images")
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
        results = tuple(text_of(m.get("content")) for m in messages[last + 1 :] if m.get("role") == "tool")
        fmt = body.get("format")
        options = body.get("options") or {}
        stop = options.get("stop") or ()
        limit = options.get("num_predict")
        return ParsedChat(
            model=body["model"],
            prompt=prompt,
            prompt_tokens=count_tokens(texts),
            temperature=options.get("temperature"),
            seed=options.get("seed"),
            # num_predict -1 (infinite) and -2 (fill context) mean "no cap".
            max_tokens=limit if isinstance(limit, int) and limit >= 0 else None,
            stop=(stop,) if isinstance(stop, str) else tuple(stop),
            stream=call.streaming,
            tools=tuple(_tool(t) for t in body.get("tools") or () if isinstance(t, dict)),
            # Ollama has no tool_choice: the simulated model obeys a prompt that asks it to use
            # a tool, as instruction-following models do, and otherwise decides as for "auto".
            tool_choice="required" if _ASKS_FOR_TOOL.search(prompt) else None,
            schema=fmt if isinstance(fmt, dict) else None,
            json_mode=fmt == "json",
            images=len(images),
            tool_results=results,
        )

    # -- responses --------------------------------------------------------------------

    def render(self, call: Call, req: ParsedChat, gen: Generation) -> Reply:
        """One object with ``done: true``, the text, any tool calls and the metrics."""
        return Reply(200, self._piece(call, req, gen.text, gen) | self._done(call, gen))

    def frames(self, call: Call, req: ParsedChat, gen: Generation) -> Iterator[Frame]:
        """One ``done: false`` line per token (and one with the tool calls, whole), then the
        ``done: true`` line with metrics."""
        for token in gen.tokens:
            yield Frame(_line(self._piece(call, req, token) | {"done": False}))
        if gen.tool_calls:
            yield Frame(_line(self._piece(call, req, "", gen) | {"done": False}))
        yield Frame(_line(self._piece(call, req, "") | self._done(call, gen)), "tail")

    def stream_error(self, call: Call, status: int, message: str | None = None) -> bytes:
        """A ``{"error": ...}`` line (the HTTP status stays 200)."""
        return _line(self.error(call, status, message).body)

    def _piece(self, call: Call, req: ParsedChat, text: str, gen: Generation | None = None) -> dict[str, Any]:
        if call.path.endswith("/api/generate"):
            return {"model": req.model, "created_at": _timestamp(), "response": text}
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if gen is not None and gen.tool_calls:
            # The server's ids are "call_" and 8 characters from [a-z0-9].
            message["tool_calls"] = [
                {"id": f"call_{call_id[:8].lower()}", "function": {"index": i, "name": name, "arguments": args}}
                for i, (call_id, name, args) in enumerate(gen.tool_calls)
            ]
        return {"model": req.model, "created_at": _timestamp(), "message": message}

    def _done(self, call: Call, gen: Generation) -> dict[str, Any]:
        ttft, gap = call.pace
        metrics = {
            "total_duration": int((time.perf_counter() - call.started) * 1e9),
            "prompt_eval_count": gen.prompt_tokens,
            "prompt_eval_duration": int(ttft * 1e9),
            "eval_count": gen.completion_tokens,
            "eval_duration": int(gen.completion_tokens * gap * 1e9),
        }
        reason = "length" if gen.finish == "length" else "stop"
        return {"done": True, "done_reason": reason} | {k: v for k, v in metrics.items() if v}

    def _tag(self, name: str) -> dict[str, Any]:
        tag = name if ":" in name else f"{name}:latest"
        return {
            "name": tag,
            "model": tag,
            "modified_at": _MODIFIED,
            "size": 145_000_000,
            "digest": hashlib.sha256(tag.encode()).hexdigest(),
            "details": _details(),
        }


def _tool(spec: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-shaped tool definition in neutral terms."""
    inner = spec.get("function")
    function: dict[str, Any] = inner if isinstance(inner, dict) else spec
    return {
        "name": function.get("name"),
        "description": function.get("description", ""),
        "parameters": function.get("parameters") or {"type": "object", "properties": {}},
    }


def _decodes(data: Any) -> bool:
    try:
        base64.b64decode(str(data), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _details() -> dict[str, Any]:
    # "simulated" in the family is the label clients can show; Ollama has no description field.
    return {
        "parent_model": "",
        "format": "gguf",
        "family": "simulated",
        "families": ["simulated"],
        "parameter_size": "135M",
        "quantization_level": "Q8_0",
    }
