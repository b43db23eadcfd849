"""OpenAI Chat Completions wire format (``/openai/v1``), also the OpenAI-compatible endpoint.

Stream: a role-only first chunk, one content chunk per token, a finish chunk with an empty
delta, then (only with ``stream_options.include_usage``) a ``choices: []`` usage chunk, then
``data: [DONE]``. A tool call streams as one ``delta.tool_calls`` entry with its ``index``,
``id``, ``type`` and name (arguments ``""``), then one entry per word piece of the arguments
(index and an ``arguments`` fragment only: the SDK concatenates every string it is sent again),
and the finish reason ``tool_calls``.

Requests: ``tools`` (function tools), ``tool_choice``, ``response_format`` (``json_schema``,
``json_object``), ``image_url`` content parts and ``role: "tool"`` results are read into the
neutral :class:`ParsedChat`; ``Simulator.generate`` decides the answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ._protocol import (
    MODEL_CREATED,
    Call,
    Frame,
    ParsedChat,
    Reply,
    RouteSpec,
    WireProtocol,
    key_problem,
    now,
    sse,
    text_of,
)
from ._text import Generation, argument_pieces, count_tokens

_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
# Never echo the key back (the real API shows a masked copy; we show none).
_INVALID_KEY = "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."

# status -> (type, code, message)
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", _INVALID_KEY),
    403: ("request_forbidden", "unsupported_country_region_territory", "Country, region, or territory not supported"),
    404: ("invalid_request_error", "model_not_found", "The requested resource does not exist."),
    408: ("timeout", None, "Request timed out."),
    409: ("invalid_request_error", "conflict", "The request conflicts with another request."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
_QUOTA = "You exceeded your current quota, please check your plan and billing details."
_FINISH = {"stop": "stop", "length": "length", "stop_sequence": "stop", "tool_calls": "tool_calls"}


def error_body(status: int, message: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The ``{"error": {...}}`` body for ``status`` (``code="insufficient_quota"`` for a quota 429)."""
    fallback = ("server_error" if status >= 500 else "invalid_request_error", None, "Request failed.")
    kind, default_code, default_message = _ERRORS.get(status, fallback)
    if code == "insufficient_quota":
        kind, default_message = "insufficient_quota", _QUOTA
    return {"error": {"message": message or default_message, "type": kind, "param": None, "code": code or default_code}}


