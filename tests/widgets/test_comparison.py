"""ComparisonPanel: live columns per target, errors per column, Cancel, results rows."""

from __future__ import annotations

import pytest

from closedpaw_nb.bench.frames import ROW_COLUMNS, empty_frame
from closedpaw_nb.config import ProviderConfig
from closedpaw_nb.widgets import ComparisonPanel
from closedpaw_nb.widgets._streaming import TICK

from ._helpers import KEY, SlowProvider, wait_until


def test_targets_list_every_provider_model(sim_manager):
    panel = ComparisonPanel(sim_manager)
    assert panel.targets.options == (
        "s-openai:sim-small",
        "s-openai:sim-large",
        "s-anthropic:sim-small",
        "s-anthropic:sim-large",
        "bad:sim-small",
    )


@pytest.mark.parametrize(
    "prompt, targets, expected",
    [
        ("", ("s-openai:sim-small",), "type a prompt"),
        ("   ", ("s-openai:sim-small",), "type a prompt"),
        ("Hello", (), "pick at least one target"),
    ],
)
def test_bad_inputs_are_refused(sim_manager, prompt, targets, expected):
    panel = ComparisonPanel(sim_manager)
    panel.prompt.value, panel.targets.value = prompt, targets
    panel.run_button.click()
    assert expected in panel.error and not panel.job.running and panel.results.empty
    assert expected in panel.status_html.value


def test_target_removed_since_listed_is_an_error(sim_manager):
    from closedpaw_nb import _runner

    panel = ComparisonPanel(sim_manager)
    panel.prompt.value, panel.targets.value = "Hello", ("s-openai:sim-small",)
    _runner.run(sim_manager.unregister("s-openai"))
    assert panel.start() is False and "unknown target" in panel.error


def test_answers_stream_into_one_column_per_target(sim, sim_manager):
    panel = ComparisonPanel(sim_manager)
    panel.prompt.value = "Why is the sky blue?"
    panel.system.value = "Answer briefly."
    panel.targets.value = ("s-openai:sim-small", "s-anthropic:sim-large")
    panel.max_tokens.value = 12
    panel.run_button.click()
    panel.wait()
    assert panel.error == "" and panel.status.startswith("Done: 2 answered, 0 failed")
    df = panel.results
    assert list(df.columns) == list(ROW_COLUMNS) and len(df) == 2 and df.ok.all()
    assert df.dtypes.equals(empty_frame().dtypes)  # exactly compare()'s frame (rows_to_frame)
    for target, col in panel.columns.items():
        row = df.set_index("target").loc[target]
        assert col.phase == "done" and col.text == row.response and col.tokens == row.completion_tokens == 12
        assert col.latency_ms == pytest.approx(row.latency_ms) and col.ttft_ms is not None
        view = panel.views[target]
        assert row.response.split()[0] in view.answer.value
        assert "latency" in view.metrics.value and "12 tokens" in view.metrics.value and "tok/s" in view.metrics.value
        assert "(local)" in view.metrics.value  # loopback simulator: cost 0.0
    chats = [r for r in sim.simulator.requests_for("anthropic") if r.path.endswith("/messages")]
    assert [r.json.get("system") for r in chats] == ["Answer briefly."]


def test_simulated_providers_are_labelled(sim, manager):
    manager.register_provider(
        ProviderConfig(
            "openai",
            name="sim-openai",
            api_key=KEY,
            base_url=sim.base_url("openai"),
            default_model="sim-small",
            settings={"simulated": True},
        )
    )
    panel = ComparisonPanel(manager)
    panel.prompt.value, panel.targets.value = "Hello", ("sim-openai:sim-small",)
    panel.run_button.click()
    panel.wait()
    assert "(simulated output)" in panel.views["sim-openai:sim-small"].header.value
    metrics = panel.views["sim-openai:sim-small"].metrics.value
    assert "cost: simulated" in metrics and "$0" not in metrics


def test_each_run_appends_rows(sim_manager):
    panel = ComparisonPanel(sim_manager)
    panel.prompt.value, panel.targets.value = "One", ("s-openai:sim-small",)
    panel.run_button.click()
    panel.wait()
    panel.prompt.value = "Two"
    panel.targets.value = ("s-openai:sim-small", "s-anthropic:sim-small")
    panel.run_button.click()
    panel.wait()
    df = panel.results
    assert len(df) == 3 and df.run_id.nunique() == 2 and list(df.prompt).count("Two") == 2


