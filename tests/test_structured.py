"""Structured output: formats normalised up front, answers parsed the same way for every
provider and never raised for bad model output, and schemas rewritten for strict mode."""

from __future__ import annotations

import pytest

from closedpaw_nb import ChatResponse, ConfigError
from closedpaw_nb.structured import ResponseFormat, fill_parsed, parse_structured, strict_schema
from closedpaw_nb.tools import ToolCall

PERSON = {
    "title": "A Person!",
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def test_formats_are_normalised():
    fmt = ResponseFormat.of(PERSON)
    assert (fmt.kind, fmt.schema, fmt.name, fmt.model) == ("json_schema", PERSON, "A_Person", None)
    assert ResponseFormat.of("json") == ResponseFormat("json")
    assert ResponseFormat.of(fmt) is fmt
    assert ResponseFormat.of({"type": "object"}).name == "response"
    with pytest.raises(ConfigError, match="not a valid JSON schema"):
        ResponseFormat.of({"type": 12})
    with pytest.raises(ConfigError, match='a pydantic model class or "json"'):
        ResponseFormat.of("yaml")


@pytest.mark.parametrize(
    ("text", "parsed", "error"),
    [
        ('{"name": "Ada", "age": 36}', {"name": "Ada", "age": 36}, None),
        ('  \n{"name": "Ada", "age": 36}\n', {"name": "Ada", "age": 36}, None),
        ('Sure:\n```json\n{"name": "Ada", "age": 36}\n```\nDone.', {"name": "Ada", "age": 36}, None),
        ('```\n{"name": "Ada", "age": 36}\n```', {"name": "Ada", "age": 36}, None),
        ('```\nnot this\n```\n```JSON\n{"name": "Ada", "age": 36}\n```', {"name": "Ada", "age": 36}, None),
        ('Here:\n```json\n{"name": "Ada", "age": 36}', {"name": "Ada", "age": 36}, None),  # never closed
        ('{"name": "Ada", "age": "36"}', None, "at $.age: '36' is not of type 'integer'"),
        ('{"name": "Ada"}', None, "'age' is a required property"),
        ('{"name": "Ada", "age": 36', None, "not JSON: Expecting"),
        ("```json\n{oops}\n```", None, "the ```json block is not JSON"),
        ("", None, "the answer is empty"),
        (None, None, "the answer is empty"),
    ],
)
def test_parse_structured(text, parsed, error):
    value, why = parse_structured(text, ResponseFormat.of(PERSON))
    assert value == parsed
    if error is None:
        assert why is None
    else:
        assert error in why


def test_json_mode_wants_an_object():
    assert parse_structured('{"a": [1]}', ResponseFormat("json")) == ({"a": [1]}, None)
    assert parse_structured("[1, 2]", ResponseFormat("json")) == (None, "expected a JSON object, got an array")
    assert parse_structured("3", ResponseFormat("json"))[1] == "expected a JSON object, got a number"


def test_pydantic_models_give_instances_and_readable_errors():
    pydantic = pytest.importorskip("pydantic")

    class Person(pydantic.BaseModel):
        name: str
        age: int

    fmt = ResponseFormat.of(Person)
    assert fmt.name == "Person" and fmt.schema["required"] == ["name", "age"] and fmt.model is Person
    value, error = parse_structured('{"name": "Ada", "age": 36}', fmt)
    assert isinstance(value, Person) and value.age == 36 and error is None
    value, error = parse_structured('{"name": "Ada", "age": "old"}', fmt)
    assert value is None and error.startswith("does not match Person:") and "age" in error
    response = fill_parsed(ChatResponse('{"name": "Ada", "age": 36}', "m", "p"), fmt)
    assert response.to_dict()["parsed"] == {"name": "Ada", "age": 36}  # JSON-able in rows


def test_fill_parsed_leaves_what_a_provider_set_and_explains_refusals():
    fmt = ResponseFormat("json")
    assert fill_parsed(ChatResponse('{"a": 1}', "m", "p"), fmt).parsed == {"a": 1}
    assert fill_parsed(ChatResponse("nope", "m", "p"), fmt).parse_error.startswith("not JSON")
    assert fill_parsed(ChatResponse('{"a": 1}', "m", "p", parsed={"b": 2}), fmt).parsed == {"b": 2}
    refused = fill_parsed(ChatResponse("", "m", "p", refusal="I can't."), fmt)
    assert refused.parsed is None and refused.parse_error == "the model refused"
    calls = fill_parsed(ChatResponse("", "m", "p", tool_calls=[ToolCall("c", "f")]), fmt)
    assert calls.parsed is None and calls.parse_error is None
    assert fill_parsed(ChatResponse("x", "m", "p"), None).parse_error is None


def test_chat_response_keeps_its_seed_fields_first_and_serialises_the_new_ones():
    response = ChatResponse("hi", "m", "p", 3, "stop", 1.5)
    assert (response.tokens_used, response.finish_reason, response.latency_ms) == (3, "stop", 1.5)
    assert (response.parsed, response.parse_error, response.refusal, response.tool_calls) == (None, None, None, [])
    assert response.usage_source == "reported"
    row = ChatResponse("", "m", "p", tool_calls=[ToolCall("c1", "f", {"x": 1})], parsed={"a": 1}).to_dict()
    assert row["tool_calls"] == [{"id": "c1", "name": "f", "arguments": {"x": 1}}] and row["parsed"] == {"a": 1}
    assert list(row)[:6] == ["content", "model", "provider", "tokens_used", "finish_reason", "latency_ms"]


def test_strict_schema_for_openai():
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "nick": {"type": "string", "default": "x"},
            "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
            "ref": {"$ref": "#/$defs/Pet"},
            "kind": {"enum": ["a", "b"], "type": "string"},
        },
        "required": ["name"],
        "$defs": {"Pet": {"type": "object", "properties": {"legs": {"type": "integer"}}, "required": ["legs"]}},
    }
    strict = strict_schema(schema)
    assert strict["additionalProperties"] is False
    assert strict["required"] == ["name", "nick", "tags", "ref", "kind"]
    assert strict["properties"]["nick"] == {"type": ["string", "null"]}  # optional -> nullable, no default
    tag = strict["properties"]["tags"]["type"], strict["properties"]["tags"]["items"]
    assert tag[0] == ["array", "null"] and tag[1]["additionalProperties"] is False and tag[1]["required"] == ["k"]
    assert strict["properties"]["ref"] == {"anyOf": [{"$ref": "#/$defs/Pet"}, {"type": "null"}]}
    assert strict["properties"]["kind"]["anyOf"][1] == {"type": "null"}
    assert strict["$defs"]["Pet"]["additionalProperties"] is False
    assert "additionalProperties" not in schema and schema["required"] == ["name"]  # the input is untouched
    assert (
        parse_structured(
            '{"name": "a", "nick": null, "tags": null, "ref": null, "kind": "a"}', ResponseFormat.of(strict)
        )[1]
        is None
    )
