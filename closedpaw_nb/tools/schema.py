"""JSON schemas from Python functions: the signature's type hints and the docstring's Args.

`function_schema(fn)` is what `Tool.from_function` uses; `coerce_arguments` turns a
model's JSON arguments back into the Enum members and pydantic models the function's
hints ask for, so a tool runs with the types its author wrote. pydantic is never
imported here: a model class is recognised by its `model_json_schema` method.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Any

__all__ = ["coerce_arguments", "function_schema", "type_schema"]

_PRIMITIVES: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    Any: {},
}
_ARRAYS = (list, tuple, set, frozenset)
_SUPPORTED = "str, int, float, bool, list[...], dict[str, ...], Optional/Union, Literal, an Enum or a pydantic model"


def function_schema(fn: Callable[..., Any]) -> tuple[str, dict[str, Any]]:
    """`(description, parameters)` for `fn`: the docstring's first paragraph, and an object
    schema with one property per parameter (required = those without defaults).

    Raises:
        TypeError: a parameter without a type hint, or with one we cannot describe.
    """
    hints = typing.get_type_hints(fn, include_extras=True)
    summary, described = _parse_docstring(inspect.getdoc(fn) or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    defs: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue  # a model passes named arguments only; *args/**kwargs take none of them
        if param.name not in hints:
            raise TypeError(f"parameter {param.name!r} of {_name(fn)} has no type hint; annotate it ({_SUPPORTED})")
        try:
            schema = type_schema(hints[param.name], defs)
        except TypeError as exc:
            raise TypeError(f"parameter {param.name!r} of {_name(fn)}: {exc}") from None
        if param.name in described:
            schema = {**schema, "description": described[param.name]}
        properties[param.name] = schema
        if param.default is param.empty:
            required.append(param.name)
    parameters: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if defs:
        parameters["$defs"] = defs
    return summary, parameters


def type_schema(hint: Any, defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON schema of one type hint; nested pydantic `$defs` are hoisted into `defs`.

    Raises:
        TypeError: a hint outside the supported set.
    """
    defs = {} if defs is None else defs
    if hint in _PRIMITIVES:
        return dict(_PRIMITIVES[hint])
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        schema = type_schema(args[0], defs)
        notes = [a for a in args[1:] if isinstance(a, str)]
        return {**schema, "description": " ".join(notes)} if notes else schema
    if origin is typing.Literal:
        return _enum_schema(list(args))
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [type_schema(a, defs) for a in args]}
    if hint in _ARRAYS or origin in _ARRAYS:
        return _array_schema(origin or hint, args, defs)
    if hint is dict or origin is dict:
        if args and args[0] is not str:
            raise TypeError(f"JSON object keys are strings: use dict[str, ...], not {hint!r}")
        return {"type": "object", "additionalProperties": type_schema(args[1], defs)} if args else {"type": "object"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_schema([member.value for member in hint])
    if isinstance(hint, type) and hasattr(hint, "model_json_schema"):
        return _model_schema(hint, defs)
    raise TypeError(f"unsupported type hint {hint!r}; use {_SUPPORTED}")


def coerce_arguments(fn: Callable[..., Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """`arguments` with values for Enum- and pydantic-typed parameters turned into those types."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        return arguments  # what the schema read once; a function we cannot inspect gets them as they are
    return {name: _coerce(hints.get(name), value) for name, value in arguments.items()}


def _coerce(hint: Any, value: Any) -> Any:
    if isinstance(hint, type) and issubclass(hint, enum.Enum) and not isinstance(value, hint):
        return hint(value)
    if isinstance(hint, type) and hasattr(hint, "model_validate") and isinstance(value, dict):
        return hint.model_validate(value)
    return value


def _array_schema(kind: Any, args: tuple[Any, ...], defs: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array"}
    items = [a for a in args if a is not Ellipsis]
    if len(items) == 1:
        schema["items"] = type_schema(items[0], defs)
    elif items:  # tuple[int, str]: a fixed-length array
        schema["prefixItems"] = [type_schema(a, defs) for a in items]
        schema["minItems"] = schema["maxItems"] = len(items)
    if kind in (set, frozenset):
        schema["uniqueItems"] = True
    return schema


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = {type(v) for v in values}
    schema: dict[str, Any] = {"enum": values}
    if len(kinds) == 1 and (kind := kinds.pop()) in _PRIMITIVES:
        schema = {**_PRIMITIVES[kind], **schema}
    return schema


def _model_schema(model: Any, defs: dict[str, Any]) -> dict[str, Any]:
    # pydantic writes nested models as "$defs" with "#/$defs/X" refs from the model's own
    # root; inside a parameter those refs must point at the parameters' root instead.
    schema = dict(model.model_json_schema())
    defs.update(schema.pop("$defs", {}))
    return schema


_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?|Attributes):\s*$")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The summary (first paragraph) and the Google-style `Args:` descriptions."""
    lines = doc.splitlines()
    first = doc.split("\n\n", 1)[0]
    summary = "" if not lines or _SECTION.match(lines[0].strip()) else " ".join(first.split())
    described: dict[str, str] = {}
    current: str | None = None
    indent: int | None = None  # of the argument lines; deeper lines continue a description
    in_args = False
    for line in lines:
        stripped, depth = line.strip(), len(line) - len(line.lstrip())
        if section := _SECTION.match(stripped):
            in_args, current, indent = section.group(1) in ("Args", "Arguments", "Parameters"), None, None
        elif not in_args or not stripped:
            continue
        elif indent is None or depth <= indent:
            match = _ARG_LINE.match(stripped)
            if match is None or (indent is not None and depth < indent):
                in_args = False  # the section ended
                continue
            indent, current = depth, match.group(1).lstrip("*")
            described[current] = match.group(2).strip()
        elif current is not None:
            described[current] = f"{described[current]} {stripped}".strip()
    return summary, described


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
