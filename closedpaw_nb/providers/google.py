"""Google Gemini (Generative Language API, `generativelanguage.googleapis.com`).

Images, tools and structured output are mapped in `_gemini_wire`; here the answer is
read back: `functionCall` parts arrive whole, streamed or not, and go through one
`ToolCallAccumulator`; a response with calls finishes with "tool_calls" (Gemini itself
says "STOP").
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from ..errors import (
    AuthenticationError,
    ConfigError,
    InternalServerError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    QuotaExhaustedError,
    error_for_status,
)
from ..transport.message import decode_json
from ..transport.streams import SSEEvent
from ..types import ChatMessage, ModelInfo, ProviderType
from ._gemini_wire import format_config, tool_fields, wire_contents
from ._wire import ErrorInfo, HTTPProvider, StreamState, finish
from .base import ChatOptions

__all__ = ["GoogleProvider"]

API_VERSION = "v1beta"
FINISH_MAP = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "MALFORMED_FUNCTION_CALL": "tool_calls",
}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)s\s*$")


class GoogleProvider(HTTPProvider):
    """Gemini: key in the `x-goog-api-key` header (never `?key=`, which leaks into logs and
    tracebacks), system prompt in `systemInstruction`, knobs in `generationConfig`.

    Optional setting "api_version" (default "v1beta").
    """

    provider_type = ProviderType.GOOGLE
    capabilities = frozenset({"text", "images", "structured", "tools"})
    default_base_url = "https://generativelanguage.googleapis.com"
    base_url_never_ends = ("/v1beta", "/v1alpha", "/v1")  # the host only; the API version is added
    env_api_key = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    needs_api_key = True

    @property
    def _version(self) -> str:
        return str(self.config.settings.get("api_version", API_VERSION))

    secret_headers = ("x-goog-api-key",)

    def auth_headers(self) -> dict[str, str]:
        key = self._revealed_key()
        return {"x-goog-api-key": key} if key else {}

    def chat_request(
        self, messages: list[ChatMessage], model: str, options: ChatOptions, stream: bool
    ) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"contents": wire_contents(messages)}
        system = "\n\n".join(m.text for m in messages if m.role == "system")
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        config = {
            "temperature": options.temperature,
            "topP": options.top_p,
            "maxOutputTokens": options.max_tokens,
            "stopSequences": list(options.stop) or None,
            "seed": options.seed,
        }
        config = {k: v for k, v in config.items() if v is not None}
        if options.response_format is not None:
            config.update(format_config(options.response_format))
        if config:
            body["generationConfig"] = config
        body.update(tool_fields(options.tools, options.tool_choice))
        body.update(options.extra_body)
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"/{self._version}/models/{_bare(model)}:{method}", body

    def parse_response(self, data: Any, state: StreamState) -> None:
        state.text = [self._absorb(data, state) or ""]
        state.done = True

    def parse_event(self, event: SSEEvent, state: StreamState) -> str | None:
        if not event.data:
            return None
        data = decode_json(event.data)
        if isinstance(data, dict) and "error" in data:
            raise self._error_from_body(data["error"])
        delta = self._absorb(data, state)
        # There is no terminator: the stream is complete once a finish reason arrived.
        state.done = state.finish_reason is not None
        return delta

    def parse_error(self, status_code: int, body: Any) -> ErrorInfo:
        if isinstance(body, list) and body:
            body = body[0]
        if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
            return ErrorInfo(f"HTTP {status_code}: {str(body)[:200]}")
        err = body["error"]
        return ErrorInfo(
            err.get("message") or err.get("status") or f"HTTP {status_code}",
            _error_class(status_code, err),
            _retry_delay(err),
        )

    async def fetch_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        params: dict[str, Any] = {"pageSize": 1000}
        while True:
            page = await self._get_json(f"/{self._version}/models", params)
            models += [
                ModelInfo(
                    id=_bare(m["name"]),
                    provider=self.name,
                    display_name=m.get("displayName"),
                    context_length=m.get("inputTokenLimit"),
                )
                for m in page.get("models", [])
            ]
            if not page.get("nextPageToken"):
                return models
            params = {"pageSize": 1000, "pageToken": page["nextPageToken"]}

    def _absorb(self, data: dict[str, Any], state: StreamState) -> str | None:
        """Take usage, model, finish reason and text from one GenerateContentResponse."""
        state.model = data.get("modelVersion") or state.model
        state.request_id = state.request_id or data.get("responseId")
        usage = data.get("usageMetadata") or {}
        if "promptTokenCount" in usage or "candidatesTokenCount" in usage:
            self.usage_seen(state)
        if "promptTokenCount" in usage:
            state.prompt_tokens = usage["promptTokenCount"]
        if "candidatesTokenCount" in usage or "thoughtsTokenCount" in usage:
            # Thinking tokens are generated output too, though Gemini counts them apart.
            state.completion_tokens = usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0)
            if usage.get("thoughtsTokenCount"):
                state.details["thoughts_tokens"] = usage["thoughtsTokenCount"]
        block = (data.get("promptFeedback") or {}).get("blockReason")
        candidates = data.get("candidates") or []
        if block and not candidates:
            state.details["block_reason"] = block
            finish(state, "SAFETY", FINISH_MAP)
            return None
        if not candidates:
            return None
        candidate = candidates[0]
        finish(state, candidate.get("finishReason"), FINISH_MAP)
        parts = (candidate.get("content") or {}).get("parts") or []
        calls = self.accumulator(state)
        for part in parts:
            call = part.get("functionCall")
            if isinstance(call, dict):
                signature = part.get("thoughtSignature")
                calls.add_call(call["name"], call.get("args"), id=call.get("id"), signature=signature)
        return "".join(p.get("text", "") for p in parts if not p.get("thought"))

    def _error_from_body(self, err: Any) -> ProviderError:
        err = err if isinstance(err, dict) else {"message": str(err)}
        code = int(err.get("code") or 500)
        cls = _error_class(code, err) or error_for_status(code)
        return cls(
            f"error event in stream: {err.get('message', 'unknown error')}", provider=self.name, status_code=code
        )


# A Gemini model id is one path segment (`gemini-2.0-flash`, `gemini-1.5-pro-002`);
# `models/` in front is accepted, as the SDKs do. Anything else (a slash, a dot segment,
# `?`, `#`, `%`) could move the request to another path on the official host, key included.
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+~-]{0,199}")


def _bare(model: str) -> str:
    """The model's path segment: validated, then percent-encoded (it goes into the URL path)."""
    bare = model.split("/", 1)[1] if model.startswith("models/") else model
    if not _MODEL_ID.fullmatch(bare) or bare.strip(".") == "":
        raise ConfigError(
            f"model {model[:80]!r} is not a Gemini model id: use letters, digits and . _ @ + ~ - "
            "(e.g. 'gemini-2.0-flash'), optionally after 'models/'"
        )
    return quote(bare, safe="")


def _details(err: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [d for d in err.get("details") or [] if isinstance(d, dict) and str(d.get("@type", "")).endswith(kind)]


def _error_class(status: int, err: dict[str, Any]) -> type[ProviderError] | None:
    reasons = {d.get("reason") for d in _details(err, "ErrorInfo")}
    if "API_KEY_INVALID" in reasons or (status == 400 and "API key" in str(err.get("message", ""))):
        return AuthenticationError
    if status == 403:
        return PermissionDeniedError
    if status == 429:
        violations = [v for d in _details(err, "QuotaFailure") for v in d.get("violations") or []]
        if any("PerDay" in str(v.get("quotaId", "")) for v in violations):
            return QuotaExhaustedError
    if status == 503 and "overloaded" in str(err.get("message", "")).lower():
        return OverloadedError
    return InternalServerError if status >= 500 else None


def _retry_delay(err: dict[str, Any]) -> float | None:
    for detail in _details(err, "RetryInfo"):
        match = _DURATION.match(str(detail.get("retryDelay", "")))
        if match:
            return float(match.group(1))
    return None
