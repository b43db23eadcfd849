"""Anthropic Messages: messages with parts, tool calls, tool results, tools and structured
output in the API's own shapes (the request side of `providers.anthropic`).

- Images are `image` blocks with a `base64` or `url` source (raw base64, no `data:` prefix).
- An assistant turn's calls are `tool_use` blocks; results go back as `tool_result`
  blocks in one user turn (consecutive tool messages are merged into it).
- `response_format` with a schema uses the native `output_config.format` (GA since early
  2026); "json" (no schema), or `settings["structured_output"] = "tool"`, forces a call of
  a tool named `RESPONSE_TOOL` whose input is the answer instead.
"""

from __future__ import annotations

import copy
from typing import Any

from ..content import ImagePart, TextPart
from ..errors import ConfigError
from ..structured import ResponseFormat
from ..tools import Tool, ToolChoice
from ..types import ChatMessage

__all__ = ["RESPONSE_TOOL", "format_fields", "tool_fields", "wire_messages"]

# The forced tool's name: distinctive, so a tool of the caller's is never mistaken for it.
RESPONSE_TOOL = "structured_response"


def wire_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """The `messages` array (system prompts go to the top-level `system` instead)."""
    wire: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            result = {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": _result(message)}
            if wire and wire[-1]["role"] == "user" and _all_results(wire[-1]["content"]):
                wire[-1]["content"].append(result)
            else:
                wire.append({"role": "user", "content": [result]})
        elif message.tool_calls:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": message.text}] if message.text else []
            calls = message.tool_calls
            blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in calls]
            wire.append({"role": "assistant", "content": blocks})
        else:
            content = message.content if isinstance(message.content, str) else _blocks(message.content)
            wire.append({"role": message.role, "content": content})
    return wire


def tool_fields(tools: tuple[Tool, ...], choice: ToolChoice | None) -> dict[str, Any]:
    """`tools` (with `input_schema`) and `tool_choice` ({"type": auto|any|tool|none})."""
    if not tools:
        return {}
    fields: dict[str, Any] = {
        "tools": [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools]
    }
    if choice is not None:
        fields["tool_choice"] = _choice(choice)
    return fields


def format_fields(fmt: ResponseFormat, settings: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` (from `tool_fields`) with the answer's shape asked for natively or by a forced tool."""
    if fmt.kind == "json_schema" and fmt.schema is not None and settings.get("structured_output") != "tool":
        schema = _closed(copy.deepcopy(fmt.schema))
        return {**fields, "output_config": {"format": {"type": "json_schema", "schema": schema}}}
    schema = fmt.schema if fmt.schema is not None else {"type": "object"}
    tool = {"name": RESPONSE_TOOL, "description": "Give the answer in this shape.", "input_schema": schema}
    tools = [*fields.get("tools", []), tool]
    if any(t["name"] == RESPONSE_TOOL for t in tools[:-1]):
        raise ConfigError(f"the tool name {RESPONSE_TOOL!r} is reserved for structured output on Anthropic")
    # With tools of the caller's, the model may call one of them or answer through ours.
    choice = fields.get("tool_choice") if len(tools) > 1 else None
    return {**fields, "tools": tools, "tool_choice": choice or _forced(len(tools))}


def _forced(count: int) -> dict[str, Any]:
    return {"type": "tool", "name": RESPONSE_TOOL} if count == 1 else {"type": "any"}


def _choice(choice: ToolChoice) -> dict[str, Any]:
    if choice.name is not None:
        return {"type": "tool", "name": choice.name}
    return {"type": {"auto": "auto", "none": "none", "required": "any"}[choice.mode]}


def _blocks(parts: list[TextPart | ImagePart]) -> list[dict[str, Any]]:
    return [_image(p) if isinstance(p, ImagePart) else {"type": "text", "text": p.text} for p in parts]


def _image(part: ImagePart) -> dict[str, Any]:
    if part.url is not None:
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    return {"type": "image", "source": {"type": "base64", "media_type": part.media_type, "data": part.base64()}}


def _result(message: ChatMessage) -> str | list[dict[str, Any]]:
    # A tool result may hold images too (tool_result.content takes image blocks).
    return message.content if isinstance(message.content, str) else _blocks(message.content)


def _all_results(content: Any) -> bool:
    return isinstance(content, list) and all(b.get("type") == "tool_result" for b in content)


def _closed(node: Any) -> Any:
    """The API wants `additionalProperties: false` on every object (as its SDK sends)."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            node[key] = {name: _closed(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf"):
            node[key] = _closed(value)
    if node.get("type") == "object" and "additionalProperties" not in node:
        node["additionalProperties"] = False
    return node
