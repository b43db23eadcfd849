"""`ToolCallAccumulator`: tool calls assembled from a stream, the same way for every API.

The five APIs stream calls in three shapes: OpenAI (and llama.cpp) send argument
*fragments* keyed by `index`, with the id and name only in the first one; Anthropic sends
`input_json_delta.partial_json` pieces per content-block index after a `tool_use` block
start; Gemini, Mistral and Ollama send *whole* calls. A provider feeds whatever its
events carry and reads `calls()` at the end; a non-streamed response can go through the
same object, so streamed and non-streamed calls are parsed by one piece of code.

Fragments are kept in lists and joined once, so the work is linear in the bytes; past
`max_chars` in total, further argument text is dropped and the call gets a `parse_error`
instead of memory growing without bound. Nothing here raises for bad model output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .call import ToolCall, parse_arguments

__all__ = ["MAX_TOOL_ARGUMENT_CHARS", "ToolCallAccumulator"]

MAX_TOOL_ARGUMENT_CHARS = 1_000_000


@dataclass
class _Pending:
    index: int
    id: str | None = None
    name: str = ""
    chunks: list[str] = field(default_factory=list)
    whole: dict[str, Any] | None = None  # arguments that arrived as an object
    truncated: bool = False
    signature: str | None = None


class ToolCallAccumulator:
    """Collects streamed tool-call pieces; `calls()` returns them as `ToolCall`s, by index.

    Args:
        max_chars: Cap on the argument text kept across all calls.
    """

    def __init__(self, max_chars: int = MAX_TOOL_ARGUMENT_CHARS) -> None:
        self.max_chars = max_chars
        self._calls: dict[int, _Pending] = {}
        self._size = 0

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add_fragment(
        self, index: int | None = None, *, id: str | None = None, name: str | None = None, arguments: str | None = None
    ) -> None:
        """One OpenAI-style delta entry (`tool_calls[i]`): id and name usually only in the first.

        An entry without an index continues the last call unless it brings a new id.
        """
        pending = self._pending(index, id)
        if id and not pending.id:
            pending.id = id
        if name and name != pending.name:
            # Servers send the name once; one that repeats it whole must not double it.
            pending.name += name
        if arguments:
            self._append(pending, arguments)

    def start(self, index: int, *, id: str | None, name: str) -> None:
        """Anthropic's `content_block_start` of a `tool_use` block."""
        pending = self._pending(index, id)
        pending.id, pending.name = id or pending.id, name

    def add_json(self, index: int, partial_json: str) -> None:
        """Anthropic's `input_json_delta.partial_json` for the block at `index`."""
        self._append(self._pending(index, None), partial_json)

    def add_call(
        self,
        name: str,
        arguments: Mapping[str, Any] | str | None,
        *,
        id: str | None = None,
        index: int | None = None,
        signature: str | None = None,
    ) -> None:
        """A whole call (Gemini `functionCall`, Ollama, Mistral, a non-streamed response);
        `signature` is Gemini's `thoughtSignature`, kept for replay."""
        pending = self._pending(len(self._calls) if index is None else index, id, new=index is None)
        pending.id, pending.name = id or pending.id, name
        pending.signature = signature or pending.signature
        if isinstance(arguments, str):
            self._append(pending, arguments)
        else:
            pending.whole = dict(arguments or {})

    def calls(self) -> list[ToolCall]:
        """The calls so far, ordered by index, with arguments parsed (never raises)."""
        return [self._finish(self._calls[i]) for i in sorted(self._calls)]

    def _pending(self, index: int | None, id: str | None, *, new: bool = False) -> _Pending:
        if index is None:
            last = self._calls[max(self._calls)] if self._calls else None
            if last is not None and not (id and last.id and id != last.id):
                return last
            index = max(self._calls, default=-1) + 1
        while new and index in self._calls:
            index += 1
        if index not in self._calls:
            self._calls[index] = _Pending(index)
        return self._calls[index]

    def _append(self, pending: _Pending, text: str) -> None:
        if pending.truncated or self._size + len(text) > self.max_chars:
            pending.truncated = True
            return
        self._size += len(text)
        pending.chunks.append(text)

    @staticmethod
    def _finish(pending: _Pending) -> ToolCall:
        call_id = pending.id or f"call_{pending.index}"  # Gemini may send none; results need one
        name, signature = pending.name or "unknown", pending.signature
        text = "".join(pending.chunks)
        if pending.truncated:
            why = "arguments were cut off: the stream sent more than the accumulator's max_chars"
            return ToolCall(call_id, name, {}, raw_arguments=text, parse_error=why, signature=signature)
        if pending.whole is not None:
            return ToolCall(call_id, name, pending.whole, signature=signature)
        arguments, error = parse_arguments(text)
        if error is not None:
            return ToolCall(call_id, name, {}, raw_arguments=text, parse_error=error, signature=signature)
        return ToolCall(call_id, name, arguments, signature=signature)
