"""`ToolCall`: one function call a model asked for, the same record on every provider."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["ToolCall", "parse_arguments"]


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for.

    Attributes:
        id: The call's id, echoed back in the tool result (`ChatMessage(role="tool",
            tool_call_id=...)`). Providers whose API has none make one up.
        name: The tool's name.
        arguments: The arguments, parsed from JSON (`{}` when they did not parse).
        raw_arguments: What the API sent, only when it did not parse as a JSON object.
        parse_error: Why the arguments did not parse (None when they did).
        signature: An opaque token the API wants back with the call when the conversation
            is sent again (Gemini's `thoughtSignature`: Gemini 3 refuses a replayed call
            without it). Kept as it came; None for APIs that send none.
    """

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    raw_arguments: str | None = None
    parse_error: str | None = None
    signature: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"ToolCall.name must be a non-empty str, got {self.name!r}")
        if not isinstance(self.arguments, dict):
            raise TypeError(f"ToolCall.arguments must be a dict, got {type(self.arguments).__name__}")

    @classmethod
    def parse(cls, id: str, name: str, arguments: str | Mapping[str, Any] | None) -> ToolCall:  # noqa: A002
        """A ToolCall from arguments as the API sent them: a JSON string (OpenAI, Mistral,
        streamed fragments) or an object (Anthropic, Gemini, Ollama). Never raises for bad JSON."""
        if arguments is None or isinstance(arguments, Mapping):
            return cls(id, name, dict(arguments or {}))
        parsed, error = parse_arguments(arguments)
        if error is None:
            return cls(id, name, parsed)
        return cls(id, name, {}, raw_arguments=arguments, parse_error=error)

    @property
    def arguments_json(self) -> str:
        """The arguments as JSON text (what OpenAI-style APIs want echoed back)."""
        if self.raw_arguments is not None:
            return self.raw_arguments
        return json.dumps(self.arguments, ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        """The call as a plain dict (JSON-able)."""
        row: dict[str, Any] = {"id": self.id, "name": self.name, "arguments": dict(self.arguments)}
        if self.parse_error is not None:
            row["raw_arguments"] = self.raw_arguments
            row["parse_error"] = self.parse_error
        if self.signature is not None:
            row["signature"] = self.signature
        return row

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        """From `to_dict()`'s form or the OpenAI form `{"id", "function": {"name", "arguments"}}`."""
        function = data.get("function")
        if isinstance(function, Mapping):
            return cls.parse(str(data.get("id") or ""), function.get("name", ""), function.get("arguments"))
        signature = data.get("signature")
        signature = str(signature) if signature is not None else None
        if data.get("parse_error"):
            return cls(str(data["id"]), data["name"], {}, data.get("raw_arguments"), data["parse_error"], signature)
        call = cls.parse(str(data.get("id") or ""), data.get("name", ""), data.get("arguments"))
        return replace(call, signature=signature) if signature is not None else call


def parse_arguments(text: str) -> tuple[dict[str, Any], str | None]:
    """`(arguments, None)` for a JSON object ("" counts as `{}`), else `({}, why)`."""
    if not text.strip():
        return {}, None  # a tool without parameters: OpenAI sends "", Anthropic no partial_json
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return {}, f"arguments are not valid JSON: {exc.msg} at position {exc.pos}"
    if not isinstance(value, dict):
        return {}, f"arguments must be a JSON object, got {type(value).__name__}"
    return value, None
