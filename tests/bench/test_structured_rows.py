"""Structured output and tool calls in benchmark rows, evaluations and exports: every call
records its tool calls and decoded answer as JSON, `schema_valid`, and where its counts came
from; `tool_call` and `json_valid` score them."""

from __future__ import annotations

import json

import pytest

from closedpaw_nb import ChatResponse, ProviderConfig, ProviderManager
from closedpaw_nb import _runner as runner
from closedpaw_nb.bench.files import read_results
from closedpaw_nb.bench.run import resume_benchmark, run_benchmark
from closedpaw_nb.bench.store import RunStore
from closedpaw_nb.evals.run import run_evaluation
from closedpaw_nb.providers import BaseProvider
from closedpaw_nb.scorers import json_valid, tool_call
from closedpaw_nb.tools import ToolCall

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


class Structured(BaseProvider):
    """Calls `get_weather` when given tools; answers JSON when given a format: valid for
    prompts with "good", missing the required field otherwise."""

    capabilities = frozenset({"text", "structured", "tools"})
    seen: list[dict] = []

    async def chat(self, messages, model=None, **options):
        Structured.seen.append(options)
        prompt = messages[-1].content
        if options.get("tools"):
            city = "Paris" if "good" in prompt else "Rome"
            call = ToolCall("c1", "get_weather", {"city": city})
            return ChatResponse("", model or "m", self.name, finish_reason="tool_calls", tool_calls=[call])
        if options.get("response_format"):
            text = json.dumps({"city": "Paris"} if "good" in prompt else {"town": "Paris"})
            return ChatResponse(text, model or "m", self.name, completion_tokens=5)
        return ChatResponse("plain", model or "m", self.name)


def get_weather(city: str) -> str:
    """The weather.

    Args:
        city: Where.
    """
    return "sunny"


@pytest.fixture
def manager():
    Structured.seen = []
    manager = ProviderManager()
    manager.register_provider(ProviderConfig("custom", name="s", default_model="m"), provider_class=Structured)
    yield manager
    runner.run(manager.close_all())


def test_rows_record_tool_calls_and_resume_sends_the_same_tools(manager, tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run = runner.run(
        run_benchmark(manager, {"a": "good", "b": "bad"}, ["s"], trials=1, warmup=0, store=store, tools=[get_weather])
    )
    df = run.df.set_index("prompt_id")
    assert json.loads(df.loc["a", "tool_calls"]) == [
        {"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert df["schema_valid"].isna().all() and df.loc["a", "usage_source"] == "missing"  # no counts sent
    recorded = run.manifest["parameters"]["options"]["tools"]
    assert recorded == [{"name": "get_weather", "description": "The weather.", "parameters": recorded[0]["parameters"]}]
    assert recorded[0]["parameters"]["required"] == ["city"]
    again = runner.run(resume_benchmark(manager, run.run_id, store))  # reads the recorded tools back
    assert len(again.df) == 2
    back = read_results(run.to_csv(tmp_path / "r.csv"))
    assert back.dtypes.equals(run.df.dtypes) and back["tool_calls"].tolist() == run.df["tool_calls"].tolist()


def test_schema_valid_and_parsed_columns_and_the_scorers(manager, tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    items = [
        {"id": "good", "input": "good", "expected": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {"id": "bad", "input": "bad", "expected": {"name": "get_weather", "arguments": {"city": "Paris"}}},
    ]
    tools = runner.run(run_evaluation(manager, items, ["s"], scorers=[tool_call()], store=store, tools=[get_weather]))
    assert tools.df.set_index("prompt_id")["tool_call"].to_dict() == {"good": 1.0, "bad": 0.0}

    shaped = runner.run(
        run_evaluation(
            manager, ["good", "bad"], ["s"], scorers=[json_valid(SCHEMA)], store=store, response_format=SCHEMA
        )
    )
    df = shaped.df.set_index("prompt")
    assert df["schema_valid"].tolist() == [True, False] and df["json_valid"].tolist() == [1.0, 0.0]
    assert json.loads(df.loc["good", "parsed"]) == {"city": "Paris"} and df.loc["good", "usage_source"] == "reported"
    assert json.loads(df.loc["bad", "parsed"]) is None  # the near miss is recorded, not raised
