"""Ollama's native API (`/api/chat` with NDJSON streaming, `/api/tags`).

Images are a list of raw base64 strings on the message (`images`); Ollama takes no URL,
and nothing is fetched for you. Tools use OpenAI's function shape; calls come back whole
in `message.tool_calls` (arguments as an object), streamed or not, and go through one
`ToolCallAccumulator`. `format` is the JSON schema, or "json". Ollama has no
`tool_choice`: "none" sends no tools, a named tool sends only that one, and "required"
cannot be enforced (the model may still answer in text).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError, InternalServerError
from ..tools import Tool, ToolChoice
from ..transport.message import decode_json
from ..types import ChatMessage, ModelInfo, ProviderType
from ._wire import ErrorInfo, HTTPProvider, StreamState, finish, tool_name_for
from .base import ChatOptions

__all__ = ["OllamaProvider", "ollama_host"]

DEFAULT_HOST = "http://127.0.0.1:11434"
TIMINGS_NS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")


def ollama_host(environ: dict[str, str] | None = None) -> str:
    """Ollama's address from OLLAMA_HOST (which may omit scheme or port), else the default."""
    raw = (environ if environ is not None else os.environ).get("OLLAMA_HOST", "").strip()
    if not raw:
        return DEFAULT_HOST
    if "://" not in raw:
        raw = "http://" + raw
    parts = urlsplit(raw)
    host = parts.hostname or "127.0.0.1"
    # OLLAMA_HOST=0.0.0.0 tells the server to listen everywhere; a client reaches it locally.
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}:{parts.port or 11434}{parts.path.rstrip('/')}"


class OllamaProvider(HTTPProvider):
    """Ollama: no key locally (OLLAMA_API_KEY as a Bearer token for ollama.com),
    knobs under `options` (`num_predict` caps output), NDJSON stream ending in `done: true`.
    """

    provider_type = ProviderType.OLLAMA
    # Whether a model reads images is up to the model (Ollama's /api/show lists "vision");
    # a text-only model answers from the text, so images are not refused up front.
    capabilities = frozenset({"text", "images", "structured", "tools"})
    default_base_url = DEFAULT_HOST
    base_url_never_ends = ("/v1", "/api")  # the host; /api/chat is added (its /v1 is OpenAI-style: use type custom)
    env_api_key = ("OLLAMA_API_KEY",)
    needs_api_key = False
    stream_format = "ndjson"

    @classmethod
    def official_base_url(cls) -> str:
        """OLLAMA_HOST, read when the provider is registered, else the local default."""
        return ollama_host()

    def chat_request(
        self, messages: list[ChatMessage], model: str, options: ChatOptions, stream: bool
    ) -> tuple[str, dict[str, Any]]:
        knobs = {
            "temperature": options.temperature,
            "top_p": options.top_p,
            "num_predict": options.max_tokens,
            "stop": list(options.stop) or None,
            "seed": options.seed,
        }
        body: dict[str, Any] = {
            "model": model,
            "messages": [_wire_message(m, messages) for m in messages],
            "stream": stream,
        }
        knobs = {k: v for k, v in knobs.items() if v is not None}
        if knobs:
            body["options"] = knobs
        if options.response_format is not None:
            fmt = options.response_format
            body["format"] = fmt.schema if fmt.schema is not None else "json"
        tools = _wire_tools(options.tools, options.tool_choice)
        if tools:
            body["tools"] = tools
        body.update(options.extra_body)
        return "/api/chat", body

    def parse_response(self, data: Any, state: StreamState) -> None:
        message = data.get("message") or {}
        state.text = [message.get("content") or ""]
        self._calls(message, state)
        self._final(data, state)

    def parse_event(self, event: str, state: StreamState) -> str | None:
        data = decode_json(event)
        if "error" in data:
            raise InternalServerError(f"error in stream: {data['error']}", provider=self.name)
        message = data.get("message") or {}
        self._calls(message, state)
        if data.get("done"):
            self._final(data, state)
        text: str | None = message.get("content")
        return text

    def parse_error(self, status_code: int, body: Any) -> ErrorInfo:
        message = body.get("error") if isinstance(body, dict) else None
        return ErrorInfo(str(message or f"HTTP {status_code}: {str(body)[:200]}"))

    async def fetch_models(self) -> list[ModelInfo]:
        data = await self._get_json("/api/tags")
        return [
            ModelInfo(id=m.get("name") or m["model"], provider=self.name, details=m.get("details") or {})
            for m in data.get("models", [])
        ]

    def _calls(self, message: dict[str, Any], state: StreamState) -> None:
        calls = self.accumulator(state)
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            calls.add_call(function["name"], function.get("arguments"), id=call.get("id"))

    def _final(self, data: dict[str, Any], state: StreamState) -> None:
        state.model = data.get("model") or state.model
        finish(state, data.get("done_reason") or "stop", {})
        # Metrics are omitted when zero, so a missing count means 0, not unknown; with
        # neither count there, the server reported none (usage_source "missing").
        if "prompt_eval_count" in data or "eval_count" in data:
            self.usage_seen(state)
            state.prompt_tokens = int(data.get("prompt_eval_count") or 0)
            state.completion_tokens = int(data.get("eval_count") or 0)
        state.details.update({k.replace("duration", "ms"): data[k] / 1e6 for k in TIMINGS_NS if k in data})
        state.done = True


def _wire_message(message: ChatMessage, messages: list[ChatMessage]) -> dict[str, Any]:
    """One `/api/chat` message: text content, `images` (raw base64), tool calls or a result."""
    row: dict[str, Any] = {"role": message.role, "content": message.text}
    images = message.images
    if any(image.url is not None for image in images):
        raise ConfigError(
            "not sent: Ollama cannot read an image from a URL; pass the image's bytes "
            "(closedpaw_nb.image(path_or_bytes))"
        )
    if images:
        row["images"] = [image.base64() for image in images]
    if message.tool_calls:
        row["tool_calls"] = [
            {"id": c.id, "function": {"index": i, "name": c.name, "arguments": c.arguments}}
            for i, c in enumerate(message.tool_calls)
        ]
    if message.role == "tool":
        row["tool_name"] = tool_name_for(message, messages)
        row["tool_call_id"] = message.tool_call_id
    return row


def _wire_tools(tools: tuple[Tool, ...], choice: ToolChoice | None) -> list[dict[str, Any]]:
    """OpenAI-shaped tool definitions, narrowed by the choice (Ollama has no tool_choice)."""
    if choice is not None and choice.mode == "none":
        return []
    if choice is not None and choice.name is not None:
        tools = tuple(t for t in tools if t.name == choice.name)
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
        for t in tools
    ]
