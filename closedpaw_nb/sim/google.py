"""Gemini (Generative Language API) wire format (``/google/v1beta``).

``POST models/{m}:generateContent`` and ``:streamGenerateContent``; with ``?alt=sse`` the
stream is data-only SSE (CRLF-terminated, as observed) ending at EOF, else one JSON array.
The last chunk carries ``finishReason`` and the final ``usageMetadata``. Keys arrive in
``x-goog-api-key`` (``?key=`` is accepted too, and recorded, like the real API).

Tools are ``functionDeclarations`` (``parametersJsonSchema`` or an OpenAPI ``parameters``)
with ``toolConfig.functionCallingConfig`` (mode AUTO/ANY/NONE, ``allowedFunctionNames``); a
call is a whole ``functionCall`` part, finishing with ``STOP``. Results come back as
``functionResponse`` parts. ``generationConfig.responseMimeType: application/json`` asks for
JSON, with ``responseJsonSchema`` or ``responseSchema``. Images are ``inlineData`` (base64,
either alphabet) or ``fileData`` parts. The SDK mixes camelCase and snake_case: both are read.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._google_request import calling, declarations, decodes, field, function_results, response_schema
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
from ._text import Generation, count_tokens

if TYPE_CHECKING:
    from ._faults import Fault

_CANONICAL = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGES = {
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_BAD_KEY = "API key not valid. Please pass a valid API key."
_TYPE = "type.googleapis.com/google.rpc."
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "stop_sequence": "STOP", "tool_calls": "STOP"}
_BAD_BYTES = "Invalid value at 'contents.parts.inline_data.data' (TYPE_BYTES), Base64 decoding failed"
_ACTIONS = ("generateContent", "streamGenerateContent")


def error_body(status: int, message: str | None = None, details: list[Any] | None = None) -> dict[str, Any]:
    """The google.rpc Status body: ``{"error": {"code", "message", "status", "details"?}}``."""
    fallback = "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"
    error: dict[str, Any] = {
        "code": status,
        "message": message or _MESSAGES.get(status, "Request contains an invalid argument."),
        "status": _CANONICAL.get(status, fallback),
    }
    if details:
        error["details"] = details
    return {"error": error}


def quota_details(model: str | None, retry_delay: str | None, per: str | None) -> list[Any]:
    """429 details: ``QuotaFailure`` (per ``"day"`` or ``"minute"``), ``Help`` and ``RetryInfo``."""
    details: list[Any] = []
    if per:
        period = "Day" if per == "day" else "Minute"
        violation = {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": f"GenerateRequestsPer{period}PerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": model or "unknown"},
            "quotaValue": "50" if per == "day" else "15",
        }
        details.append({"@type": _TYPE + "QuotaFailure", "violations": [violation]})
        link = {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }
        details.append({"@type": _TYPE + "Help", "links": [link]})
    if retry_delay:
        details.append({"@type": _TYPE + "RetryInfo", "retryDelay": retry_delay})
    return details


class GoogleProtocol(WireProtocol):
    """generateContent, streamGenerateContent and models, as generativelanguage speaks them."""

    name = "google"

    def routes(self) -> list[RouteSpec]:
        """Routes for both ``v1beta`` and ``v1``."""
        specs = []
        for version in ("v1beta", "v1"):
            specs += [
                RouteSpec(f"/{version}/models", ("GET",), self.list_models, "models"),
                RouteSpec(f"/{version}/models/{{name:path}}", ("GET",), self.get_model, "models"),
                RouteSpec(f"/{version}/models/{{name:path}}", ("POST",), self.chat, "chat"),
            ]
        return specs

    def inspect(self, call: Call) -> None:
        """The model and action come from the path (``models/sim-small:streamGenerateContent``)."""
        model, _, action = call.path_params.get("name", "").partition(":")
        call.model = model or None
        call.streaming = action == "streamGenerateContent"

    def authenticate(self, call: Call) -> Reply | None:
        """403 ``PERMISSION_DENIED`` without a key; 400 ``API_KEY_INVALID`` for a bad one."""
        problem = key_problem(call.headers.get("x-goog-api-key") or call.params.get("key"))
        if problem == "missing":
            return Reply(403, error_body(403, _NO_KEY))
        if problem == "invalid":
            info = {
                "@type": _TYPE + "ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
            localized = {"@type": _TYPE + "LocalizedMessage", "locale": "en-US", "message": _BAD_KEY}
            return Reply(400, error_body(400, _BAD_KEY, [info, localized]))
        return None

    def error(self, call: Call, status: int, message: str | None = None, code: str | None = None) -> Reply:
        """The google.rpc Status error (``code`` is ignored: status decides the canonical code)."""
        return Reply(status, error_body(status, message))

    def fault_error(self, call: Call, fault: Fault) -> Reply:
        """Adds ``QuotaFailure``/``RetryInfo`` details when the fault asks for them."""
        status = fault.status or 500
        details = quota_details(call.model, fault.retry_delay, fault.quota)
        return Reply(status, error_body(status, fault.message, details))

    def not_found(self, call: Call, model: str) -> Reply:
        """404 ``NOT_FOUND`` in the API's words."""
        version = call.path.split("/")[2] if call.path.count("/") >= 2 else "v1beta"
        message = (
            f"models/{model} is not found for API version {version}, or is not supported for "
            "generateContent. Call ListModels to see the list of available models and their supported methods."
        )
        return Reply(404, error_body(404, message))

    # -- requests ---------------------------------------------------------------------

    def chat(self, call: Call) -> ParsedChat | Reply:
        """Parse ``contents``, ``systemInstruction`` and ``generationConfig`` (camelCase or snake_case)."""
        model, _, action = call.path_params["name"].partition(":")
        if action not in _ACTIONS:
            return Reply(404, error_body(404, f"Method not found: {action or '(none)'}"))
        body = call.body if isinstance(call.body, dict) else {}
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return self.error(call, 400, "* GenerateContentRequest.contents: contents is not specified")
        system = _parts_text(field(body, "systemInstruction") or {})
        texts = [_parts_text(c) for c in contents if isinstance(c, dict)]
        users = [_parts_text(c) for c in contents if isinstance(c, dict) and c.get("role", "user") == "user"]
        config = field(body, "generationConfig") or {}
        parts = [p for c in contents if isinstance(c, dict) for p in c.get("parts") or [] if isinstance(p, dict)]
        images = [field(p, "inlineData") for p in parts if field(p, "inlineData") or field(p, "fileData")]
        if any(isinstance(i, dict) and not decodes(i.get("data")) for i in images):
            return self.error(
                call, 400, "Invalid value at 'contents.parts.inline_data.data' (TYPE_BYTES), Base64 decoding failed"
            )
        results = function_results(contents)
        users = [u for u in users if u.strip()]
        mode, allowed = calling(body)
        json_mode = field(config, "responseMimeType") == "application/json"
        return ParsedChat(
            model=model,
            prompt=users[-1] if users else "",
            prompt_tokens=count_tokens([system, *texts, *results]),
            temperature=config.get("temperature"),
            seed=config.get("seed"),
            max_tokens=field(config, "maxOutputTokens"),
            stop=tuple(field(config, "stopSequences") or ()),
            stream=action == "streamGenerateContent",
            tools=declarations(body),
            tool_choice=allowed[0] if mode == "required" and len(allowed) == 1 else mode,
            schema=response_schema(config) if json_mode else None,
            json_mode=json_mode,
            images=len(images),
            tool_results=tuple(results),
        )

    def list_models(self, call: Call) -> Reply:
        """``{"models": [...], "nextPageToken"?}`` with ``pageSize`` (default 50, max 1000)."""
        try:
            size = min(int(call.params.get("pageSize", "50")), 1000)
            offset = _decode_token(call.params.get("pageToken"))
        except ValueError:
            return self.error(call, 400, "Invalid pageSize or pageToken.")
        size = 50 if size <= 0 else size
        names = call.catalog[offset : offset + size]
        body: dict[str, Any] = {"models": [self._model(n) for n in names]}
        if offset + size < len(call.catalog):
            body["nextPageToken"] = base64.urlsafe_b64encode(f"offset:{offset + size}".encode()).decode()
        return Reply(200, body)

    def get_model(self, call: Call) -> Reply:
        """One ``Model``."""
        return Reply(200, self._model(call.path_params["name"]))

    def _model(self, name: str) -> dict[str, Any]:
        return {
            "name": f"models/{name}",
            "baseModelId": name,
            "version": "001",
            "displayName": f"{name} (simulated)",
            "description": f"Simulated model {name} served by closedpaw_nb.sim; output is not from a real model.",
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 8192,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
            "temperature": 1.0,
            "maxTemperature": 2.0,
            "topP": 0.95,
            "topK": 64,
        }

    # -- responses --------------------------------------------------------------------

    def render(self, call: Call, req: ParsedChat, gen: Generation) -> Reply:
        """A ``GenerateContentResponse``."""
        return Reply(200, self._chunk(call, req, gen, gen.text, final=True, calls=True))

    def media_type(self, call: Call) -> str:
        """SSE with ``alt=sse``, else a JSON array."""
        return "text/event-stream" if call.params.get("alt") == "sse" else "application/json"

    def frames(self, call: Call, req: ParsedChat, gen: Generation) -> Iterator[Frame]:
        """One chunk per token; the last one carries ``finishReason``, full usage and any
        ``functionCall`` parts (Gemini sends calls whole, never in fragments)."""
        pieces = list(gen.tokens) or ([] if gen.tool_calls else [""])
        if gen.tool_calls:
            pieces.append("")
        last = len(pieces) - 1
        as_sse = call.params.get("alt") == "sse"
        for i, piece in enumerate(pieces):
            chunk = self._chunk(call, req, gen, piece, final=i == last, calls=i == last)
            if as_sse:
                yield Frame(sse(chunk, end="\r\n\r\n"))
            else:
                yield Frame((b"[" if i == 0 else b",\r\n") + json.dumps(chunk).encode())
        if not as_sse:
            yield Frame(b"]", "tail")

    def stream_error(self, call: Call, status: int, message: str | None = None) -> bytes:
        """``data: {"error": {...}}`` (or the array element form without ``alt=sse``)."""
        body = error_body(status, message)
        if call.params.get("alt") == "sse":
            return sse(body, end="\r\n\r\n")
        return b",\r\n" + json.dumps(body).encode() + b"]"

    def _chunk(
        self, call: Call, req: ParsedChat, gen: Generation, text: str, *, final: bool, calls: bool = False
    ) -> dict[str, Any]:
        parts: list[Any] = [{"text": text}] if text or not (calls and gen.tool_calls) else []
        if calls:
            call_parts: list[dict[str, Any]] = [
                {"functionCall": {"name": name, "args": args}} for _, name, args in gen.tool_calls
            ]
            if call_parts:  # Gemini 3: the first call of a turn carries the turn's signature
                call_parts[0]["thoughtSignature"] = _thought_signature(call.request_id)
            parts += call_parts
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        usage: dict[str, Any] = {"promptTokenCount": gen.prompt_tokens, "totalTokenCount": gen.prompt_tokens}
        if final:
            candidate["finishReason"] = _FINISH[gen.finish]
            # Zero counts are omitted on the wire, as the real API does.
            if gen.completion_tokens:
                usage["candidatesTokenCount"] = gen.completion_tokens
            usage["totalTokenCount"] = gen.prompt_tokens + gen.completion_tokens
            usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": gen.prompt_tokens}]
        return {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": req.model,
            "responseId": call.request_id[:22],
        }


def _thought_signature(request_id: str) -> str:
    """An opaque base64 token, as Gemini 3 sends with a turn's first ``functionCall`` part (a
    client must send it back with the call; this simulator does not refuse a replay without it)."""
    return base64.b64encode(hashlib.sha256(request_id.encode()).digest()[:24]).decode()


def _parts_text(content: Any) -> str:
    if isinstance(content, dict):
        return text_of(content.get("parts") or [])
    return text_of(content)


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        prefix, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(token) from exc
    if prefix != "offset" or not value.isdigit():
        raise ValueError(token)
    return int(value)
