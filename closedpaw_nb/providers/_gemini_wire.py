"""Gemini `generateContent`: contents with parts, function calls and responses, tools and
structured output in the API's own shapes (the request side of `providers.google`).

- Images are `inlineData` parts ({mimeType, data}: raw base64). Gemini takes no web URL
  inline: `fileData` holds a Files API URI, so only such URIs are sent as `fileData`, and
  any other https image is refused before sending (nothing is fetched for you).
- An assistant turn's calls are `functionCall` parts of a `model` turn; results go back as
  `functionResponse` parts ({"output": ...}) in one `user` turn.
- `tools: [{functionDeclarations: [...]}]` with `parametersJsonSchema`, and
  `toolConfig.functionCallingConfig` {mode: AUTO|ANY|NONE, allowedFunctionNames}.
- `response_format`: `responseMimeType: application/json` plus `responseJsonSchema`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..content import ImagePart, TextPart
from ..errors import ConfigError
from ..structured import ResponseFormat
from ..tools import Tool, ToolCall, ToolChoice
from ..types import ChatMessage
from ._wire import tool_name_for

__all__ = ["format_config", "tool_fields", "wire_contents"]

# Files uploaded with the Files API are the only URIs `fileData` takes on this API.
FILES_API = "https://generativelanguage.googleapis.com/"
# Ids the accumulator made up because Gemini sent none: never sent back as Gemini's own.
_MINTED_ID = re.compile(r"^call_\d+$")


def wire_contents(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """The `contents` array (system prompts go to `systemInstruction` instead)."""
    contents: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            part = {"functionResponse": _response(message, messages)}
            last = contents[-1] if contents else None
            if last is not None and last["role"] == "user" and all("functionResponse" in p for p in last["parts"]):
                last["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
            continue
        parts = _parts(message.content)
        if message.tool_calls:
            parts = [p for p in parts if p.get("text")]  # an empty text part is refused
            calls = message.tool_calls
            parts += [_call_part(call) for call in calls]
        contents.append({"role": "model" if message.role == "assistant" else "user", "parts": parts})
    return contents


def _call_part(call: ToolCall) -> dict[str, Any]:
    """A call as the `functionCall` part it came in, with its `thoughtSignature` (Gemini 3
    refuses a replayed call that lost it)."""
    part: dict[str, Any] = {"functionCall": _with_id({"name": call.name, "args": call.arguments}, call.id)}
    if call.signature:
        part["thoughtSignature"] = call.signature
    return part


def tool_fields(tools: tuple[Tool, ...], choice: ToolChoice | None) -> dict[str, Any]:
    """`tools` (one entry of `functionDeclarations`) and `toolConfig`."""
    if not tools:
        return {}
    declarations = [{"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters} for t in tools]
    fields: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    if choice is not None:
        config: dict[str, Any] = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice.mode]}
        if choice.name is not None:
            config["allowedFunctionNames"] = [choice.name]
        fields["toolConfig"] = {"functionCallingConfig": config}
    return fields


def format_config(fmt: ResponseFormat) -> dict[str, Any]:
    """The `generationConfig` fields for the answer's shape (JSON Schema dialect)."""
    config: dict[str, Any] = {"responseMimeType": "application/json"}
    if fmt.schema is not None:
        config["responseJsonSchema"] = fmt.schema
    return config


def _parts(content: str | list[TextPart | ImagePart]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    return [_image(p) if isinstance(p, ImagePart) else {"text": p.text} for p in content]


def _image(part: ImagePart) -> dict[str, Any]:
    if part.url is None:
        return {"inlineData": {"mimeType": part.media_type, "data": part.base64()}}
    if part.url.startswith(FILES_API) and part.media_type is not None:
        return {"fileData": {"mimeType": part.media_type, "fileUri": part.url}}
    raise ConfigError(
        f"not sent: Gemini cannot read an image from a web URL ({part.url[:60]}); pass the image's "
        "bytes (closedpaw_nb.image(path_or_bytes)) or a Files API URI with a known image type"
    )


def _response(message: ChatMessage, messages: list[ChatMessage]) -> dict[str, Any]:
    try:
        output: Any = json.loads(message.text)
    except ValueError:
        output = message.text
    response = {"name": tool_name_for(message, messages), "response": {"output": output}}
    return _with_id(response, message.tool_call_id)


def _with_id(part: dict[str, Any], call_id: str | None) -> dict[str, Any]:
    if call_id and not _MINTED_ID.match(call_id):
        part["id"] = call_id
    return part