class OpenAIProtocol(WireProtocol):
    """Chat completions and models, as api.openai.com and vLLM/llama.cpp/Ollama ``/v1`` speak them."""

    name = "openai"

    def routes(self) -> list[RouteSpec]:
        """``POST /chat/completions``, ``GET /models``, ``GET /models/{id}``."""
        return [
            RouteSpec("/chat/completions", ("POST",), self.chat, "chat"),
            RouteSpec("/models", ("GET",), self.list_models, "models"),
            RouteSpec("/models/{model:path}", ("GET",), self.get_model, "models"),
        ]

    def authenticate(self, call: Call) -> Reply | None:
        """401 ``invalid_api_key`` (or the missing-key message); no auth when not required."""
        problem = key_problem(call.bearer()) if call.requires_key else None
        if problem is None:
            return None
        body = error_body(401)
        if problem == "missing":
            body["error"].update(message=_MISSING_KEY, code=None)
        return Reply(401, body)

    def headers(self, call: Call) -> dict[str, str]:
        """``x-request-id`` on every response."""
        return {"x-request-id": f"req_{call.request_id}"}

    def error(self, call: Call, status: int, message: str | None = None, code: str | None = None) -> Reply:
        """``{"error": {"message", "type", "param", "code"}}``."""
        return Reply(status, error_body(status, message, code))

    def not_found(self, call: Call, model: str) -> Reply:
        """404 ``model_not_found``."""
        message = f"The model `{model}` does not exist or you do not have access to it."
        return self.error(call, 404, message, "model_not_found")

    # -- requests ---------------------------------------------------------------------

    def chat(self, call: Call) -> ParsedChat | Reply:
        """Parse a chat completion request (system/developer messages are the system prompt)."""
        body = call.body if isinstance(call.body, dict) else {}
        invalid = self._validate(call, body)
        if invalid is not None:
            return invalid
        messages = body["messages"]
        texts = [text_of(m.get("content")) for m in messages if isinstance(m, dict)]
        users = [text_of(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        stop = body.get("stop") or ()
        schema, json_mode = response_format(body.get("response_format"))
        stream_options = body.get("stream_options")
        return ParsedChat(
            model=body["model"],
            prompt=users[-1] if users else "",
            prompt_tokens=count_tokens(texts),
            temperature=body.get("temperature"),
            seed=body.get("seed"),
            max_tokens=body.get("max_completion_tokens", body.get("max_tokens")),
            stop=(stop,) if isinstance(stop, str) else tuple(stop),
            stream=body.get("stream") is True,
            tools=function_tools(body.get("tools")),
            tool_choice=tool_choice(body.get("tool_choice")),
            schema=schema,
            json_mode=json_mode,
            images=count_images(messages),
            tool_results=tool_results(messages),
            include_usage=isinstance(stream_options, dict) and stream_options.get("include_usage") is True,
        )

    def _validate(self, call: Call, body: dict[str, Any]) -> Reply | None:
        if not isinstance(body.get("model"), str):
            return self.error(call, 400, "you must provide a model parameter")
        if not isinstance(body.get("messages"), list):
            return self.error(call, 400, "Missing required parameter: 'messages'.", "missing_required_parameter")
        if body.get("stream_options") is not None and body.get("stream") is not True:
            return self.error(call, 400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
        return None

    def list_models(self, call: Call) -> Reply:
        """``{"object": "list", "data": [...]}`` (no pagination)."""
        return Reply(200, {"object": "list", "data": [self._model(name) for name in call.catalog]})

    def get_model(self, call: Call) -> Reply:
        """One model object."""
        return Reply(200, self._model(call.path_params["model"]))

    def _model(self, name: str) -> dict[str, Any]:
        # The Model object has no description field, so owned_by carries the label.
        return {"id": name, "object": "model", "created": MODEL_CREATED, "owned_by": "closedpaw-simulated"}

    # -- responses --------------------------------------------------------------------

    def render(self, call: Call, req: ParsedChat, gen: Generation) -> Reply:
        """A ``chat.completion`` object."""
        content = gen.text if gen.text or not gen.tool_calls else None
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
        if gen.tool_calls:
            message["tool_calls"] = [
                {"id": f"call_{call_id}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                for call_id, name, args in gen.tool_calls
            ]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": _FINISH[gen.finish]}
        return Reply(200, self._envelope(call, req, "chat.completion", [choice]) | {"usage": _usage(gen)})

    def frames(self, call: Call, req: ParsedChat, gen: Generation) -> Iterator[Frame]:
        """Role chunk, token chunks, finish chunk, optional usage chunk, ``[DONE]``."""
        include_usage = req.include_usage
        extra = {"usage": None} if include_usage else {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return sse(self._envelope(call, req, "chat.completion.chunk", [choice]) | extra)

        head = "" if gen.tokens or not gen.tool_calls else None
        yield Frame(chunk({"role": "assistant", "content": head, "refusal": None}), "head")
        for token in gen.tokens:
            yield Frame(chunk({"content": token}))
        for index, (call_id, name, args) in enumerate(gen.tool_calls):
            # id, type and name once per index: the SDK's accumulator concatenates repeats.
            first = {"name": name, "arguments": ""}
            yield Frame(
                chunk(
                    {"tool_calls": [{"index": index, "id": f"call_{call_id}", "type": "function", "function": first}]}
                )
            )
            for piece in argument_pieces(args):
                yield Frame(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        yield Frame(chunk({}, _FINISH[gen.finish]), "tail")
        if include_usage:
            usage = self._envelope(call, req, "chat.completion.chunk", []) | {"usage": _usage(gen)}
            yield Frame(sse(usage), "tail")
        yield Frame(sse("[DONE]"), "tail")

    def stream_error(self, call: Call, status: int, message: str | None = None) -> bytes:
        """``data: {"error": {...}}``, which the SDK raises as ``APIError``."""
        return sse(error_body(status, message))

    def _envelope(self, call: Call, req: ParsedChat, kind: str, choices: list[Any]) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{call.request_id[:24]}",
            "object": kind,
            "created": now(),
            "model": req.model,
            "choices": choices,
            "service_tier": "default",
            "system_fingerprint": "fp_closedpaw_sim",
        }


def function_tools(tools: Any) -> tuple[dict[str, Any], ...]:
    """``tools[].function`` of the OpenAI shape as neutral ``{"name", "description", "parameters"}``."""
    out = []
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            parameters = function.get("parameters")
            out.append(
                {
                    "name": function["name"],
                    "description": str(function.get("description") or ""),
                    "parameters": parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}},
                }
            )
    return tuple(out)


def tool_choice(value: Any) -> str | None:
    """``"auto"``/``"none"``/``"required"``/``"any"`` as given; a named function as its name."""
    if isinstance(value, str):
        return value
    function = value.get("function") if isinstance(value, dict) else None
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return str(function["name"])
    return None


def response_format(value: Any) -> tuple[dict[str, Any] | None, bool]:
    """(schema, json_mode) of a ``response_format``: ``json_schema`` gives its schema,
    ``json_object`` JSON mode, anything else (``text``, absent) neither."""
    if not isinstance(value, dict):
        return None, False
    if value.get("type") == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return (schema, False) if isinstance(schema, dict) else (None, True)
    return None, value.get("type") == "json_object"


def count_images(messages: list[Any]) -> int:
    """Number of ``image_url`` parts in the messages' content lists."""
    return sum(
        1
        for m in messages
        if isinstance(m, dict) and isinstance(m.get("content"), list)
        for part in m["content"]
        if isinstance(part, dict) and part.get("type") == "image_url"
    )


def tool_results(messages: list[Any]) -> tuple[str, ...]:
    """Contents of the ``role: "tool"`` messages after the last user message, in order."""
    users = [i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"]
    start = users[-1] + 1 if users else 0
    return tuple(text_of(m.get("content")) for m in messages[start:] if isinstance(m, dict) and m.get("role") == "tool")


def _usage(gen: Generation) -> dict[str, Any]:
    return {
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": gen.completion_tokens,
        "total_tokens": gen.prompt_tokens + gen.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
