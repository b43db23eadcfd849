"""`Tool` (a function the model may call), `as_tools` and `ToolChoice`: the neutral forms
every provider maps to its own wire shape (OpenAI `tools[].function`, Anthropic
`input_schema`, Gemini `functionDeclarations`, Ollama's OpenAI-like list)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ConfigError
from .schema import function_schema

__all__ = ["Tool", "ToolChoice", "ToolLike", "as_tools"]

# OpenAI's rule, the strictest of the five APIs (Gemini allows more, Anthropic the same).
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Tool:
    """A function the model may call.

    Attributes:
        name: Letters, digits, "_" and "-", at most 64 characters.
        description: What the tool does (models read it to decide when to call it).
        parameters: A JSON schema of type "object" for the arguments.
        function: The Python function behind it, when built from one (`run_tools` calls it).
    """

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    function: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise ConfigError(
                f"tool name {self.name!r} is not allowed: use 1 to 64 letters, digits, '_' or '-' "
                "(the rule every provider accepts)"
            )
        if not isinstance(self.parameters, Mapping) or self.parameters.get("type") != "object":
            raise ConfigError(
                f"tool {self.name!r}: parameters must be a JSON schema of an object "
                '({"type": "object", "properties": {...}}), '
                f"got {self.parameters!r:.80}"
            )

    @classmethod
    def from_function(cls, fn: Callable[..., Any], *, name: str | None = None, description: str | None = None) -> Tool:
        """A tool from a Python function: the schema from its type hints, the descriptions
        from its docstring (first paragraph; Google-style `Args:` for the parameters).

        Raises:
            TypeError: a parameter without a type hint or with an unsupported one.
        """
        summary, parameters = function_schema(fn)
        tool_name = name or str(getattr(fn, "__name__", ""))
        return cls(tool_name, summary if description is None else description, parameters, fn)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tool:
        """From the OpenAI shape `{"type": "function", "function": {...}}` or a plain
        `{"name", "description", "parameters"}` (Anthropic's `input_schema` also accepted)."""
        spec = data.get("function") if data.get("type") == "function" else data
        if not isinstance(spec, Mapping) or "name" not in spec:
            raise ConfigError(f"a tool dict needs a name (and parameters), got {dict(data)!r:.120}")
        parameters = spec.get("parameters", spec.get("input_schema", {"type": "object", "properties": {}}))
        return cls(spec["name"], spec.get("description") or "", dict(parameters))

    def to_dict(self) -> dict[str, Any]:
        """`{"name", "description", "parameters"}`."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


ToolLike = Tool | Mapping[str, Any] | Callable[..., Any]


def as_tools(tools: ToolLike | Iterable[ToolLike] | None) -> list[Tool]:
    """Tools from Tools, dicts (OpenAI's function shape or plain) or Python functions.

    One item or a list of them; None gives []. Names must be unique.

    Raises:
        ConfigError: a bad name or schema, a duplicate name, or an item of another kind.
        TypeError: a function whose type hints cannot be described.
    """
    if tools is None:
        return []
    if isinstance(tools, (Tool, Mapping)) or callable(tools):
        tools = [tools]
    if not isinstance(tools, Iterable) or isinstance(tools, (str, bytes)):
        raise ConfigError(f"tools must be a list of tools, dicts or functions, got {type(tools).__name__}")
    result = [_as_tool(item) for item in tools]
    names = [t.name for t in result]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"tool names must be unique; repeated: {', '.join(duplicates)}")
    return result


def _as_tool(item: Any) -> Tool:
    if isinstance(item, Tool):
        return item
    if isinstance(item, Mapping):
        return Tool.from_dict(item)
    if callable(item):
        return Tool.from_function(item)
    raise ConfigError(f"a tool is a Tool, a dict or a Python function, got {type(item).__name__}")


@dataclass(frozen=True)
class ToolChoice:
    """Whether and which tool the model must call.

    Attributes:
        mode: "auto" (the model decides), "none" (no call) or "required" (at least one call).
        name: With mode "required": the one tool it must call.
    """

    mode: Literal["auto", "none", "required"] = "auto"
    name: str | None = None

    @classmethod
    def of(cls, value: Any, tools: Iterable[Tool] = ()) -> ToolChoice:
        """Normalise "auto" | "none" | "required" (or "any") | a tool name | OpenAI's
        `{"type": "function", "function": {"name": ...}}` | a ToolChoice.

        Raises:
            ConfigError: a value of another kind, or a name that is not among `tools`.
        """
        names = [t.name for t in tools]
        if isinstance(value, ToolChoice):
            choice = value
        elif value in ("auto", "none", "required", "any"):
            choice = cls("required" if value == "any" else value)
        elif isinstance(value, str):
            choice = cls("required", value)
        elif isinstance(value, Mapping) and isinstance(value.get("function"), Mapping):
            choice = cls("required", value["function"].get("name"))
        else:
            raise ConfigError(f'tool_choice must be "auto", "none", "required" or a tool name, got {value!r:.80}')
        if choice.name is not None and names and choice.name not in names:
            raise ConfigError(f"tool_choice names {choice.name!r}, which is not among the tools: {', '.join(names)}")
        return choice
