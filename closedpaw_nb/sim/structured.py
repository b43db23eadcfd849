"""The simulator's structured output and tool calls, shared by all five wire protocols.

Nothing here knows a wire format: a protocol parses its request into a
:class:`~closedpaw_nb.sim._protocol.ParsedChat` (``schema``, ``json_mode``, ``tools``,
``tool_choice``, ``tool_results``) and ``Simulator.generate`` asks this module what to answer.

- :func:`schema_answer` writes deterministic JSON text from a JSON schema (or ``{"answer": ...}``
  in JSON mode). For a stable share of seeds (``near_miss_rate``) the JSON is a *near miss*,
  the kind of mistake real models make: a required field missing, a value of the wrong type,
  or an extra property where ``additionalProperties`` is false. So schema compliance can be
  measured.
- :func:`tool_arguments` writes arguments valid for a tool's parameter schema.
- :func:`decide_tool_call` picks the tool a request calls, if any (rules in its docstring).
- :func:`tool_call_id` gives a neutral call id that each protocol formats its own way.

"Deterministic" means: the same schema and seed always give the same text, in every process
(hashlib, never ``hash()``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._protocol import ParsedChat

__all__ = ["decide_tool_call", "is_near_miss", "schema_answer", "tool_arguments", "tool_call_id"]

_WORDS = ("alpha", "bravo", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper")
_FORMATS = {
    "date-time": "2025-01-01T12:00:00Z",
    "date": "2025-01-01",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    "ipv4": "192.0.2.1",
    "hostname": "example.com",
}
# Tried in order against a `pattern` (search semantics, as JSON Schema has); a pattern none of
# them matches gets the first one, which is the "not simple" case the docstring admits.
_PATTERN_CANDIDATES = ("example", "A", "a", "0", "1", "ABC", "abc", "123", "A1", "a1", "x-1", "2025-01-01")
_MAX_DEPTH = 8
_DESCRIPTION_WORD = re.compile(r"[a-zA-Z]{4,}")


def _unit(*parts: str) -> float:
    """A stable number in [0, 1) from ``parts``."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _pick(seed: str, path: str, count: int) -> int:
    return int(_unit(seed, path) * count) if count > 0 else 0


