"""`NativeProvider`: the HTTP loop plus tool calls, refusals and usage provenance, for the
providers with their own (non-OpenAI) wire shapes: Anthropic, Gemini and Ollama.

`StreamState` carries text, counts and the finish reason; what these APIs add travels in
it under private keys of `state.details` (names starting with "_"), which `_response`
takes out again before the `ChatResponse` is built. So `parse_event` and `parse_response` feed the *same*
`ToolCallAccumulator`, and a call is parsed identically whether it was streamed or not.
"""

from __future__ import annotations

from ..errors import ConfigError
from ..tools import ToolCallAccumulator
from ..types import ChatMessage, ChatResponse
from ._wire import HTTPProvider, StreamState

__all__ = ["NativeProvider", "tool_name_for"]

_CALLS = "_tool_calls"
_REFUSAL = "_refusal"
_USAGE = "_usage_seen"


class NativeProvider(HTTPProvider):
    """An `HTTPProvider` whose responses carry tool calls, a refusal and `usage_source`."""

    @staticmethod
    def accumulator(state: StreamState) -> ToolCallAccumulator:
        """The accumulator of this call's tool calls (made on first use)."""
        calls: ToolCallAccumulator = state.details.setdefault(_CALLS, ToolCallAccumulator())
        return calls

    @staticmethod
    def refused(state: StreamState, text: str) -> None:
        """Record the refusal the API reported."""
        state.details[_REFUSAL] = text

    @staticmethod
    def usage_seen(state: StreamState) -> None:
        """Say the API reported token counts (else the response's `usage_source` is "missing")."""
        state.details[_USAGE] = True

    def _response(self, state: StreamState, *, latency_ms: float, ttft_ms: float | None = None) -> ChatResponse:
        calls: ToolCallAccumulator | None = state.details.get(_CALLS)
        refusal: str | None = state.details.get(_REFUSAL)
        reported = bool(state.details.get(_USAGE))
        for key in [k for k in state.details if k.startswith("_")]:
            del state.details[key]  # our bookkeeping, not the provider's details
        response = super()._response(state, latency_ms=latency_ms, ttft_ms=ttft_ms)
        if calls:
            response.tool_calls = calls.calls()
            # Gemini and Ollama have no tool-specific finish reason: the calls are the signal.
            if response.finish_reason in (None, "stop"):
                response.finish_reason = "tool_calls"
        response.refusal = refusal
        if not reported:
            response.usage_source = "missing"
        return response


def tool_name_for(message: ChatMessage, messages: list[ChatMessage]) -> str:
    """The tool name of a `role="tool"` message: its `name`, else the call it answers.

    Raises:
        ConfigError: neither says (Gemini and Ollama need the name with the result).
    """
    if message.name:
        return message.name
    for earlier in messages:
        for call in earlier.tool_calls:
            if call.id == message.tool_call_id:
                return call.name
    raise ConfigError(
        f"the tool result for call {message.tool_call_id!r} names no tool: pass name=... on the "
        "ChatMessage, or keep the assistant turn with its tool_calls before it"
    )