def test_an_error_stays_in_its_column(sim_manager):
    panel = ComparisonPanel(sim_manager)
    panel.prompt.value = "Hello"
    panel.targets.value = ("s-openai:sim-small", "bad:sim-small", "s-anthropic:sim-small")
    panel.run_button.click()
    panel.wait()
    cols = panel.columns
    assert cols["bad:sim-small"].phase == "error" and "AuthenticationError" in cols["bad:sim-small"].error
    assert "AuthenticationError" in panel.views["bad:sim-small"].answer.value
    assert "failed after" in panel.views["bad:sim-small"].metrics.value
    assert cols["s-openai:sim-small"].phase == cols["s-anthropic:sim-small"].phase == "done"
    assert panel.results.ok.tolist().count(False) == 1 and "2 answered, 1 failed" in panel.status


def test_each_pane_shows_its_score_against_the_expected_answer(sim, sim_manager):
    panel = ComparisonPanel(sim_manager)
    panel.prompt.value = "What is 17 + 25? Answer with just the number."
    panel.targets.value = ("s-openai:sim-small", "s-anthropic:sim-large", "bad:sim-small")
    panel.expected.value, panel.scorer.value = "42", "numeric"
    panel.run_button.click()
    panel.wait()
    scored = 0.0
    for target, col in panel.columns.items():
        view = panel.views[target].score.value
        if col.phase == "error":
            assert col.score is None and "missing" in view and "the call failed" in col.score_note
            continue
        right = sim.simulator.expected_correct(target.split(":")[1], "arithmetic-01")
        assert col.score == float(right) and ("✓" if right else "✗") in view and "numeric:" in view
        scored += col.score
    assert f"Score by numeric: {scored:g} of 3" in panel.status
    panel.expected.value = ""  # no expected answer: nothing is scored, no score line
    panel.run_button.click()
    panel.wait()
    assert all(c.score_note == "" for c in panel.columns.values())
    assert all(v.score.value == "" for v in panel.views.values()) and "Score by" not in panel.status


def test_streaming_updates_are_live_and_throttled(manager, add_slow):
    target = add_slow(n=40, delay=0.01)
    panel = ComparisonPanel(manager)
    panel.prompt.value, panel.targets.value = "Go", (target,)
    seen, timers = [], []
    panel.run_button.click()
    col = panel.columns[target]
    col.observe(lambda c: seen.append(c["new"]), names="text")
    col.observe(lambda c: timers.append(panel.views[target].metrics.value), names="elapsed_ms")
    panel.wait()
    final = col.text
    assert final == "".join(f"w{i} " for i in range(40))
    partial = [t for t in seen if 0 < len(t) < len(final)]
    assert partial, "no partial answer was shown while streaming"
    # One update per tick at most (plus the final one), however fast the deltas come.
    assert len(seen) <= col.latency_ms / 1000 / TICK + 3 and len(seen) < 40, "UI updates were not throttled"
    assert any("chunks so far" in t and "running" in t for t in timers)
    assert col.tokens == 40 and col.ttft_ms > 0


def test_cancel_stops_running_targets_and_keeps_finished_ones(sim_manager, add_slow):
    sim_manager.register_provider(
        ProviderConfig("custom", name="slow", default_model="slow-model", settings={"n": 200, "delay": 0.05}),
        provider_class=SlowProvider,
    )
    SlowProvider.closed.clear()
    panel = ComparisonPanel(sim_manager)
    panel.prompt.value = "Hello"
    panel.targets.value = ("s-openai:sim-small", "slow:slow-model")
    panel.run_button.click()
    assert panel.run_button.disabled and not panel.cancel_button.disabled
    wait_until(lambda: panel.columns["s-openai:sim-small"].phase == "done", what="the fast target")
    wait_until(lambda: panel.columns["slow:slow-model"].text, what="the first slow delta")
    panel.cancel_button.click()
    panel.wait(10)
    slow = panel.columns["slow:slow-model"]
    assert slow.phase == "cancelled" and slow.text and "cancelled after" in panel.views["slow:slow-model"].metrics.value
    assert "Cancelled" in panel.status and SlowProvider.closed == ["slow"]
    assert panel.results.target.tolist() == ["s-openai:sim-small"]
    assert not panel.run_button.disabled and panel.cancel_button.disabled


