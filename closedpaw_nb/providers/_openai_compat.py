"""The OpenAI chat-completions mapping, shared by OpenAI, Mistral and custom endpoints.

Subclasses differ in class attributes (which field caps output, which carries the seed,
whether the stream is asked to include usage, how "must call a tool" is spelled) and in
`wire_call_id` (Mistral's id rule). Images go out as `image_url` parts (a data URL or the
https URL), tool calls and results in the OpenAI shapes, `response_format` as
`json_schema` (strict, via `strict_schema`) or `json_object`. Tool calls are parsed by one
`ToolCallAccumulator` whether streamed (fragments by index) or not.

Token counts when a stream has none: with `settings["tokenize_endpoint"]` (an absolute URL
of the server's own tokenizer: llama-cpp-python's `/extras/tokenize`, body `{"input"}`, or
llama.cpp's `/tokenize`, body `{"content"}`; `closedpaw_nb.local` sets it), the output is
counted there and `usage_source` is "tokenized"; otherwise the counts stay None and
`usage_source` is "missing". Nothing is ever estimated.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import urlsplit

from ..errors import (
    ClosedPawError,
    InternalServerError,
    OverloadedError,
    ProviderError,
    QuotaExhaustedError,
    RateLimitError,
)
from ..structured import ResponseFormat, strict_schema
from ..tools import Tool, ToolChoice
from ..transport.client import HTTPClient
from ..transport.message import decode_json
from ..transport.streams import SSEEvent
from ..types import ChatMessage, ChatResponse, ModelInfo
from ._wire import ErrorInfo, HTTPProvider, StreamState, finish
from .base import NO_OPTIONS, ChatOptions

__all__ = ["OpenAICompatibleProvider"]

FINISH_MAP = {"model_length": "length", "function_call": "tool_calls", "error": "other"}
QUOTA_CODES = {"insufficient_quota", "billing_hard_limit_reached"}


class OpenAICompatibleProvider(HTTPProvider):
    """Chat completions over `POST {base_url}/chat/completions` with SSE streaming.

    Takes text, images, structured output and tools (`capabilities`); a compatible server
    that lacks one of them answers with its own 400.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"text", "images", "structured", "tools"})
    max_tokens_field: ClassVar[str] = "max_tokens"
    seed_field: ClassVar[str] = "seed"
    include_stream_usage: ClassVar[bool] = True
    # Prefix between base_url and the endpoint: "" where base_url ends in /v1 (OpenAI's
    # convention), "/v1" where the SDK's base URL is the bare host (Mistral's).
    path_prefix: ClassVar[str] = ""
    # How the API spells "call at least one tool" (OpenAI "required", Mistral "any").
    required_tool_choice: ClassVar[str] = "required"
    # Whether a tool result carries the tool's name (Mistral's form has it; OpenAI's has not).
    tool_result_name: ClassVar[bool] = False

    # -- requests ---------------------------------------------------------------------

    def chat_request(
        self, messages: list[ChatMessage], model: str, options: ChatOptions, stream: bool
    ) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": model, "messages": [self.wire_message(m, messages) for m in messages]}
        if stream:
            body["stream"] = True
            if self.include_stream_usage:
                body["stream_options"] = {"include_usage": True}
        if options is not NO_OPTIONS:  # (the per-call case of a sweep: nothing more to add)
            self._add_options(body, options)
        return f"{self.path_prefix}/chat/completions", body

    def _add_options(self, body: dict[str, Any], options: ChatOptions) -> None:
        knobs = {
            "temperature": options.temperature,
            "top_p": options.top_p,
            self.max_tokens_field: options.max_tokens,
            "stop": list(options.stop) or None,
            self.seed_field: options.seed,
        }
        body.update({k: v for k, v in knobs.items() if v is not None})
        if options.response_format is not None:
            body["response_format"] = self.wire_response_format(options.response_format)
        if options.tools:
            body["tools"] = [self.wire_tool(t) for t in options.tools]
        if options.tool_choice is not None:
            body["tool_choice"] = self.wire_tool_choice(options.tool_choice)
        body.update(options.extra_body)

    def wire_message(self, message: ChatMessage, messages: list[ChatMessage]) -> dict[str, Any]:
        """One message in the chat-completions form."""
        content: Any = message.content
        if not isinstance(content, str):
            content = [part.to_dict() for part in content]  # text and image_url parts, OpenAI's shape
        row: dict[str, Any] = {"role": message.role, "content": content}
        if message.role == "tool":
            row["tool_call_id"] = self.wire_call_id(message.tool_call_id or "")
            if self.tool_result_name:
                row["name"] = message.name or _name_of_call(message.tool_call_id, messages)
        if message.tool_calls:
            # The assistant turn that made the calls goes back as it came; no text is null.
            row["content"] = content or None
            row["tool_calls"] = [
                {
                    "id": self.wire_call_id(call.id),
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json},
                }
                for call in message.tool_calls
            ]
        return row

    def wire_call_id(self, call_id: str) -> str:
        """A tool call id as this API accepts it (as given by default)."""
        return call_id

    def wire_response_format(self, fmt: ResponseFormat) -> dict[str, Any]:
        """`json_object` for "json"; a strict `json_schema` (rewritten by `strict_schema`) otherwise."""
        if fmt.kind == "json" or fmt.schema is None:
            return {"type": "json_object"}
        return {
            "type": "json_schema",
            "json_schema": {"name": fmt.name, "schema": strict_schema(fmt.schema), "strict": True},
        }

    def wire_tool(self, tool: Tool) -> dict[str, Any]:
        """`{"type": "function", "function": {name, description, parameters}}`."""
        function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
        if tool.description:
            function["description"] = tool.description
        return {"type": "function", "function": function}

    def wire_tool_choice(self, choice: ToolChoice) -> Any:
        """ "auto", "none", the API's "required" spelling, or a named function."""
        if choice.name is not None:
            return {"type": "function", "function": {"name": choice.name}}
        return self.required_tool_choice if choice.mode == "required" else choice.mode

    # -- responses --------------------------------------------------------------------

    def parse_response(self, data: Any, state: StreamState) -> None:
        choice = data["choices"][0]
        message = choice["message"]
        state.text = [message.get("content") or ""]
        state.model = data.get("model") or state.model
        if message.get("refusal"):
            self.refused(state, str(message["refusal"]))
        for index, call in enumerate(message.get("tool_calls") or ()):
            function = call.get("function") or {}
            self.accumulator(state).add_call(
                function.get("name") or "", _arguments(function), id=call.get("id"), index=index
            )
        finish(state, choice.get("finish_reason"), FINISH_MAP)
        self._usage(data.get("usage"), state)
        state.done = True

    def parse_event(self, event: SSEEvent, state: StreamState) -> str | None:
        if event.data.startswith("[DONE]"):
            state.done = True
            return None
        data = decode_json(event.data)
        if "error" in data:
            raise self._stream_error(data["error"])
        state.model = data.get("model") or state.model
        self._usage(data.get("usage"), state)
        text = None
        for choice in data.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if delta.get("refusal"):
                state.refusal = (state.refusal or "") + str(delta["refusal"])  # streamed in pieces
            for entry in delta.get("tool_calls") or []:
                function = entry.get("function") or {}
                self.accumulator(state).add_fragment(
                    entry.get("index"), id=entry.get("id"), name=function.get("name"), arguments=_arguments(function)
                )
            finish(state, choice.get("finish_reason"), FINISH_MAP)
        return text

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
            self.usage_seen(state)

    def _stream_error(self, err: Any) -> ProviderError:
        err = err if isinstance(err, dict) else {"message": str(err)}
        kind = f"{err.get('type', '')} {err.get('code', '')}".lower()
        cls: type[ProviderError] = InternalServerError
        if "overloaded" in kind:
            cls = OverloadedError
        elif "rate_limit" in kind:
            cls = RateLimitError
        return cls(f"error event in stream: {err.get('message', 'unknown error')}", provider=self.name)

    # -- counting with the server's tokenizer (settings["tokenize_endpoint"]) -----------

    async def count_missing_usage(self, response: ChatResponse) -> None:
        """Count the answer's tokens with `settings["tokenize_endpoint"]`, if set."""
        endpoint = self.config.settings.get("tokenize_endpoint")
        if response.completion_tokens is not None or not endpoint:
            return
        output = response.content + "".join(call.arguments_json for call in response.tool_calls)
        count = await self._tokenize(str(endpoint), output)
        if count is not None:
            response.completion_tokens = count
            response.tokens_used = count + (response.prompt_tokens or 0)
            response.usage_source = "tokenized"

    async def _tokenize(self, endpoint: str, text: str) -> int | None:
        """Tokens in `text` by the server's tokenizer, less what it adds to any text (a BOS
        token); None when the endpoint fails (the count then stays missing)."""
        parts = urlsplit(endpoint)
        origin = f"{parts.scheme}://{parts.netloc}"
        base = urlsplit(self.config.base_url or "")
        # The key goes only to the server it belongs to.
        same_server = (base.scheme, base.netloc) == (parts.scheme, parts.netloc)
        settings = self.config.settings
        client = HTTPClient(
            origin,
            self.auth_headers() if same_server else {},
            self.config.timeout,
            provider=self.name,
            proxy=settings.get("proxy"),
            ssl_context=settings.get("ssl_context"),
            address_check=settings.get("address_check"),
        )
        field = "input" if parts.path.rstrip("/").endswith("/extras/tokenize") else "content"
        try:
            counts = []
            for sample in (text, ""):
                reply = await client.request("POST", parts.path or "/", json={field: sample})
                tokens = reply.json().get("tokens") if reply.status_code < 400 else None
                if not isinstance(tokens, list):
                    return None
                counts.append(len(tokens))
            return max(counts[0] - counts[1], 0)
        except (ClosedPawError, ValueError, AttributeError):
            return None
        finally:
            await client.aclose()


def _arguments(function: dict[str, Any]) -> str | None:
    """A call's arguments as JSON text (Mistral's SDK form may be an object)."""
    arguments = function.get("arguments")
    return arguments if arguments is None or isinstance(arguments, str) else json.dumps(arguments)


def _name_of_call(call_id: str | None, messages: list[ChatMessage]) -> str | None:
    for message in messages:
        for call in message.tool_calls:
            if call.id == call_id:
                return call.name
    return None
