"""BenchmarkPanel: progress with live counts, summary and chart, Cancel/Resume, exports."""

from __future__ import annotations

import base64

import pandas as pd
import pytest

from closedpaw_nb.bench.store import RunStore
from closedpaw_nb.widgets import BenchmarkPanel

from ._helpers import wait_until


@pytest.fixture
def store(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    yield store
    store.close()


@pytest.mark.parametrize(
    "prompts, targets, expected",
    [
        ("", ("s-openai:sim-small",), "type at least one prompt"),
        ("\n  \n", ("s-openai:sim-small",), "type at least one prompt"),
        ("one", (), "pick at least one target"),
    ],
)
def test_bad_inputs_are_refused(sim_manager, store, prompts, targets, expected):
    panel = BenchmarkPanel(sim_manager, store=store)
    panel.prompts.value, panel.targets.value = prompts, targets
    panel.run_button.click()
    assert expected in panel.error and panel.run is None and not panel.job.running
    assert expected in panel.status_html.value


def test_run_shows_progress_summary_and_chart(sim_manager, store):
    panel = BenchmarkPanel(sim_manager, store=store)
    panel.prompts.value = "first prompt\n\nsecond prompt\n"
    panel.targets.value = ("s-openai:sim-small", "s-anthropic:sim-small")
    panel.trials.value, panel.warmup.value, panel.concurrency.value = 2, 1, 3
    panel.run_button.click()
    panel.wait()
    assert panel.error == ""
    total = 2 * 1 + 2 * 2 * 2  # warm-up per target + prompts x targets x trials
    assert (panel.progress.value, panel.progress.max, panel.progress.description) == (total, total, f"{total}/{total}")
    assert panel.progress.bar_style == "success" and f"ok {total}" in panel.counts.value
    df = panel.run.df
    assert len(df) == total and df.ok.all() and set(df.prompt) == {"first prompt", "second prompt"}
    assert panel.form.run_id == panel.run.run_id and panel.run.run_id in panel.status
    short = panel.summary.value  # the everyday columns, with friendly names
    assert "s-anthropic:sim-small" in short and "latency p50 (95% CI), ms" in short and "tokens/s" in short
    assert "latency_p99_ms" not in short and "ttft_p99_ms" not in short
    panel.all_columns.value = True  # every column, one click away
    assert "latency_p99_ms" in panel.summary.value and "latency_p50_ms" in panel.summary.value
    panel.all_columns.value = False
    assert panel.summary.value == short
    assert base64.b64decode(panel.chart.outputs[0]["data"]["image/png"]).startswith(b"\x89PNG")
    assert store.runs()[0]["status"] == "done"


def test_a_finished_run_is_scored_against_expected_answers_without_new_calls(sim, sim_manager, store):
    questions = {
        "arithmetic-01": ("What is 17 + 25? Answer with just the number.", "42"),
        "arithmetic-02": ("What is 144 divided by 12? Answer with just the number.", "12"),
    }
    panel = BenchmarkPanel(sim_manager, store=store)
    panel.score_button.click()
    assert "run a benchmark first" in panel.error
    panel.prompts.value = "\n".join(q for q, _ in questions.values())
    panel.targets.value = ("s-openai:sim-small", "s-anthropic:sim-large")
    panel.trials.value, panel.warmup.value = 2, 0
    panel.run_button.click()
    panel.wait()
    calls = len(sim.simulator.requests)
    panel.score_button.click()
    assert "type the expected answers first" in panel.error
    panel.expected.value = "42\n12\n7"
    panel.score_button.click()
    assert "3 expected answers for 2 prompts" in panel.error
    panel.expected.value, panel.scorer.value = "42\n12", "numeric"
    panel.score_button.click()
    panel.wait()
    assert panel.error == "" and len(sim.simulator.requests) == calls  # scored, not called again
    board = panel.evaluation.leaderboard().set_index("target")
    for target in panel.targets.value:
        model = target.split(":")[1]
        truth = sum(sim.simulator.expected_correct(model, item) for item in questions) / len(questions)
        assert board.loc[target, "numeric"] == pytest.approx(truth) and board.loc[target, "n_items"] == 2
    assert "numeric_ci_low" in panel.scores.value and "Scored run" in panel.status and "95% CI" in panel.status
    assert store.manifest(panel.run.run_id)["scorers"] == ["numeric"]


def test_errors_are_counted(sim_manager, store):
    panel = BenchmarkPanel(sim_manager, store=store)
    panel.prompts.value, panel.targets.value = "hi", ("s-openai:sim-small", "bad:sim-small")
    panel.trials.value, panel.warmup.value = 1, 0
    panel.run_button.click()
    panel.wait()
    assert "ok 1" in panel.counts.value and "errors 1" in panel.counts.value
    assert panel.progress.bar_style == "danger" and "1 ok, 1 errors" in panel.status


def test_prompts_from_a_dataframe_column_keep_their_ids(sim_manager, store):
    frame = pd.DataFrame({"question": ["Why?", "How?"]}, index=["q-why", "q-how"])
    panel = BenchmarkPanel(sim_manager, prompts=frame["question"], store=store)
    assert panel.use_source.value and panel.prompts.layout.display == "none"
    assert "use the 2 prompts" in panel.use_source.description
    panel.targets.value, panel.trials.value, panel.warmup.value = ("s-openai:sim-small",), 1, 0
    panel.run_button.click()
    panel.wait()
    assert sorted(panel.run.df.prompt_id) == ["q-how", "q-why"]
    panel.use_source.value = False  # type prompts instead
    assert panel.prompts.layout.display == ""
    panel.prompts.value = "typed"
    panel.run_button.click()
    panel.wait()
    assert panel.run.df.prompt.tolist() == ["typed"]


def test_cancel_keeps_finished_rows_and_resume_finishes(manager, add_slow, store):
    target = add_slow(n=3, delay=0.01)
    panel = BenchmarkPanel(manager, store=store)
    panel.prompts.value = "\n".join(f"prompt {i}" for i in range(6))
    panel.targets.value, panel.trials.value, panel.warmup.value, panel.concurrency.value = (target,), 2, 0, 1
    panel.run_button.click()
    assert panel.run_button.disabled and not panel.cancel_button.disabled
    wait_until(lambda: panel.form.done >= 2, what="two finished calls")
    panel.cancel_button.click()
    panel.wait()
    run_id, kept = panel.form.run_id, panel.form.done
    assert 2 <= kept < 12 and len(panel.run.df) == kept
    assert f"closedpaw_nb.resume({run_id!r}" in panel.status and "cancelled" in panel.status
    assert store.runs()[0]["status"] == "cancelled" and not panel.resume_button.disabled
    panel.resume_button.click()
    panel.wait()
    assert panel.run.run_id == run_id and len(panel.run.df) == 12 and panel.form.done == 12
    assert panel.progress.description == "12/12" and store.runs()[0]["status"] == "done"


def test_resume_without_a_run(manager, store):
    panel = BenchmarkPanel(manager, store=store)
    assert panel.resume() is False and "nothing to resume" in panel.error


def test_exports_write_files_and_show_paths(sim_manager, store, tmp_path):
    panel = BenchmarkPanel(sim_manager, store=store, export_dir=str(tmp_path / "out"))
    panel.csv_button.click()
    assert "run a benchmark first" in panel.error
    panel.prompts.value, panel.targets.value, panel.trials.value = "hi", ("s-openai:sim-small",), 1
    panel.run_button.click()
    panel.wait()
    panel.csv_button.click()
    panel.parquet_button.click()
    run_id = panel.run.run_id
    csv, parquet = tmp_path / "out" / f"{run_id}.csv", tmp_path / "out" / f"{run_id}.parquet"
    assert panel.error == "" and csv.exists() and parquet.exists()
    assert (tmp_path / "out" / f"{run_id}.manifest.json").exists()
    assert panel.exported == [str(csv), str(csv.with_suffix(".manifest.json")), str(parquet)]
    assert str(parquet) in panel.exported_html.value
    assert len(pd.read_csv(csv)) == len(pd.read_parquet(parquet)) == 2


def test_export_to_an_unwritable_place(sim_manager, store, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    panel = BenchmarkPanel(sim_manager, store=store, export_dir=str(blocker))
    panel.prompts.value, panel.targets.value, panel.trials.value = "hi", ("s-openai:sim-small",), 1
    panel.run_button.click()
    panel.wait()
    assert panel.export("csv") is None and "export failed" in panel.error
