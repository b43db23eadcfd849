"""Tool calling, provider-neutral: what a model may call, what it called, and a loop that runs it.

- `Tool` / `as_tools`: tools from JSON-schema dicts (OpenAI's function shape or plain) or
  Python functions (schema from type hints and the docstring's `Args:`).
- `ToolChoice`: "auto" | "none" | "required" | one named tool.
- `ToolCall`: what the model asked for, the same record on every provider.
- `ToolCallAccumulator`: streamed call fragments (OpenAI, Anthropic) or whole calls
  (Gemini, Mistral, Ollama) to `ToolCall`s, one parser for every provider.
- `run_tools`: call, run the functions, send the results back, until an answer.

Plain like `closedpaw_nb.types`: nothing here imports providers or the manager, so each
provider maps these to its wire form at its own edge.
"""

from __future__ import annotations

from .call import ToolCall, parse_arguments
from .loop import ToolRoundsExceededError, ToolRun, run_tools
from .schema import function_schema, type_schema
from .spec import Tool, ToolChoice, ToolLike, as_tools
from .stream import MAX_TOOL_ARGUMENT_CHARS, ToolCallAccumulator

__all__ = [
    "MAX_TOOL_ARGUMENT_CHARS",
    "Tool",
    "ToolCall",
    "ToolCallAccumulator",
    "ToolChoice",
    "ToolLike",
    "ToolRoundsExceededError",
    "ToolRun",
    "as_tools",
    "function_schema",
    "parse_arguments",
    "run_tools",
    "type_schema",
]
