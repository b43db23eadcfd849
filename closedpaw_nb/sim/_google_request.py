"""Reading a Gemini request's tools, tool config, response schema, images and function
results, in camelCase or snake_case (the SDK mixes both), into neutral terms for
``sim.google``."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

__all__ = ["calling", "declarations", "decodes", "field", "function_results", "response_schema"]

_MODES = {"AUTO": "auto", "VALIDATED": "auto", "ANY": "required", "NONE": "none"}


def field(obj: dict[str, Any], camel: str) -> Any:
    """Read a proto-JSON field by its camelCase or snake_case name."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return obj.get(camel, obj.get(snake))


def decodes(data: Any) -> bool:
    """Whether inline data is base64 (the SDK sends the URL-safe alphabet; both are taken)."""
    try:
        base64.b64decode(str(data or "").replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def declarations(body: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Every ``functionDeclarations`` entry as ``{"name", "description", "parameters"}``."""
    found = []
    for tool in body.get("tools") or ():
        for fn in (field(tool, "functionDeclarations") or ()) if isinstance(tool, dict) else ():
            params = field(fn, "parametersJsonSchema") or _lower_types(fn.get("parameters") or {"type": "object"})
            found.append({"name": fn.get("name"), "description": fn.get("description", ""), "parameters": params})
    return tuple(found)


def calling(body: dict[str, Any]) -> tuple[str | None, list[str]]:
    """``functionCallingConfig``: the neutral mode (None when unset) and the allowed names."""
    config = field(field(body, "toolConfig") or {}, "functionCallingConfig") or {}
    return _MODES.get(str(config.get("mode", "")).upper()), list(field(config, "allowedFunctionNames") or [])


def response_schema(config: dict[str, Any]) -> dict[str, Any] | None:
    """``responseJsonSchema`` as it is, or the OpenAPI ``responseSchema`` with lowercase types."""
    schema = field(config, "responseJsonSchema")
    if isinstance(schema, dict):
        return schema
    schema = field(config, "responseSchema")
    return _lower_types(schema) if isinstance(schema, dict) else None


def _lower_types(node: Any) -> Any:
    """An OpenAPI-dialect schema (``"type": "OBJECT"``) with JSON Schema's lowercase types."""
    if isinstance(node, list):
        return [_lower_types(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {k: v.lower() if k == "type" and isinstance(v, str) else _lower_types(v) for k, v in node.items()}


def function_results(contents: list[Any]) -> list[str]:
    """``functionResponse`` outputs sent since the last model turn, as text."""
    turns = [c for c in contents if isinstance(c, dict)]
    last = max((i for i, c in enumerate(turns) if c.get("role") == "model"), default=-1)
    results = []
    for turn in turns[last + 1 :]:
        for part in turn.get("parts") or ():
            response = field(part, "functionResponse") if isinstance(part, dict) else None
            if isinstance(response, dict):
                value = (response.get("response") or {}).get("output", response.get("response"))
                results.append(value if isinstance(value, str) else json.dumps(value))
    return results
