"""Tools: schemas from Python functions, every accepted tool shape, one accumulator for every
API's streamed calls, and the run_tools loop."""

from __future__ import annotations

import enum
import json
from typing import Annotated, Any, Literal, Optional

import pytest

from closedpaw_nb import ChatMessage, ChatResponse, ConfigError
from closedpaw_nb.tools import (
    Tool,
    ToolCall,
    ToolCallAccumulator,
    ToolChoice,
    ToolRoundsExceededError,
    as_tools,
    run_tools,
)


class Unit(enum.Enum):
    CELSIUS = "c"
    FAHRENHEIT = "f"


def get_weather(city: str, days: int = 1, unit: Unit = Unit.CELSIUS) -> dict[str, Any]:
    """Get the weather forecast.

    The second paragraph is not part of the description.

    Args:
        city: The city, in English,
            without the country.
        days (int): How many days ahead.

    Returns:
        The forecast.
    """
    return {"city": city, "days": days, "unit": unit.value}


@pytest.mark.parametrize(
    ("hint", "schema"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (Any, {}),
        (list[str], {"type": "array", "items": {"type": "string"}}),
        (list, {"type": "array"}),
        (set[int], {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}),
        (
            tuple[int, str],
            {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "minItems": 2, "maxItems": 2},
        ),
        (dict, {"type": "object"}),
        (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
        (Optional[int], {"anyOf": [{"type": "integer"}, {"type": "null"}]}),  # noqa: UP045 - the typing form
        (int | str, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Literal[1, "x"], {"enum": [1, "x"]}),
        (Unit, {"type": "string", "enum": ["c", "f"]}),
        (Annotated[str, "a city"], {"type": "string", "description": "a city"}),
    ],
)
def test_each_supported_hint_has_its_schema(hint, schema):
    def fn(x: hint) -> None:  # type: ignore[valid-type]
        """Do it."""

    fn.__annotations__["x"] = hint  # the hint object itself, not the name under __future__ annotations
    tool = Tool.from_function(fn)
    assert tool.parameters["properties"]["x"] == schema
    assert tool.parameters["required"] == ["x"]


def test_descriptions_come_from_the_docstring_and_required_from_defaults():
    tool = Tool.from_function(get_weather)
    assert tool.name == "get_weather" and tool.description == "Get the weather forecast."
    properties = tool.parameters["properties"]
    assert properties["city"] == {"type": "string", "description": "The city, in English, without the country."}
    assert properties["days"]["description"] == "How many days ahead."
    assert "description" not in properties["unit"]
    assert tool.parameters["required"] == ["city"] and tool.function is get_weather
    renamed = Tool.from_function(get_weather, name="weather", description="Weather.")
    assert (renamed.name, renamed.description) == ("weather", "Weather.")


def test_pydantic_models_are_described_with_their_nested_definitions_hoisted():
    pydantic = pytest.importorskip("pydantic")

    class Address(pydantic.BaseModel):
        city: str

    class Person(pydantic.BaseModel):
        name: str
        address: Address

    def save(person: Person) -> str:
        """Save a person."""
        return person.address.city

    save.__annotations__["person"] = Person
    tool = Tool.from_function(save)
    assert tool.parameters["properties"]["person"]["properties"]["address"] == {"$ref": "#/$defs/Address"}
    assert "Address" in tool.parameters["$defs"]  # refs resolve from the parameters' root


def test_unsupported_or_missing_hints_are_clear_type_errors():
    import datetime

    def when(at: datetime.date) -> None:
        pass

    when.__annotations__["at"] = datetime.date
    with pytest.raises(TypeError, match="parameter 'at' of .*when: unsupported type hint"):
        Tool.from_function(when)

    def bare(x):  # noqa: ANN001
        pass

    with pytest.raises(TypeError, match="'x' of .*bare has no type hint"):
        Tool.from_function(bare)

    def keys(m: dict[int, str]) -> None:
        pass

    keys.__annotations__["m"] = dict[int, str]
    with pytest.raises(TypeError, match="use dict\\[str, ...\\]"):
        Tool.from_function(keys)


def test_as_tools_accepts_every_shape():
    openai = {"type": "function", "function": {"name": "a", "description": "A.", "parameters": {"type": "object"}}}
    plain = {"name": "b", "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}
    anthropic = {"name": "c", "input_schema": {"type": "object"}}
    tools = as_tools([openai, plain, anthropic, get_weather, Tool("d")])
    assert [t.name for t in tools] == ["a", "b", "c", "get_weather", "d"]
    assert tools[0].description == "A." and tools[1].parameters == plain["parameters"]
    assert as_tools(None) == [] and as_tools(get_weather)[0].name == "get_weather"
    assert tools[0].to_dict() == {"name": "a", "description": "A.", "parameters": {"type": "object"}}


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dots.not.allowed", "ünïcode"])
def test_bad_names_are_refused(name):
    with pytest.raises(ConfigError, match="is not allowed: use 1 to 64 letters"):
        Tool(name)


def test_bad_schemas_duplicates_and_other_kinds_are_refused():
    with pytest.raises(ConfigError, match="parameters must be a JSON schema of an object"):
        Tool("f", parameters={"type": "string"})
    with pytest.raises(ConfigError, match="repeated: f"):
        as_tools([Tool("f"), {"name": "f", "parameters": {"type": "object"}}])
    with pytest.raises(ConfigError, match="needs a name"):
        as_tools([{"parameters": {}}])
    with pytest.raises(ConfigError, match="a tool is a Tool"):
        as_tools([42])
    with pytest.raises(ConfigError, match="must be a list"):
        as_tools("f")


def test_tool_choice_normalisation():
    tools = [Tool("f"), Tool("g")]
    assert ToolChoice.of("auto") == ToolChoice("auto")
    assert ToolChoice.of("none").mode == "none"
    assert ToolChoice.of("any") == ToolChoice.of("required") == ToolChoice("required")
    assert ToolChoice.of("g", tools) == ToolChoice("required", "g")
    assert ToolChoice.of({"type": "function", "function": {"name": "f"}}, tools) == ToolChoice("required", "f")
    with pytest.raises(ConfigError, match="not among the tools: f, g"):
        ToolChoice.of("h", tools)
    with pytest.raises(ConfigError, match="tool_choice must be"):
        ToolChoice.of(3)


# -- ToolCallAccumulator ---------------------------------------------------------------------


def test_openai_fragments_with_interleaved_indexes():
    acc = ToolCallAccumulator()
    acc.add_fragment(0, id="call_a", name="get_weather", arguments="")
    acc.add_fragment(1, id="call_b", name="get_weather", arguments='{"city"')
    acc.add_fragment(0, arguments='{"city":')
    acc.add_fragment(1, arguments=': "Rome"}')
    acc.add_fragment(0, name="get_weather", arguments=' "Paris"}')  # a server repeating the name
    assert acc.calls() == [
        ToolCall("call_a", "get_weather", {"city": "Paris"}),
        ToolCall("call_b", "get_weather", {"city": "Rome"}),
    ]


def test_anthropic_partial_json_per_block():
    acc = ToolCallAccumulator()
    acc.start(1, id="toolu_01A", name="get_weather")
    for piece in ["", '{"city": "Pa', 'ris", "days"', ": 2}"]:
        acc.add_json(1, piece)
    acc.start(2, id="toolu_01B", name="now")  # no input: {} from no partial_json at all
    assert acc.calls() == [
        ToolCall("toolu_01A", "get_weather", {"city": "Paris", "days": 2}),
        ToolCall("toolu_01B", "now"),
    ]


def test_whole_calls_from_gemini_ollama_and_mistral():
    acc = ToolCallAccumulator()
    acc.add_call("get_weather", {"city": "Paris"})  # Gemini: no id
    acc.add_call("get_weather", {"city": "Rome"}, id="call_x2")  # Ollama
    acc.add_call("lookup", '{"q": "x"}', id="D681PevKs")  # Mistral: a JSON string
    calls = acc.calls()
    assert calls[0] == ToolCall("call_0", "get_weather", {"city": "Paris"})
    assert calls[1].id == "call_x2" and calls[2].arguments == {"q": "x"}
    mistral = ToolCallAccumulator()
    mistral.add_fragment(0, id="a", name="f", arguments='{"n": 1}')
    mistral.add_fragment(1, id="b", name="f", arguments='{"n": 2}')
    assert [c.arguments["n"] for c in mistral.calls()] == [1, 2]


@pytest.mark.parametrize(
    ("text", "why"),
    [('{"city": "Pa', "not valid JSON"), ("[1, 2]", "must be a JSON object, got list"), ("nul", "not valid JSON")],
)
def test_malformed_arguments_keep_the_raw_text_and_say_why(text, why):
    acc = ToolCallAccumulator()
    acc.add_fragment(0, id="c", name="f", arguments=text)
    (call,) = acc.calls()
    assert call.arguments == {} and call.raw_arguments == text and why in call.parse_error
    assert call.to_dict()["raw_arguments"] == text
    assert ToolCall.parse("c", "f", text) == call


def test_the_size_cap_stops_growth_and_marks_the_call():
    acc = ToolCallAccumulator(max_chars=100)
    acc.add_fragment(0, id="small", name="f", arguments='{"a": 1}')
    acc.add_fragment(1, id="big", name="g", arguments='{"text": "')
    for _ in range(1000):
        acc.add_fragment(1, arguments="x" * 50)
    small, big = acc.calls()
    assert small.arguments == {"a": 1}
    assert "cut off" in big.parse_error and len(big.raw_arguments) <= 100


def test_calls_without_indexes_continue_the_last_call_unless_a_new_id_comes():
    acc = ToolCallAccumulator()
    acc.add_fragment(id="a", name="f", arguments='{"x":')
    acc.add_fragment(arguments="1}")
    acc.add_fragment(id="b", name="g", arguments="{}")
    assert [(c.id, c.name, c.arguments) for c in acc.calls()] == [("a", "f", {"x": 1}), ("b", "g", {})]
    assert not ToolCallAccumulator() and acc


# -- run_tools -------------------------------------------------------------------------------


class FakeChat:
    """Answers with queued tool calls, then text; records what each call was given."""

    def __init__(self, *rounds: list[ToolCall]) -> None:
        self.rounds = list(rounds)
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, messages, **options):
        self.seen.append({"messages": list(messages), **options})
        calls = self.rounds.pop(0) if self.rounds else []
        return ChatResponse(
            content="" if calls else "It is sunny.",
            model="m",
            provider="fake",
            finish_reason="tool_calls" if calls else "stop",
            tool_calls=calls,
        )


async def test_run_tools_runs_sync_and_async_tools_and_sends_the_results_back():
    async def forecast(city: str, unit: Unit = Unit.CELSIUS) -> dict[str, Any]:
        """Forecast."""
        return {"city": city, "unit": unit.value, "is_enum": isinstance(unit, Unit)}

    def shout(text: str) -> str:
        """Shout."""
        return text.upper()

    chat = FakeChat(
        [ToolCall("c1", "forecast", {"city": "Paris", "unit": "f"}), ToolCall("c2", "shout", {"text": "hi"})]
    )
    run = await run_tools(chat, "Weather?", [forecast, shout], tool_choice="required", temperature=0)
    assert run.content == "It is sunny." and run.rounds == 2
    first, second = chat.seen
    assert first["tool_choice"] == ToolChoice("required") and second["tool_choice"] == ToolChoice("auto")
    assert [t.name for t in first["tools"]] == ["forecast", "shout"] and first["temperature"] == 0
    user, assistant, result1, result2 = second["messages"]
    assert user == ChatMessage("user", "Weather?")
    assert assistant.role == "assistant" and [c.id for c in assistant.tool_calls] == ["c1", "c2"]
    assert result1.role == "tool" and result1.tool_call_id == "c1" and result1.name == "forecast"
    assert json.loads(result1.content) == {"city": "Paris", "unit": "f", "is_enum": True}
    assert result2.content == "HI"
    assert run.messages == second["messages"]


async def test_a_raising_tool_sends_the_error_back_instead_of_raising():
    def broken(x: int) -> int:
        """Break."""
        raise ValueError("no such x")

    chat = FakeChat([ToolCall("c1", "broken", {"x": 1}), ToolCall("c2", "missing", {})])
    messages = [ChatMessage("user", "go")]
    run = await run_tools(chat, messages, [broken])
    results = [m for m in run.messages if m.role == "tool"]
    assert json.loads(results[0].content) == {"error": "ValueError: no such x"}
    assert "no tool named 'missing'" in json.loads(results[1].content)["error"]
    assert messages == [ChatMessage("user", "go")]  # the caller's list is left as it was
    bad_json = FakeChat([ToolCall.parse("c3", "broken", "{oops")])
    run = await run_tools(bad_json, "go", [broken])
    assert "could not be read" in json.loads(run.messages[2].content)["error"]


async def test_max_rounds_raises_with_the_conversation_kept():
    def again() -> str:
        """Again."""
        return "more"

    chat = FakeChat(*[[ToolCall(f"c{i}", "again", {})] for i in range(10)])
    with pytest.raises(ToolRoundsExceededError, match="after 3 rounds") as caught:
        await run_tools(chat, "loop", [again], max_rounds=3)
    assert len(chat.seen) == 3 and caught.value.run.rounds == 3
    assert caught.value.run.response.tool_calls[0].id == "c2"
    with pytest.raises(ConfigError, match="at least 1"):
        await run_tools(chat, "loop", [again], max_rounds=0)
    with pytest.raises(ConfigError, match="have none: f"):
        await run_tools(chat, "loop", [{"name": "f", "parameters": {"type": "object"}}])


async def test_run_tools_through_a_real_manager_and_provider():
    from closedpaw_nb import ProviderConfig
    from closedpaw_nb.manager import ProviderManager
    from closedpaw_nb.providers import BaseProvider

    class Caller(BaseProvider):
        capabilities = frozenset({"text", "tools"})

        async def chat(self, messages, model=None, tools=(), tool_choice=None, **kwargs):
            done = any(m.role == "tool" for m in messages)
            calls = [] if done else [ToolCall("c1", tools[0].name, {"a": 2, "b": 3})]
            text = messages[-1].content if done else ""
            return ChatResponse(text, "m", self.name, latency_ms=1.0, tool_calls=calls)

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    manager = ProviderManager()
    manager.register_provider(ProviderConfig("custom", name="caller", default_model="m"), provider_class=Caller)
    run = await run_tools(manager.chat, "2 + 3?", [add], provider="caller")
    assert run.content == "5" and run.rounds == 2


def test_a_call_signature_is_kept_from_the_wire_through_dicts_and_messages():
    calls = ToolCallAccumulator()
    calls.add_call("get_weather", {"city": "Paris"}, signature="c2lnMQ==")
    calls.add_call("get_time", "{}")
    signed, unsigned = calls.calls()
    assert (signed.signature, unsigned.signature) == ("c2lnMQ==", None)
    assert signed.to_dict()["signature"] == "c2lnMQ==" and "signature" not in unsigned.to_dict()
    assert ToolCall.from_dict(json.loads(json.dumps(signed.to_dict()))) == signed
    turn = ChatMessage("assistant", "", tool_calls=[signed.to_dict(), unsigned])
    assert [c.signature for c in turn.tool_calls] == ["c2lnMQ==", None]
