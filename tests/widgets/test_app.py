"""app(): six tabs on one manager, wired together; no key anywhere in the widget state."""

from __future__ import annotations

import json

import pytest

import closedpaw_nb.manager as manager_module
from closedpaw_nb import _runner
from closedpaw_nb.bench.store import RunStore
from closedpaw_nb.widgets import (
    ArenaPanel,
    BenchmarkPanel,
    ClosedPawApp,
    ComparisonPanel,
    HealthDashboard,
    LeaderboardPanel,
    RegistrationPanel,
    app,
)

from ._helpers import all_widget_state, wait_until


@pytest.fixture
def store(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    yield store
    store.close()


def test_six_tabs_share_one_manager(manager, store):
    ui = app(manager, store=store)
    assert isinstance(ui, ClosedPawApp)
    assert ui.titles == ("Providers", "Compare", "Health", "Benchmark", "Leaderboard", "Arena")
    kinds = (RegistrationPanel, ComparisonPanel, HealthDashboard, BenchmarkPanel, LeaderboardPanel, ArenaPanel)
    assert len(ui.children) == len(kinds) and ui.leaderboard is ui.children[4] and ui.arena is ui.children[5]
    assert all(isinstance(p, k) and p.manager is manager for p, k in zip(ui.children, kinds, strict=True))
    assert ui.leaderboard.store is ui.benchmark.store is ui.arena.store is store


def test_the_arena_tab_lists_runs_as_they_end_and_votes_on_them(sim, manager, store):
    ui = app(manager, store=store)
    reg = ui.registration
    for name, model in (("small", "sim-small"), ("large", "sim-large")):
        reg.name.value, reg.base_url.value, reg.api_key.value = name, sim.base_url("openai"), "sk-test-key-0123456789"
        reg.default_model.value = model
        reg.register_button.click()
        reg.wait()
    assert ui.arena.run.options == () and ui.arena.form.phase == "closed"
    bench = ui.benchmark
    bench.prompts.value, bench.trials.value, bench.warmup.value = "Say hi\nSay bye", 1, 0
    bench.targets.value = ("small:sim-small", "large:sim-large")
    bench.run_button.click()
    bench.wait()
    run_id = bench.run.run_id
    assert ui.arena.run.value == run_id  # listed when the run ended, newest first
    store.create_run("made-elsewhere", {})  # e.g. by code in another cell
    ui.selected_index = 5  # opening the tab lists it, and selects it (new)
    assert ui.arena.run.value == "made-elsewhere" and "made-elsewhere" in ui.arena.run.options[0][0]
    ui.arena.open_button.click()  # a run without answers: said in the status line
    ui.arena.wait()
    assert "has no answers" in ui.arena.error and ui.arena.form.phase == "closed"
    ui.arena.run.value = run_id
    ui.arena.open_button.click()
    ui.arena.wait()
    assert ui.arena.error == "" and ui.arena.progress == "0 of 2 voted by you"
    ui.arena.vote_buttons["tie"].click()
    assert ui.arena.reveal.endswith("you chose a tie") and ui.arena.arena.votes.verdict.tolist() == ["tie"]


def test_default_manager_is_the_notebook_one(monkeypatch, store):
    monkeypatch.setattr(manager_module, "_singleton", None)
    ui = app(store=store)
    try:
        assert ui.manager is manager_module.get_provider_manager()
        assert ui.comparison.targets.options == ("ollama",)  # the seed's entry: no model known yet
        assert list(ui.registration.providers.name) == ["ollama"]
    finally:
        _runner.run(ui.manager.close_all())


def test_registering_refreshes_the_other_tabs_and_health_fills_the_table(sim, manager, store, canary):
    ui = app(manager, store=store)
    reg = ui.registration
    reg.provider_type.value, reg.name.value = "anthropic", "claude-sim"
    reg.base_url.value, reg.api_key.value, reg.default_model.value = sim.base_url("anthropic"), canary, "sim-large"
    reg.register_button.click()
    reg.wait()
    assert ui.comparison.targets.options == ("claude-sim:sim-large",)
    assert ui.benchmark.targets.options == ui.leaderboard.targets.options == ("claude-sim:sim-large",)
    sim.simulator.add_fault(_auth_fault())
    ui.health.check_button.click()
    ui.health.wait()
    assert reg.providers.loc[0, "health"].startswith("auth_failed")  # the dashboard's result
    reg.remove("claude-sim")
    reg.wait()
    assert ui.comparison.targets.options == () and ui.benchmark.targets.options == ()
    assert ui.leaderboard.targets.options == ()


def test_a_whole_session_leaves_no_key_in_any_widget(sim, manager, store, canary):
    ui = app(manager, store=store)
    reg = ui.registration
    for ptype in ("openai", "mistral"):
        reg.provider_type.value, reg.name.value = ptype, f"{ptype}-sim"
        reg.base_url.value, reg.api_key.value, reg.default_model.value = sim.base_url(ptype), canary, "sim-small"
        reg.test_button.click()
        reg.wait()
        assert canary not in all_widget_state()  # Test connection took it out of the form
        reg.register_button.click()
        reg.wait()
    reg.api_key.value = canary
    reg.name.value = "openai-sim"  # duplicate: refused, and the key still leaves the form
    reg.register_button.click()
    cmp_ = ui.comparison
    cmp_.prompt.value, cmp_.targets.value = "Hello", ("openai-sim:sim-small", "mistral-sim:sim-small")
    cmp_.run_button.click()
    cmp_.wait()
    ui.health.check_button.click()
    ui.health.wait()
    bench = ui.benchmark
    bench.prompts.value, bench.targets.value, bench.trials.value = "a\nb", ("mistral-sim:sim-small",), 1
    bench.run_button.click()
    bench.wait()
    board = ui.leaderboard
    board.targets.value, board.limit.value = ("openai-sim:sim-small", "mistral-sim:sim-small"), 3
    board.run_button.click()
    board.wait()
    assert cmp_.results.ok.all() and bench.run.df.ok.all() and ui.health.latest.ok.all()
    assert board.error == "" and len(board.form.rows) == 2 and board.form.errors == 0
    state = all_widget_state()
    assert canary not in state and cmp_.results.response.iloc[0] in state
    forms = [reg.form.trait_values(), cmp_.form.trait_values(), board.form.trait_values()]
    assert canary not in json.dumps(forms, default=str)


def test_closing_the_app_stops_background_work(sim, manager, store, add_slow):
    target = add_slow(n=500, delay=0.02)
    ui = app(manager, store=store)
    ui.health.interval.value = 1.0
    ui.health.auto_refresh.value = True
    ui.comparison.prompt.value, ui.comparison.targets.value = "Go", (target,)
    ui.comparison.run_button.click()
    wait_until(lambda: ui.comparison.columns[target].text, what="streaming to start")
    ui.close()
    ui.comparison.wait(5)
    wait_until(lambda: not ui.health.refreshing, timeout=5, what="auto-refresh to stop")
    assert ui.comparison.columns[target].phase == "cancelled"


def _auth_fault():
    from closedpaw_nb.sim import Fault

    return Fault("status", provider="anthropic", endpoint="models", status=401)
