"""The OpenAI chat-completions mapping, shared by OpenAI, Mistral and custom endpoints.

Subclasses differ only in class attributes: which field caps output, which field
carries the seed, and whether the stream is asked to include usage.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from ..errors import (
    InternalServerError,
    OverloadedError,
    ProviderError,
    QuotaExhaustedError,
    RateLimitError,
)
from ..transport.streams import SSEEvent
from ..types import ChatMessage, ModelInfo
from ._wire import ErrorInfo, HTTPProvider, StreamState, finish
from .base import ChatOptions

__all__ = ["OpenAICompatibleProvider"]

FINISH_MAP = {"model_length": "length", "function_call": "tool_calls", "error": "other"}
QUOTA_CODES = {"insufficient_quota", "billing_hard_limit_reached"}


class OpenAICompatibleProvider(HTTPProvider):
    """Chat completions over `POST {base_url}/chat/completions` with SSE streaming."""

    max_tokens_field: ClassVar[str] = "max_tokens"
    seed_field: ClassVar[str] = "seed"
    include_stream_usage: ClassVar[bool] = True
    # Prefix between base_url and the endpoint: "" where base_url ends in /v1 (OpenAI's
    # convention), "/v1" where the SDK's base URL is the bare host (Mistral's).
    path_prefix: ClassVar[str] = ""

    def chat_request(
        self, messages: list[ChatMessage], model: str, options: ChatOptions, stream: bool
    ) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": model, "messages": [m.to_dict() for m in messages]}
        if stream:
            body["stream"] = True
            if self.include_stream_usage:
                body["stream_options"] = {"include_usage": True}
        knobs = {
            "temperature": options.temperature,
            "top_p": options.top_p,
            self.max_tokens_field: options.max_tokens,
            "stop": list(options.stop) or None,
            self.seed_field: options.seed,
        }
        body.update({k: v for k, v in knobs.items() if v is not None})
        body.update(options.extra_body)
        return f"{self.path_prefix}/chat/completions", body

    def parse_response(self, data: Any, state: StreamState) -> None:
        choice = data["choices"][0]
        state.text = [choice["message"].get("content") or ""]
        state.model = data.get("model") or state.model
        finish(state, choice.get("finish_reason"), FINISH_MAP)
        self._usage(data.get("usage"), state)
        state.done = True

    def parse_event(self, event: SSEEvent, state: StreamState) -> str | None:
        if event.data.startswith("[DONE]"):
            state.done = True
            return None
        data = json.loads(event.data)
        if "error" in data:
            raise self._stream_error(data["error"])
        state.model = data.get("model") or state.model
        self._usage(data.get("usage"), state)
        delta = None
        for choice in data.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = (choice.get("delta") or {}).get("content")
            finish(state, choice.get("finish_reason"), FINISH_MAP)
        return delta

    def parse_error(self, status_code: int, body: Any) -> ErrorInfo:
        err = body.get("error", body) if isinstance(body, dict) else body
        if not isinstance(err, dict):
            return ErrorInfo(f"HTTP {status_code}: {str(err)[:200]}")
        message = err.get("message") or err.get("detail") or f"HTTP {status_code}"
        if not isinstance(message, str):
            message = json.dumps(message)[:300]
        code = str(err.get("code") or err.get("type") or "")
        cls = QuotaExhaustedError if status_code == 429 and code in QUOTA_CODES else None
        return ErrorInfo(message, cls)

    async def fetch_models(self) -> list[ModelInfo]:
        data = await self._get_json(f"{self.path_prefix}/models")
        return [
            ModelInfo(id=m["id"], provider=self.name, details={"owned_by": m.get("owned_by")})
            for m in data.get("data", [])
        ]

    def _usage(self, usage: Any, state: StreamState) -> None:
        if usage:
            state.prompt_tokens = usage.get("prompt_tokens", state.prompt_tokens)
            state.completion_tokens = usage.get("completion_tokens", state.completion_tokens)

    def _stream_error(self, err: Any) -> ProviderError:
        err = err if isinstance(err, dict) else {"message": str(err)}
        kind = f"{err.get('type', '')} {err.get('code', '')}".lower()
        cls: type[ProviderError] = InternalServerError
        if "overloaded" in kind:
            cls = OverloadedError
        elif "rate_limit" in kind:
            cls = RateLimitError
        return cls(f"error event in stream: {err.get('message', 'unknown error')}", provider=self.name)