class _Gen:
    """Walks one schema, producing a value; ``$ref`` resolves against the root's ``$defs``."""

    def __init__(self, root: dict[str, Any], seed: str, answer: Any = None) -> None:
        self.root = root
        self.seed = seed
        self.answer = answer

    def resolve(self, schema: Any) -> dict[str, Any]:
        # Follow local refs only ("#/$defs/X", "#/definitions/X"); anything else is treated as {}.
        seen = 0
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
            node: Any = self.root
            for key in schema["$ref"].lstrip("#").strip("/").split("/"):
                node = node.get(key) if isinstance(node, dict) and key else node
            schema = {**(node if isinstance(node, dict) else {}), **{k: v for k, v in schema.items() if k != "$ref"}}
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def value(self, schema: Any, path: str = "$", depth: int = 0) -> Any:
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][_pick(self.seed, path, len(schema["enum"]))]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                # The first option that is not just null, as a model answering would pick.
                chosen = next((o for o in options if self.resolve(o).get("type") != "null"), options[0])
                return self.value(chosen, path, depth)
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = self.resolve(part)
                merged["properties"] = {**merged.get("properties", {}), **part.get("properties", {})}
                merged["required"] = [*merged.get("required", []), *part.get("required", [])]
                merged.setdefault("type", part.get("type"))
            return self.value(merged, path, depth)
        kind = _type_of(schema)
        if depth > _MAX_DEPTH and kind in ("object", "array"):
            return {} if kind == "object" else []
        return getattr(self, "_" + kind)(schema, path, depth)

    def _object(self, schema: dict[str, Any], path: str, depth: int) -> dict[str, Any]:
        props = schema.get("properties") or {}
        out: dict[str, Any] = {}
        for name, sub in props.items():
            if name == "answer" and self.answer is not None and _type_of(self.resolve(sub)) == "string":
                out[name] = str(self.answer)
            else:
                out[name] = self.value(sub, f"{path}.{name}", depth + 1)
        return out

    def _array(self, schema: dict[str, Any], path: str, depth: int) -> list[Any]:
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        count = max(low, min(2, int(high)) if high is not None else 2)
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [self.value(items, f"{path}[{i}]", depth + 1) for i in range(count)]

    def _string(self, schema: dict[str, Any], path: str, depth: int) -> str:
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS:
            return _FORMATS[fmt]
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            try:
                compiled = re.compile(pattern)
                return next((c for c in _PATTERN_CANDIDATES if compiled.search(c)), _PATTERN_CANDIDATES[0])
            except re.error:
                return _PATTERN_CANDIDATES[0]
        text = self.answer if (path == "$" and self.answer is not None) else _WORDS[_pick(self.seed, path, 10)]
        text = str(text)
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        while len(text) < low:
            text += "x"
        return text[: int(high)] if high is not None else text

    def _integer(self, schema: dict[str, Any], path: str, depth: int) -> int:
        low, high = (int(b) for b in _bounds(schema, integer=True))
        return low + _pick(self.seed, path, high - low + 1)

    def _number(self, schema: dict[str, Any], path: str, depth: int) -> float:
        low, high = _bounds(schema, integer=False)
        # Two decimals, inside the bounds (an exclusive bound was already moved inwards).
        return min(high, round(low + (high - low) * _unit(self.seed, path), 2)) if high > low else low

    def _boolean(self, schema: dict[str, Any], path: str, depth: int) -> bool:
        return _pick(self.seed, path, 2) == 1

    def _null(self, schema: dict[str, Any], path: str, depth: int) -> None:
        return None


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        # ["string", "null"] (nullable): answer with the value, as models mostly do.
        kind = next((k for k in kind if k != "null"), "null")
    if kind in ("object", "array", "string", "integer", "number", "boolean", "null"):
        return str(kind)
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _bounds(schema: dict[str, Any], *, integer: bool) -> tuple[float, float]:
    step = 1 if integer else 0.01
    low = schema.get("minimum")
    high = schema.get("maximum")
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        low = schema["exclusiveMinimum"] + step
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        high = schema["exclusiveMaximum"] - step
    if low is None:
        low = 0 if high is None or high >= 0 else high - 100
    if high is None:
        high = low + 100
    if integer:
        return math.ceil(low), max(math.ceil(low), math.floor(high))
    return float(low), float(max(low, high))


def is_near_miss(seed: str, near_miss_rate: float) -> bool:
    """Whether :func:`schema_answer` writes a near miss for ``seed`` (stable across processes)."""
    return _unit(seed, "near-miss") < near_miss_rate


def _near_miss(value: Any, schema: dict[str, Any], gen: _Gen, seed: str) -> Any:
    """Spoil ``value`` the way real models do; the kinds that apply to ``schema`` are chosen by hash."""
    schema = gen.resolve(schema)
    if not isinstance(value, dict):
        # Not an object: the whole answer has the wrong type.
        return {"value": value} if not isinstance(value, str) else 0
    kinds: list[str] = []
    required = [name for name in schema.get("required", []) if name in value]
    if required:
        kinds.append("missing")
    if value:
        kinds.append("wrong_type")
    if schema.get("additionalProperties") is False or not kinds:
        kinds.append("extra")
    kind = kinds[_pick(seed, "near-miss-kind", len(kinds))]
    spoiled = dict(value)
    if kind == "missing":
        del spoiled[required[_pick(seed, "near-miss-field", len(required))]]
    elif kind == "wrong_type":
        name = sorted(spoiled)[_pick(seed, "near-miss-field", len(spoiled))]
        old = spoiled[name]
        # A number written as a string, a string where a number belongs, and so on.
        spoiled[name] = str(old) if isinstance(old, int | float) and not isinstance(old, bool) else 42
        if isinstance(old, str) and old == "42":
            spoiled[name] = 42
    else:
        spoiled["note"] = "extra field"
    return spoiled


