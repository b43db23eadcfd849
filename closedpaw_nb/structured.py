"""Structured output, provider-neutral: `ResponseFormat` and the parsing of answers.

`chat(..., response_format=...)` takes a JSON-schema dict, a pydantic model class or
"json" (any JSON object); `ResponseFormat.of` turns each into one value that every
provider maps at its edge (OpenAI/Mistral `response_format`, Gemini `responseMimeType`
+ `responseJsonSchema`, Ollama `format`, Anthropic `output_config`). `parse_structured`
reads the answer back the same way for all of them and never raises for bad model
output: JSON that does not parse or does not validate is an error string, which is what a
benchmark row records. `strict_schema` rewrites a schema for OpenAI's strict mode.

pydantic (only in the `server` extra) is never imported here: a model class is
recognised by its `model_json_schema`/`model_validate` methods. `jsonschema` is imported
when a schema is first used.
"""

from __future__ import annotations

import copy
import json
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from .errors import ConfigError

if TYPE_CHECKING:
    from .types import ChatResponse

__all__ = ["ResponseFormat", "fenced_block", "fill_parsed", "json_kind", "parse_structured", "strict_schema"]

_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]+")


@dataclass(frozen=True)
class ResponseFormat:
    """What shape the answer must have.

    Attributes:
        kind: "json" (any JSON object) or "json_schema" (valid against `schema`).
        schema: The JSON schema (None for "json"); a model class's `model_json_schema()`.
        name: A name for the schema, `[a-zA-Z0-9_-]{1,64}` (OpenAI and Mistral require one):
            the model class's name, else the schema's title, else "response".
        model: The pydantic model class, when one was given (`parsed` is then an instance).
    """

    kind: Literal["json", "json_schema"]
    schema: dict[str, Any] | None = None
    name: str = "response"
    model: Any = None

    @classmethod
    def of(cls, value: Any) -> ResponseFormat:
        """Normalise a JSON-schema dict, a pydantic model class, "json" or a ResponseFormat.

        Raises:
            ConfigError: another kind of value, or a schema that is not valid JSON Schema.
        """
        if isinstance(value, ResponseFormat):
            return value
        if value == "json":
            return cls("json")
        if isinstance(value, type) and hasattr(value, "model_json_schema") and hasattr(value, "model_validate"):
            return cls("json_schema", value.model_json_schema(), _name(value.__name__), value)
        if isinstance(value, dict):
            _check_schema(value)
            return cls("json_schema", value, _name(str(value.get("title") or "response")))
        raise ConfigError(
            'response_format must be a JSON schema (dict), a pydantic model class or "json", '
            f"got {type(value).__name__}"
        )

    @cached_property
    def _validator(self) -> Any:
        from jsonschema.validators import validator_for

        return validator_for(self.schema)(self.schema)

    def validate(self, value: Any) -> tuple[Any, str | None]:
        """`(value, None)` when `value` fits (a model instance for a model class), else `(None, why)`."""
        if self.kind == "json":
            return (
                (value, None) if isinstance(value, dict) else (None, f"expected a JSON object, got {json_kind(value)}")
            )
        if self.model is not None:
            try:
                return self.model.model_validate(value), None
            except Exception as exc:  # pydantic's ValidationError, without importing pydantic
                return None, f"does not match {self.name}: {_first_line(exc)}"
        error = _best_error(self._validator, value)
        return (value, None) if error is None else (None, error)


def parse_structured(text: str | None, fmt: ResponseFormat) -> tuple[Any, str | None]:
    """Decode and validate an answer: `(parsed, None)` or `(None, why)`; never raises.

    The JSON is the whole text (stripped), else the first ```json fence (or else the first
    fence with no language tag: `fenced_block`).
    """
    if not text or not text.strip():
        return None, "the answer is empty"
    try:
        value = _decode(text)
    except ValueError as exc:
        return None, str(exc)
    return fmt.validate(value)


