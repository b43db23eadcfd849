"""Reading an Anthropic Messages request's tool choice, tool results and image blocks
into neutral terms for ``sim.anthropic``."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Any

from ._protocol import text_of

__all__ = ["image_problem", "nested_blocks", "tool_choice", "tool_results"]

_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def tool_choice(choice: Any) -> str | None:
    """``tool_choice`` in neutral terms: auto/none/required, or the named tool."""
    if not isinstance(choice, dict):
        return None
    if choice.get("type") == "tool":
        name = choice.get("name")
        return name if isinstance(name, str) else None
    return _CHOICES.get(str(choice.get("type")))


def tool_results(messages: list[dict[str, Any]]) -> list[str]:
    """Texts of the ``tool_result`` blocks sent since the last assistant turn."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    return [
        text_of(block.get("content") or "")
        for m in messages[last + 1 :]
        if isinstance(m.get("content"), list)
        for block in m["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


def nested_blocks(blocks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The blocks, and the blocks inside each ``tool_result`` (which may hold images)."""
    for block in blocks:
        yield block
        inner = block.get("content") if block.get("type") == "tool_result" else None
        if isinstance(inner, list):
            yield from (b for b in inner if isinstance(b, dict))


def image_problem(blocks: list[dict[str, Any]]) -> str | None:
    """The API's 400 for an image block it cannot read, else None."""
    for i, block in enumerate(b for b in nested_blocks(blocks) if b.get("type") == "image"):
        found = block.get("source")
        source: dict[str, Any] = found if isinstance(found, dict) else {}
        if source.get("type") == "url" and str(source.get("url", "")).startswith(("https://", "http://")):
            continue
        if source.get("type") != "base64":
            return f"image {i}: source.type must be 'base64' or 'url'"
        if source.get("media_type") not in _IMAGE_TYPES:
            return f"image {i}: media_type must be one of {', '.join(_IMAGE_TYPES)}"
        try:
            base64.b64decode(str(source.get("data", "")), validate=True)
        except (binascii.Error, ValueError):
            return f"image {i}: Could not process image (data is not base64)"
    return None
