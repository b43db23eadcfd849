"""`run_tools`: call a model, run the Python functions it asks for, send the results back,
until it answers without calling a tool (or a round limit is reached)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ClosedPawError, ConfigError
from .call import ToolCall
from .schema import coerce_arguments
from .spec import Tool, ToolChoice, ToolLike, as_tools

if TYPE_CHECKING:
    from ..types import ChatResponse

__all__ = ["ToolRoundsExceededError", "ToolRun", "run_tools"]

ChatCallable = Callable[..., Awaitable["ChatResponse"]]


@dataclass
class ToolRun:
    """What `run_tools` did.

    Attributes:
        response: The model's final answer (the last response, with no tool calls).
        messages: The whole conversation: yours, then each assistant turn with its
            tool calls and one tool message per call.
        rounds: How many model calls were made.
    """

    response: ChatResponse
    messages: list[Any] = field(default_factory=list)
    rounds: int = 0

    @property
    def content(self) -> str:
        """The final answer's text."""
        return self.response.content


class ToolRoundsExceededError(ClosedPawError):
    """The model still asked for tools after `max_rounds` calls; `.run` holds the conversation
    so far, its `response` the last one (whose tool calls were not run)."""

    def __init__(self, message: str, run: ToolRun) -> None:
        super().__init__(message)
        self.run = run


async def run_tools(
    chat: ChatCallable,
    messages: Any,
    tools: ToolLike | Iterable[ToolLike],
    *,
    max_rounds: int = 5,
    tool_choice: Any = None,
    **options: Any,
) -> ToolRun:
    """Run a tool-calling conversation to an answer.

    Each round awaits `chat(messages, tools=..., tool_choice=..., **options)` (for example
    `manager.chat` with `provider=`/`model=` in `options`). When the response has tool calls,
    each tool's Python function runs (sync or async; Enum and pydantic arguments are
    converted to the hinted types); the assistant turn and one `ChatMessage(role="tool")`
    per call, holding the result (a str as it is, anything else as JSON), are appended, and
    the model is called again. A tool that raises does not stop the run: `{"error": "..."}`
    is sent back so the model can react.
    A `tool_choice` that forces a call applies to the first round only (afterwards "auto"),
    or the model could never answer.

    Args:
        chat: An awaitable chat function, like `ProviderManager.chat`.
        messages: A prompt string or a list of messages (not modified).
        tools: Tools built from Python functions (or Tools with `function` set).
        max_rounds: The most model calls to make.
        tool_choice: As for `chat()`, for the first round.
        **options: Passed to every `chat` call.

    Returns:
        A `ToolRun` with the final response and the conversation.

    Raises:
        ToolRoundsExceededError: the model still called tools in round `max_rounds`;
            `.run` keeps the conversation and the last response.
        ConfigError: a tool without a Python function, or max_rounds below 1.
    """
    from ..types import ChatMessage  # types imports this package (ToolCall): import on use

    specs = _runnable(as_tools(tools), max_rounds)
    history: list[Any] = [ChatMessage("user", messages)] if isinstance(messages, str) else list(messages)
    choice = None if tool_choice is None else ToolChoice.of(tool_choice, specs.values())
    for round_number in range(1, max_rounds + 1):
        extra = {} if choice is None else {"tool_choice": choice}
        response = await chat(history, tools=list(specs.values()), **extra, **options)
        run = ToolRun(response, history, round_number)
        if not response.tool_calls:
            return run
        history.append(ChatMessage("assistant", response.content or "", tool_calls=response.tool_calls))
        for call in response.tool_calls:
            result = await _execute(specs.get(call.name), call)
            history.append(ChatMessage("tool", result, tool_call_id=call.id, name=call.name))
        if choice is not None and choice.mode == "required":
            choice = ToolChoice("auto")
    raise ToolRoundsExceededError(
        f"the model still asked for tools after {max_rounds} rounds; raise max_rounds, or see .run "
        "for the conversation",
        run,
    )


def _runnable(tools: list[Tool], max_rounds: int) -> dict[str, Tool]:
    if max_rounds < 1:
        raise ConfigError("max_rounds must be at least 1")
    missing = [t.name for t in tools if t.function is None]
    if missing:
        raise ConfigError(
            f"run_tools runs Python functions, and these tools have none: {', '.join(missing)}; "
            "pass the functions themselves (or Tool.from_function(fn))"
        )
    return {t.name: t for t in tools}


async def _execute(tool: Tool | None, call: ToolCall) -> str:
    """The call's result as JSON text; a failure becomes `{"error": ...}` for the model."""
    if tool is None or tool.function is None:
        return _dumps({"error": f"there is no tool named {call.name!r}"})
    if call.parse_error is not None:
        return _dumps({"error": f"the arguments could not be read: {call.parse_error}"})
    try:
        result = tool.function(**coerce_arguments(tool.function, call.arguments))
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:  # the model gets to see and correct its mistake
        return _dumps({"error": f"{type(exc).__name__}: {exc}"})
    return result if isinstance(result, str) else _dumps(result)


def _dumps(value: Any) -> str:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    return json.dumps(value, ensure_ascii=False, default=str)