def fill_parsed(response: ChatResponse, fmt: ResponseFormat | None) -> ChatResponse:
    """Set `response.parsed`/`parse_error` from its content, unless already set, a refusal,
    or tool calls instead of an answer (for providers that read JSON from the text)."""
    if fmt is None or response.parsed is not None or response.parse_error is not None:
        return response
    if response.refusal is not None:
        response.parse_error = "the model refused"
    elif not response.tool_calls:
        response.parsed, response.parse_error = parse_structured(response.content, fmt)
    return response


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` that OpenAI's strict mode accepts (Mistral's too).

    Strict mode wants, on every object: `additionalProperties: false` and every property
    listed in `required`. A property that was optional becomes nullable instead (its type
    gains "null", or it is wrapped in `anyOf` with `{"type": "null"}`), and `default`s are
    dropped (strict mode rejects them). Nested objects, arrays, `anyOf` branches and
    `$defs` are rewritten too. The input is not modified.
    """
    strict: dict[str, Any] = _strict(copy.deepcopy(schema))
    return strict


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node.pop("default", None)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            node[key] = _strict(node[key])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(node.get(key), list):
            node[key] = _strict(node[key])
    for key in ("$defs", "definitions"):
        if isinstance(node.get(key), dict):
            node[key] = {name: _strict(sub) for name, sub in node[key].items()}
    if node.get("type") == "object" or "properties" in node:
        properties = node.get("properties", {})
        required = set(node.get("required", []))
        node["properties"] = {
            name: _strict(sub) if name in required else _nullable(_strict(sub)) for name, sub in properties.items()
        }
        node["required"] = list(properties)
        node["additionalProperties"] = False
    return node


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str) and "enum" not in schema:
        return {**schema, "type": [kind, "null"]}
    if isinstance(kind, list):
        return {**schema, "type": kind if "null" in kind else [*kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _decode(text: str) -> Any:
    try:
        return json.loads(text.strip())
    except json.JSONDecodeError as whole:
        block = fenced_block(text)
        if block is None:
            raise ValueError(f"not JSON: {whole.msg} at line {whole.lineno} column {whole.colno}") from None
        try:
            return json.loads(block)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the ```json block is not JSON: {exc.msg} at line {exc.lineno}") from None


def _check_schema(schema: dict[str, Any]) -> None:
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        raise ConfigError(f"response_format is not a valid JSON schema: {exc.message}") from None


def _best_error(validator: Any, value: Any) -> str | None:
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(value))
    if error is None:
        return None
    path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"does not match the schema at {path}: {error.message}"[:500]


def _name(text: str) -> str:
    return _NAME_CHARS.sub("_", text).strip("_")[:64] or "response"


_JSON_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"),  # before numbers: a bool is an int to Python, not to JSON
    (numbers.Real, "a number"),
    (str, "a string"),
    ((list, tuple), "an array"),
    (Mapping, "an object"),
)


def json_kind(value: Any) -> str:
    """What a value is in JSON's words: "an object", "an array", "a string", "a number",
    "a boolean" or "null" (else its Python type name)."""
    if value is None:
        return "null"
    return next((kind for cls, kind in _JSON_KINDS if isinstance(value, cls)), type(value).__name__)


def fenced_block(text: str) -> str | None:
    """The body of the first ```json fence (the tag in any case), or else of the first fence
    with no language tag; an unclosed fence runs to the end. None without either."""
    plain = None
    start = text.find("```")
    while start != -1:
        line_end = text.find("\n", start)
        if line_end == -1:
            break
        tag = text[start + 3 : line_end].strip().casefold()
        end = text.find("```", line_end)
        body = text[line_end + 1 : None if end == -1 else end]
        if tag == "json":
            return body
        if tag == "" and plain is None:
            plain = body
        if end == -1:
            break
        start = text.find("```", end + 3)
    return plain


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines[:3])[:500]