def schema_answer(schema: dict[str, Any] | None, *, seed: str, near_miss_rate: float, answer: Any = None) -> str:
    """Deterministic JSON text for a structured-output request.

    Args:
        schema: The JSON schema the answer must follow, or None for JSON mode (any object:
            the answer is ``{"answer": ...}``).
        seed: Fixes every choice (values, near miss or not); e.g. model and prompt.
        near_miss_rate: Share of seeds, in [0, 1], whose answer is a near miss (see module).
        answer: A known answer (a question-set item's), put in a string field named
            ``answer`` (or the whole answer when the schema is a string, or JSON mode).

    Returns:
        Compact JSON with ``", "``/``": "`` separators, so the text splits into word pieces.
    """
    if schema is None:
        schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    gen = _Gen(schema, seed, answer)
    value = gen.value(schema)
    if is_near_miss(seed, near_miss_rate):
        value = _near_miss(value, schema, gen, seed)
    return json.dumps(value, ensure_ascii=False)


def tool_arguments(parameters: dict[str, Any], *, seed: str) -> dict[str, Any]:
    """Arguments valid for a tool's ``parameters`` schema (never a near miss)."""
    value = _Gen(parameters, seed).value(parameters)
    return value if isinstance(value, dict) else {}


def tool_call_id(seed: str) -> str:
    """A neutral call id: 24 letters and digits from ``seed``. Protocols format it (OpenAI
    ``call_<id>``, Mistral its first 9 characters, Anthropic ``toolu_<id>``)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    number = int.from_bytes(hashlib.sha256(f"tool-call\x00{seed}".encode()).digest(), "big")
    chars = []
    for _ in range(24):
        number, index = divmod(number, len(alphabet))
        chars.append(alphabet[index])
    return "".join(chars)


def _named_in(prompt: str, name: str) -> bool:
    text = prompt.lower()
    return name.lower() in text or name.lower().replace("_", " ").replace("-", " ") in text


def decide_tool_call(req: ParsedChat) -> tuple[str, dict[str, Any]] | None:
    """The tool ``req`` calls and its arguments, or None to answer in text.

    Rules, in order:

    1. No call when ``req.tools`` is empty, ``tool_choice == "none"``, or tool results were
       already sent back (``req.tool_results``): the answer is then text quoting them.
    2. A named choice (``tool_choice`` is a tool's name) calls that tool.
    3. ``"required"``/``"any"`` calls the first tool whose name (``_`` and ``-`` may be spaces)
       or a word of 4+ letters of its description appears in the prompt (case-insensitive),
       else the first tool.
    4. ``"auto"`` or None calls the first tool whose name appears in the prompt, else none.

    Arguments come from :func:`tool_arguments`, seeded by model and prompt.
    """
    if not req.tools or req.tool_choice == "none" or req.tool_results:
        return None
    by_name = {str(t.get("name")): t for t in req.tools}
    chosen: dict[str, Any] | None = None
    if req.tool_choice in by_name:
        chosen = by_name[req.tool_choice or ""]
    elif req.tool_choice in ("required", "any"):
        words = set(_DESCRIPTION_WORD.findall(req.prompt.lower()))
        chosen = next(
            (
                t
                for t in req.tools
                if _named_in(req.prompt, str(t.get("name")))
                or words & {w.lower() for w in _DESCRIPTION_WORD.findall(str(t.get("description") or ""))}
            ),
            req.tools[0],
        )
    elif req.tool_choice in ("auto", None):
        chosen = next((t for t in req.tools if _named_in(req.prompt, str(t.get("name")))), None)
    if chosen is None:
        return None
    params = chosen.get("parameters")
    if not isinstance(params, dict):
        params = {"type": "object", "properties": {}}
    return str(chosen.get("name")), tool_arguments(params, seed=f"{req.model}\x00{req.prompt}")
