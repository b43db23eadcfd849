"""Anthropic Messages API (`api.anthropic.com`, paths under /v1).

Images, tools and structured output are mapped in `_anthropic_wire`; here the answer is
read back: `tool_use` blocks become `ToolCall`s through one `ToolCallAccumulator`
(`content_block_start` + `input_json_delta` when streamed, whole blocks when not), the
forced structured-output tool's input becomes the text, and `stop_reason: "refusal"` fills
`refusal`.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    QuotaExhaustedError,
    RateLimitError,
)
from ..transport.message import decode_json
from ..transport.streams import SSEEvent
from ..types import ChatMessage, ModelInfo, ProviderType
from ._anthropic_wire import RESPONSE_TOOL, format_fields, tool_fields, wire_messages
from ._wire import ErrorInfo, HTTPProvider, StreamState, finish
from .base import ChatOptions

__all__ = ["AnthropicProvider"]

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
FINISH_MAP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "model_context_window_exceeded": "length",
    "pause_turn": "other",
}
ERROR_TYPES: dict[str, type[APIStatusError]] = {
    "invalid_request_error": BadRequestError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "rate_limit_error": RateLimitError,
    "api_error": InternalServerError,
    "overloaded_error": OverloadedError,
}


_ANSWER_BLOCK = "answer_block"  # the index of the forced tool's block in a stream (in `state.scratch`)


class AnthropicProvider(HTTPProvider):
    """Anthropic: `x-api-key` + `anthropic-version`, top-level `system`, named SSE events.

    `max_tokens` is required by the API; when a call gives none, settings["max_tokens"]
    or 1024 is sent. Anthropic has no seed, so `seed` is ignored. A schema is asked for
    with `output_config` unless settings["structured_output"] is "tool" (a forced tool
    call, for models or gateways without native structured output).
    """

    provider_type = ProviderType.ANTHROPIC
    capabilities = frozenset({"text", "images", "structured", "tools"})
    default_base_url = "https://api.anthropic.com"
    base_url_never_ends = ("/v1",)  # the Anthropic SDK's convention: the host only; /v1/messages is added
    env_api_key = ("ANTHROPIC_API_KEY",)
    needs_api_key = True

    secret_headers = ("x-api-key",)

    def auth_headers(self) -> dict[str, str]:
        settings = self.config.settings
        headers = {"anthropic-version": str(settings.get("anthropic_version", API_VERSION))}
        if settings.get("anthropic_beta"):
            headers["anthropic-beta"] = str(settings["anthropic_beta"])
        if key := self._revealed_key():
            headers["x-api-key"] = key
        return headers

    def request_id_header(self) -> str:
        return "request-id"

    def chat_request(
        self, messages: list[ChatMessage], model: str, options: ChatOptions, stream: bool
    ) -> tuple[str, dict[str, Any]]:
        system = "\n\n".join(m.text for m in messages if m.role == "system")
        body: dict[str, Any] = {
            "model": model,
            "messages": wire_messages(messages),
            "max_tokens": options.max_tokens or int(self.config.settings.get("max_tokens", DEFAULT_MAX_TOKENS)),
        }
        if system:
            body["system"] = system
        if stream:
            body["stream"] = True
        knobs = {
            "temperature": options.temperature,
            "top_p": options.top_p,
            "stop_sequences": list(options.stop) or None,
        }
        body.update({k: v for k, v in knobs.items() if v is not None})
        fields = tool_fields(options.tools, options.tool_choice)
        if options.response_format is not None:
            fields = format_fields(options.response_format, dict(self.config.settings), fields)
        body.update(fields)
        body.update(options.extra_body)
        return "/v1/messages", body

    def parse_response(self, data: Any, state: StreamState) -> None:
        calls = self.accumulator(state)
        text: list[str] = []
        for index, block in enumerate(data["content"]):
            if block.get("type") == "text":
                text.append(block.get("text", ""))
            elif block.get("type") == "tool_use" and block.get("name") == RESPONSE_TOOL:
                text.append(json.dumps(block.get("input") or {}, ensure_ascii=False))
            elif block.get("type") == "tool_use":
                calls.add_call(block["name"], block.get("input"), id=block.get("id"), index=index)
        state.text = ["".join(text)]
        state.model = data.get("model") or state.model
        self._stop(data.get("stop_reason"), data.get("stop_details"), state)
        self._usage(data.get("usage"), state)
        state.done = True

    def parse_event(self, event: SSEEvent, state: StreamState) -> str | None:
        if not event.data:
            return None
        data = decode_json(event.data)
        kind = data.get("type", event.event)
        if kind == "message_start":
            message = data["message"]
            state.model = message.get("model") or state.model
            self._usage(message.get("usage"), state)
        elif kind == "content_block_start":
            self._block_start(data["index"], data.get("content_block") or {}, state)
        elif kind == "content_block_delta":
            return self._block_delta(data["index"], data.get("delta") or {}, state)
        elif kind == "message_delta":
            delta = data.get("delta") or {}
            self._stop(delta.get("stop_reason"), delta.get("stop_details"), state)
            self._usage(data.get("usage"), state)
        elif kind == "message_stop":
            state.done = True
        elif kind == "error":
            raise self._error(data.get("error") or {}, status_code=None)
        return None

    def parse_error(self, status_code: int, body: Any) -> ErrorInfo:
        if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
            return ErrorInfo(f"HTTP {status_code}: {str(body)[:200]}")
        err = body["error"]
        # The status decides (as in the SDK); the body refines overload and spend caps.
        cls: type[ProviderError] | None = None
        details = err.get("details") or {}
        if status_code == 429 and details.get("error_code") == "enforced_spend_limit_reached":
            cls = QuotaExhaustedError
        if status_code == 529 or err.get("type") == "overloaded_error":
            cls = OverloadedError
        return ErrorInfo(err.get("message") or f"HTTP {status_code}", cls)

    async def fetch_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        params: dict[str, Any] = {"limit": 1000}
        while True:
            page = await self._get_json("/v1/models", params)
            models += [
                ModelInfo(
                    id=m["id"],
                    provider=self.name,
                    display_name=m.get("display_name"),
                    context_length=m.get("max_input_tokens"),
                )
                for m in page.get("data", [])
            ]
            if not page.get("has_more") or not page.get("last_id"):
                return models
            params = {"limit": 1000, "after_id": page["last_id"]}

    def _block_start(self, index: int, block: dict[str, Any], state: StreamState) -> None:
        if block.get("type") != "tool_use":
            return
        if block.get("name") == RESPONSE_TOOL:
            state.scratch[_ANSWER_BLOCK] = index
        else:
            self.accumulator(state).start(index, id=block.get("id"), name=block["name"])

    def _block_delta(self, index: int, delta: dict[str, Any], state: StreamState) -> str | None:
        if delta.get("type") == "text_delta":
            text: str | None = delta.get("text")
            return text
        if delta.get("type") != "input_json_delta":
            return None
        if state.scratch.get(_ANSWER_BLOCK) == index:
            # The forced tool's input is the answer: streamed as the text it is.
            answer: str | None = delta.get("partial_json")
            return answer
        self.accumulator(state).add_json(index, delta.get("partial_json") or "")
        return None

    def _stop(self, reason: str | None, details: Any, state: StreamState) -> None:
        if reason is None:
            return
        finish(state, reason, FINISH_MAP)
        if reason == "tool_use" and not self.accumulator(state):
            state.finish_reason = "stop"  # only the forced structured-output tool was called
        if reason == "refusal":
            explanation = details.get("explanation") if isinstance(details, dict) else None
            self.refused(state, explanation or "".join(state.text) or "the model refused (stop_reason: refusal)")

    def _usage(self, usage: Any, state: StreamState) -> None:
        # output_tokens in message_delta is cumulative, so assigning (not adding) is right.
        if usage:
            state.prompt_tokens = usage.get("input_tokens", state.prompt_tokens)
            state.completion_tokens = usage.get("output_tokens", state.completion_tokens)
            if "input_tokens" in usage or "output_tokens" in usage:
                self.usage_seen(state)

    def _error(self, err: dict[str, Any], status_code: int | None) -> ProviderError:
        cls = ERROR_TYPES.get(err.get("type", ""), InternalServerError)
        return cls(
            f"error event in stream: {err.get('message', 'unknown error')}", provider=self.name, status_code=status_code
        )