def test_click_returns_at_once(manager, add_slow):
    target = add_slow(n=6, delay=0.05)
    panel = ComparisonPanel(manager)
    panel.prompt.value, panel.targets.value = "Go", (target,)
    panel.run_button.click()
    # The run takes at least 0.3 s (6 deltas 0.05 s apart) on the runner loop: had the click
    # waited for it, it would be over and start() would begin a new one.
    assert panel.start() is False and "still going" in panel.error
    panel.wait()


def test_prices_give_costs(sim_manager):
    panel = ComparisonPanel(sim_manager, prices={"s-openai:sim-small": (1.0, 2.0)})
    panel.prompt.value, panel.targets.value = "Hello", ("s-openai:sim-small",)
    panel.max_tokens.value = 10
    panel.run_button.click()
    panel.wait()
    row = panel.results.iloc[0]
    assert row.cost_usd == pytest.approx((row.prompt_tokens * 1.0 + 10 * 2.0) / 1e6)
    assert f"${row.cost_usd:.6f}" in panel.views["s-openai:sim-small"].metrics.value


def test_refresh_adds_new_providers_and_live_models(sim, manager):
    panel = ComparisonPanel(manager)
    assert panel.targets.options == ()
    manager.register_provider(ProviderConfig("mistral", name="m", api_key=KEY, base_url=sim.base_url("mistral")))
    panel.refresh_button.click()
    panel.wait()
    assert panel.targets.options == ("m:sim-small", "m:sim-large") and "2 targets" in panel.status


def test_a_target_without_a_model_fails_in_its_column_and_the_others_run(sim, sim_manager):
    sim_manager.register_provider(
        ProviderConfig("openai", name="nomodel", api_key=KEY, base_url=sim.base_url("openai"))
    )
    panel = ComparisonPanel(sim_manager)
    assert "nomodel" in panel.targets.options  # offered, and never pre-selected
    assert panel.targets.value == ()
    panel.prompt.value, panel.targets.value = "Hello", ("nomodel", "s-openai:sim-small")
    assert panel.start() is True
    panel.wait()
    columns = panel.columns
    assert columns["s-openai:sim-small"].phase == "done" and columns["nomodel:(no model)"].phase == "error"
    error = columns["nomodel:(no model)"].error
    assert error.startswith("MissingModelError: Choose a model for nomodel") and "sim-small, sim-large" in error
    assert "1 answered, 1 failed" in panel.status


def test_cancel_looks_disabled_until_something_runs_and_long_errors_fold(manager):
    from closedpaw_nb.widgets._views import message

    panel = ComparisonPanel(manager)
    assert panel.cancel_button.disabled and panel.cancel_button.button_style == ""  # grey while idle
    panel._set_busy(True)
    assert not panel.cancel_button.disabled and panel.cancel_button.button_style == "warning"
    panel._set_busy(False)
    assert panel.cancel_button.button_style == ""
    long = "ConnectError: " + "the upstream said no " * 40 + "<end>"
    folded = message(long, "error")
    assert "show all</summary>" in folded and folded.count("&lt;end&gt;") == 1  # the whole text, once, on demand
    assert "show all" not in message("short and sweet", "error")


def test_each_pane_shows_tool_calls_and_parsed_json(manager):
    import json as json_module

    from closedpaw_nb import ChatResponse
    from closedpaw_nb.providers import BaseProvider
    from closedpaw_nb.tools import ToolCall

    class Structured(BaseProvider):
        capabilities = frozenset({"text", "structured", "tools"})

        async def chat(self, messages, model=None, **options):
            if options.get("tools"):
                call = ToolCall("c1", "get_weather", {"city": "Paris"})
                return ChatResponse("", model or "m", self.name, finish_reason="tool_calls", tool_calls=[call])
            return ChatResponse(json_module.dumps({"city": "Paris"}), model or "m", self.name)

    manager.register_provider(ProviderConfig("custom", name="st", default_model="m"), provider_class=Structured)
    tools = [{"name": "get_weather", "description": "weather", "parameters": {"type": "object", "properties": {}}}]
    for options, cls, shown in (
        ({"tools": tools}, "cpnb-tool-calls", "→ get_weather({&quot;city&quot;: &quot;Paris&quot;})"),
        ({"response_format": {"type": "object"}}, "cpnb-parsed", "&quot;city&quot;: &quot;Paris&quot;"),
    ):
        panel = ComparisonPanel(manager, **options)
        panel.prompt.value, panel.targets.value = "Weather in Paris?", ("st:m",)
        panel.run_button.click()
        panel.wait()
        view = panel.views["st:m"].answer.value
        assert cls in view and shown in view, view
