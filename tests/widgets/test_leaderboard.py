"""LeaderboardPanel: an evaluation on the simulator fills a sortable table, a chart and
exports; bad inputs are refused before anything is sent; Cancel stops a run."""

from __future__ import annotations

import base64
import json

import pandas as pd
import pytest

from closedpaw_nb import datasets
from closedpaw_nb.bench.store import RunStore
from closedpaw_nb.scorers import per_item
from closedpaw_nb.sim.answers import expected_correct
from closedpaw_nb.widgets import LeaderboardPanel

from ._helpers import wait_until

SIM_TARGETS = ("s-openai:sim-small", "s-openai:sim-large", "s-anthropic:sim-small", "s-anthropic:sim-large")


@pytest.fixture
def store(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    yield store
    store.close()


def _truth(target: str) -> float:
    model = target.split(":")[1]
    ids = datasets.load("basic")["id"]
    return sum(expected_correct(model, i) for i in ids) / len(ids)


def test_a_run_ranks_the_simulated_targets(sim_manager, sim, store, tmp_path):
    panel = LeaderboardPanel(sim_manager, store=store, export_dir=str(tmp_path / "out"))
    assert set(SIM_TARGETS) <= set(panel.targets.options) and panel.form.scorers == ["correct"]
    panel.targets.value = SIM_TARGETS
    panel.run_button.click()
    assert panel.form.running and panel.run_button.disabled and not panel.cancel_button.disabled
    panel.wait()
    assert panel.error == "" and not panel.form.running and not panel.run_button.disabled
    total = 60 * len(SIM_TARGETS)
    assert (panel.progress.value, panel.progress.description) == (total, f"{total}/{total}")
    assert panel.progress.bar_style == "success" and f"ok {total}" in panel.counts.value
    # one row per target, best first, each at the simulator's known accuracy on "basic"
    rows = panel.form.rows
    assert sorted(r["target"] for r in rows) == sorted(SIM_TARGETS) and panel.form.sort_by == "correct"
    assert [r["correct"] for r in rows] == sorted((r["correct"] for r in rows), reverse=True)
    for r in rows:
        assert r["correct"] == pytest.approx(_truth(r["target"]))
        assert r["correct_ci_low"] <= r["correct"] <= r["correct_ci_high"] and r["n_items"] == 60
    assert rows[0]["target"].endswith("sim-large") and rows[-1]["target"].endswith("sim-small")
    assert panel.form.run_id == panel.result.run_id and panel.form.run_id in panel.status
    assert f"Best by correct: {rows[0]['target']}" in panel.status
    assert store.runs()[0]["status"] == "done"
    # the table, the simulated-output note and the chart
    table = panel.table.value
    assert all(t in table for t in SIM_TARGETS) and "correct_ci_low" in table and "latency_p50_ms" in table
    assert f"{rows[0]['correct']:.1%}" in table
    assert panel.form.simulated == [] and panel.fields.simulated_html.value == ""  # not flagged "simulated"
    panel.form.simulated = ["s-anthropic", "s-openai"]  # as a run on providers flagged so records it
    assert "Simulated output (s-anthropic, s-openai)" in panel.fields.simulated_html.value
    assert base64.b64decode(panel.chart.outputs[0]["data"]["image/png"]).startswith(b"\x89PNG")
    # exports: every answer (with its scores and the manifest), and the leaderboard as shown
    answers, board = panel.export("answers"), panel.export("leaderboard")
    run_id = panel.form.run_id
    assert answers == tmp_path / "out" / f"{run_id}.csv" and board == tmp_path / "out" / f"{run_id}.leaderboard.csv"
    assert panel.exported == [str(answers), str(answers.with_suffix(".manifest.json")), str(board)]
    assert str(board) in panel.fields.exported_html.value and panel.error == ""
    df = pd.read_csv(answers)
    assert len(df) == total and {"correct", "correct_explanation", "scorer", "category"} <= set(df.columns)
    assert df["correct_explanation"].str.match(r"(exact_match|numeric|choice|json_valid): ").all()
    assert json.loads(answers.with_suffix(".manifest.json").read_text())["scorers"] == ["correct"]
    assert pd.read_csv(board)["target"].tolist() == [r["target"] for r in rows]


def test_sort_by_reorders_the_rows_and_the_table(sim_manager, store):
    panel = LeaderboardPanel(sim_manager, store=store)
    assert panel.sort_by.layout.display == "none"  # nothing to sort before a run
    panel.targets.value = ("s-openai:sim-small", "s-openai:sim-large")
    panel.scorer_boxes["numeric"].value = True
    panel.limit.value = 12  # the first 12 items: arithmetic, all numeric
    panel.run_button.click()
    panel.wait()
    assert panel.form.scorers == ["correct", "numeric"] and panel.form.scorer_names == ["correct", "numeric"]
    assert {r["n_items"] for r in panel.form.rows} == {12}
    values = [v for _label, v in panel.sort_by.options]
    assert values[:2] == ["correct", "numeric"] and "latency_p50_ms" in values and "target" in values
    panel.sort_by.value = "target"
    assert panel.form.sort_by == "target"
    assert [r["target"] for r in panel.form.rows] == ["s-openai:sim-large", "s-openai:sim-small"]
    panel.sort_by.value = "latency_p50_ms"
    latencies = [r["latency_p50_ms"] for r in panel.form.rows]
    assert latencies == sorted(latencies)
    shown = [panel.table.value.index(r["target"]) for r in panel.form.rows]
    assert shown == sorted(shown)  # the table lists the rows in the state's order
    panel.form.sort_by = "correct"  # the state drives the dropdown too
    assert panel.sort_by.value == "correct"
    panel.run_button.click()  # a new run keeps the chosen sort column
    panel.wait()
    assert panel.form.sort_by == "correct" and panel.leaderboard["target"].tolist()[0] == "s-openai:sim-large"


@pytest.mark.parametrize(
    "targets, scorers, dataset, path, expected",
    [
        ((), ["correct"], "basic", "", "pick at least one target"),
        (("s-openai:sim-small",), [], "basic", "", "tick at least one scorer"),
        (("s-openai:sim-small",), ["correct"], "file", "  ", "type the path of a CSV, JSONL or Parquet file"),
    ],
)
def test_bad_inputs_are_refused_before_a_run(sim_manager, sim, store, targets, scorers, dataset, path, expected):
    panel = LeaderboardPanel(sim_manager, store=store)
    panel.targets.value = targets
    for name, box in panel.scorer_boxes.items():
        box.value = name in scorers
    panel.dataset.value, panel.path.value = dataset, path
    panel.run_button.click()
    assert expected in panel.error and expected in panel.status_html.value
    assert not panel.job.running and panel.result is None and panel.form.run_id == ""
    assert sim.simulator.requests == [] and store.runs() == []


def test_bad_files_are_refused_before_any_call(sim_manager, sim, store, tmp_path):
    panel = LeaderboardPanel(sim_manager, store=store)
    panel.targets.value = ("s-openai:sim-small",)
    panel.dataset.value = "file"
    assert panel.path.layout.display == ""
    panel.path.value = str(tmp_path / "missing.csv")
    panel.run_button.click()
    panel.wait()
    assert "no such file" in panel.error and panel.result is None
    # a file of your own without a scorer column: "correct" cannot apply, named scorers can
    items = tmp_path / "items.csv"
    pd.DataFrame({"input": ["What is 2 + 2? Answer with just the number."], "expected": ["4"]}).to_csv(items)
    panel.path.value = str(items)
    panel.run_button.click()
    panel.wait()
    assert "no 'scorer' column" in panel.error and "untick it" in panel.error
    assert sim.simulator.requests == []
    panel.scorer_boxes["correct"].value, panel.scorer_boxes["numeric"].value = False, True
    panel.run_button.click()
    panel.wait()
    assert panel.error == "" and [r["target"] for r in panel.form.rows] == ["s-openai:sim-small"]
    assert panel.form.scorer_names == ["numeric"] and panel.leaderboard.loc[0, "n_items"] == 1


def test_failed_calls_count_as_errors_not_wrong_answers(sim_manager, store):
    panel = LeaderboardPanel(sim_manager, store=store)
    panel.targets.value, panel.limit.value = ("s-openai:sim-large", "bad:sim-small"), 5
    panel.run_button.click()
    panel.wait()
    assert "ok 5" in panel.counts.value and "errors 5" in panel.counts.value
    assert panel.progress.bar_style == "danger" and "5 ok, 5 errors" in panel.status
    bad = panel.leaderboard.set_index("target").loc["bad:sim-small"]
    assert bad["error_rate"] == 1.0 and pd.isna(bad["correct"])
    assert panel.form.rows[-1]["target"] == "bad:sim-small"  # an unknown score sorts last


def test_cancel_stops_a_run(manager, add_slow, store):
    target = add_slow(n=3, delay=0.02)
    panel = LeaderboardPanel(manager, store=store)
    panel.targets.value, panel.concurrency.value = (target,), 1
    panel.run_button.click()
    wait_until(lambda: panel.form.done >= 2, what="two finished calls")
    panel.cancel_button.click()
    panel.wait()
    run_id = panel.form.run_id
    assert 2 <= panel.form.done < 60 and panel.form.total == 60
    assert "cancelled" in panel.status and run_id in panel.status and store.path in panel.status
    assert panel.result is None and panel.form.rows == [] and panel.table.value == ""
    assert not panel.form.running and not panel.run_button.disabled and panel.cancel_button.disabled
    assert store.runs()[0]["status"] == "cancelled" and len(store.rows(run_id)) == panel.form.done
    assert panel.export("answers") is None and "run an evaluation first" in panel.error


def test_exports_before_a_run_and_to_an_unwritable_place(sim_manager, store, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    panel = LeaderboardPanel(sim_manager, store=store, export_dir=str(blocker))
    panel.board_csv_button.click()
    assert "run an evaluation first" in panel.error
    panel.targets.value, panel.limit.value = ("s-openai:sim-small",), 2
    panel.run_button.click()
    panel.wait()
    panel.csv_button.click()
    assert "export failed" in panel.error and panel.exported == []


async def test_the_correct_scorer_uses_each_items_scorer():
    scorer = per_item()
    assert scorer.name == "correct"
    right = await scorer.score("The answer is 42.", 42, {"scorer": "numeric"})
    assert right.value == 1.0 and right.explanation.startswith("numeric: ") and right.scorer == "correct"
    assert (await scorer.score("B) Dolphin", "B", {"scorer": "choice"})).value == 1.0
    assert (await scorer.score("42", "42.0", {"scorer": "exact_match"})).value == 0.0
    missing = await scorer.score("42", 42, {"scorer": "regex"})
    assert missing.is_missing and "'regex'" in missing.explanation
    assert (await scorer.score("42", 42, {})).is_missing
