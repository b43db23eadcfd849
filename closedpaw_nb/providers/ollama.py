"""Ollama's native API (`/api/chat` with NDJSON streaming, `/api/tags`)."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit

from ..errors import InternalServerError
from ..types import ChatMessage, ModelInfo, ProviderType
from ._wire import ErrorInfo, HTTPProvider, StreamState, finish
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
    default_base_url = DEFAULT_HOST
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
            "messages": [m.to_dict() for m in messages],
            "stream": stream,
        }
        knobs = {k: v for k, v in knobs.items() if v is not None}
        if knobs:
            body["options"] = knobs
        body.update(options.extra_body)
        return "/api/chat", body

    def parse_response(self, data: Any, state: StreamState) -> None:
        state.text = [(data.get("message") or {}).get("content") or ""]
        self._final(data, state)

    def parse_event(self, event: str, state: StreamState) -> str | None:
        data = json.loads(event)
        if "error" in data:
            raise InternalServerError(f"error in stream: {data['error']}", provider=self.name)
        if data.get("done"):
            self._final(data, state)
        return (data.get("message") or {}).get("content")

    def parse_error(self, status_code: int, body: Any) -> ErrorInfo:
        message = body.get("error") if isinstance(body, dict) else None
        return ErrorInfo(str(message or f"HTTP {status_code}: {str(body)[:200]}"))

    async def fetch_models(self) -> list[ModelInfo]:
        data = await self._get_json("/api/tags")
        return [
            ModelInfo(id=m.get("name") or m["model"], provider=self.name, details=m.get("details") or {})
            for m in data.get("models", [])
        ]

    def _final(self, data: dict[str, Any], state: StreamState) -> None:
        state.model = data.get("model") or state.model
        finish(state, data.get("done_reason") or "stop", {})
        # Metrics are omitted when zero, so a missing count means 0, not unknown.
        state.prompt_tokens = int(data.get("prompt_eval_count") or 0)
        state.completion_tokens = int(data.get("eval_count") or 0)
        state.details.update({k.replace("duration", "ms"): data[k] / 1e6 for k in TIMINGS_NS if k in data})
        state.done = True
