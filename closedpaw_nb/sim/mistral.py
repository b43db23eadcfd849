"""Mistral chat completions wire format (``/mistral/v1``).

OpenAI-like, with Mistral's differences: unknown body fields get 422 ``extra_forbidden``
(``stream_options``, ``max_completion_tokens`` and ``seed`` among them; the seed is
``random_seed``), usage rides on the ``finish_reason`` chunk with no opt-in, and auth failures
come from the gateway as ``{"message": "Unauthorized", "request_id": ...}``. Tool calls carry
9-character ids (``[a-zA-Z0-9]{9}``, Mistral's rule) and an ``index``; streamed, each call
arrives whole in one delta, on the chunk with ``finish_reason: "tool_calls"`` and the usage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from ._protocol import MODEL_CREATED, Call, Frame, ParsedChat, Reply, key_problem, now, sse
from ._text import Generation
from .openai import OpenAIProtocol

# The fields of the SDK's ChatCompletionRequest/ChatCompletionStreamRequest.
_ALLOWED = frozenset(
    "model messages temperature top_p top_k max_tokens min_tokens stream stop random_seed metadata "
    "response_format tools tool_choice presence_penalty frequency_penalty repetition_penalty n "
    "prediction parallel_tool_calls prompt_mode reasoning_effort safe_prompt guardrails logprobs "
    "top_logprobs prompt_logprobs top_prompt_logprobs prompt_cache_key service_tier".split()
)
# status -> (type, code, message)
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request"),
    404: ("invalid_model", "1500", "Invalid model"),
    429: ("rate_limited", "1300", "Rate limit exceeded"),
    500: ("internal_server_error", "3000", "Internal server error"),
    503: ("service_unavailable", "3505", "Service unavailable"),
}
_FINISH = {"stop": "stop", "length": "length", "stop_sequence": "stop", "tool_calls": "tool_calls"}


def error_body(status: int, message: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The application-level error body (``{"object": "error", ...}``) for ``status``."""
    fallback = ("internal_server_error" if status >= 500 else "invalid_request_error", None, "Request failed")
    kind, default_code, default_message = _ERRORS.get(status, fallback)
    text = message or default_message
    return {"object": "error", "message": text, "type": code or kind, "param": None, "code": default_code}


def extra_forbidden(body: dict[str, Any]) -> dict[str, Any] | None:
    """FastAPI's 422 body for unknown top-level fields, or None when all are known."""
    extra = [name for name in body if name not in _ALLOWED]
    if not extra:
        return None
    detail = [
        {"type": "extra_forbidden", "loc": ["body", name], "msg": "Extra inputs are not permitted", "input": body[name]}
        for name in extra
    ]
    return {"detail": detail}


class MistralProtocol(OpenAIProtocol):
    """Chat completions and models as api.mistral.ai speaks them."""

    name = "mistral"

    def authenticate(self, call: Call) -> Reply | None:
        """401 ``{"message": "Unauthorized", "request_id": ...}`` from the gateway."""
        if key_problem(call.bearer()) is None:
            return None
        return Reply(401, {"message": "Unauthorized", "request_id": call.request_id})

    def headers(self, call: Call) -> dict[str, str]:
        """``x-request-id`` and ``mistral-correlation-id``."""
        return {"x-request-id": call.request_id, "mistral-correlation-id": call.request_id}

    def error(self, call: Call, status: int, message: str | None = None, code: str | None = None) -> Reply:
        """Application errors; 401 uses the gateway form; ``code`` overrides ``type``."""
        if status == 401:
            return Reply(401, {"message": message or "Unauthorized", "request_id": call.request_id})
        if status == 422:
            detail = {"type": "value_error", "loc": ["body"], "msg": message or "Invalid request"}
            return Reply(422, {"detail": [detail]})
        return Reply(status, error_body(status, message, code))

    def not_found(self, call: Call, model: str) -> Reply:
        """404 ``invalid_model``."""
        return self.error(call, 404, f"Invalid model: {model}")

    def chat(self, call: Call) -> ParsedChat | Reply:
        """Reject unknown fields (422), then parse like OpenAI but with ``random_seed``."""
        body = call.body if isinstance(call.body, dict) else {}
        forbidden = extra_forbidden(body)
        if forbidden is not None:
            return Reply(422, forbidden)
        parsed = super().chat(call)
        if isinstance(parsed, Reply):
            return parsed
        return replace(parsed, seed=body.get("random_seed"))

    def _model(self, name: str) -> dict[str, Any]:
        capabilities = {"completion_chat": True, "function_calling": True, "completion_fim": False, "vision": True}
        return {
            "id": name,
            "object": "model",
            "created": MODEL_CREATED,
            "owned_by": "closedpaw-simulated",
            "capabilities": capabilities,
            "name": name,
            "description": f"Simulated model {name} served by closedpaw_nb.sim.",
            "max_context_length": 32768,
            "aliases": [],
            "deprecation": None,
            "default_model_temperature": 0.3,
            "type": "base",
        }

    def render(self, call: Call, req: ParsedChat, gen: Generation) -> Reply:
        """A ``chat.completion`` with ``usage``."""
        message = {"role": "assistant", "tool_calls": _tool_calls(gen) or None, "content": gen.text}
        choice = {"index": 0, "message": message, "finish_reason": _FINISH[gen.finish]}
        return Reply(200, self._base(call, req, "chat.completion") | {"usage": _usage(gen), "choices": [choice]})

    def frames(self, call: Call, req: ParsedChat, gen: Generation) -> Iterator[Frame]:
        """Role chunk, token chunks, a finish chunk carrying ``usage``, ``[DONE]``."""

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return self._base(call, req, "chat.completion.chunk") | {"choices": [choice]}

        yield Frame(sse(chunk({"role": "assistant", "content": ""})), "head")
        for token in gen.tokens:
            yield Frame(sse(chunk({"content": token})))
        calls = _tool_calls(gen)
        if calls:
            # Whole calls in one delta, together with the finish reason and usage (as observed).
            yield Frame(sse(chunk({"content": "", "tool_calls": calls}, "tool_calls") | {"usage": _usage(gen)}))
            yield Frame(sse("[DONE]"), "tail")
            return
        yield Frame(sse(chunk({"content": ""}, _FINISH[gen.finish]) | {"usage": _usage(gen)}), "tail")
        yield Frame(sse("[DONE]"), "tail")

    def stream_error(self, call: Call, status: int, message: str | None = None) -> bytes:
        """An application error object as a data event."""
        return sse(error_body(status, message))

    def _base(self, call: Call, req: ParsedChat, kind: str) -> dict[str, Any]:
        return {"id": call.request_id, "object": kind, "created": now(), "model": req.model}


def _tool_calls(gen: Generation) -> list[dict[str, Any]]:
    return [
        {"id": call_id[:9], "type": "function", "function": {"name": name, "arguments": json.dumps(args)}, "index": i}
        for i, (call_id, name, args) in enumerate(gen.tool_calls)
    ]


def _usage(gen: Generation) -> dict[str, int]:
    total = gen.prompt_tokens + gen.completion_tokens
    return {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens, "total_tokens": total}
