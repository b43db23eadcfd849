"""evaluate(): calls through the benchmark runner, scores in the run store, a leaderboard
that recovers a known truth, paired comparison, resume and rescore without new calls."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import closedpaw_nb as cp
import closedpaw_nb.manager as manager_module
from closedpaw_nb import ChatResponse, ConfigError, ProviderConfig, ProviderManager
from closedpaw_nb import _runner as runner
from closedpaw_nb.errors import InternalServerError
from closedpaw_nb.providers import BaseProvider
from closedpaw_nb.scorers import exact_match, includes, numeric

ITEMS = [
    {"id": f"q{i}", "input": f"What is {i} + {i}?", "expected": 2 * i, "category": "even" if i % 2 else "odd"}
    for i in range(40)
]


def _right(model: str, item_id: str, accuracy: float) -> bool:
    digest = hashlib.sha256(f"{model}/{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < accuracy


class Student(BaseProvider):
    """Answers "What is i + i?" right with the accuracy in settings (decided per item), and
    fails the items listed in settings["fail"]; counts its calls."""

    calls: dict[str, int] = {}

    async def chat(self, messages, model=None, **kwargs):
        Student.calls[self.name] = Student.calls.get(self.name, 0) + 1
        i = int(messages[-1].content.split()[2])
        item = f"q{i}"
        if item in self.config.settings.get("fail", ()):
            raise InternalServerError("overloaded", provider=self.name, status_code=500, retryable=False)
        answer = 2 * i if _right(self.name, item, self.config.settings["accuracy"]) else 2 * i + 1
        return ChatResponse(
            f"The answer is {answer}.", model or "m", self.name, latency_ms=1.0, prompt_tokens=5, completion_tokens=4
        )


@pytest.fixture
def students(monkeypatch):
    manager = ProviderManager()
    for name, accuracy, fail in (("strong", 0.9, ()), ("weak", 0.5, ("q3",))):
        manager.register_provider(
            ProviderConfig(
                "custom", name=name, default_model="m", settings={"accuracy": accuracy, "fail": fail, "max_retries": 0}
            ),
            provider_class=Student,
        )
    monkeypatch.setattr(manager_module, "_singleton", manager)
    Student.calls = {}
    return manager


def test_leaderboard_recovers_the_known_accuracy(students, tmp_path):
    result = cp.evaluate(
        ITEMS, ["strong", "weak"], scorers=[numeric()], trials=2, store=str(tmp_path / "eval.sqlite"), progress=False
    )
    truth = {
        name: np.mean([_right(name, f"q{i}", acc) for i in range(40)]) for name, acc in (("strong", 0.9), ("weak", 0.5))
    }
    board = result.leaderboard().set_index("target")
    assert list(board.index) == ["strong:m", "weak:m"] and (board.n_items == 40).all()
    assert board.loc["strong:m", "numeric"] == pytest.approx(truth["strong"])
    # weak's failed item is missing, not wrong: its mean is over the 39 it answered
    weak_truth = np.mean([_right("weak", f"q{i}", 0.5) for i in range(40) if i != 3])
    assert board.loc["weak:m", "numeric"] == pytest.approx(weak_truth)
    for target in board.index:
        assert (
            board.loc[target, "numeric_ci_low"] <= board.loc[target, "numeric"] <= board.loc[target, "numeric_ci_high"]
        )
    assert board.loc["weak:m", "error_rate"] == pytest.approx(2 / 80)
    assert board.loc["strong:m", "latency_p50_ms"] > 0
    assert len(result.chart().axes) == 2 and "numeric" in result._repr_html_()


def test_rows_carry_scores_reasons_and_metadata(students, tmp_path):
    result = cp.evaluate(ITEMS[:6], ["weak"], scorers=numeric(), store=str(tmp_path / "e.sqlite"), progress=False)
    df = result.df.set_index("prompt_id")
    assert {"numeric", "numeric_answer", "numeric_explanation", "expected", "category", "latency_ms"} <= set(df.columns)
    assert (
        np.isnan(df.loc["q3", "numeric"])
        and "the call failed (InternalServerError)" in df.loc["q3", "numeric_explanation"]
    )
    assert df.loc["q2", "category"] == "odd" and df.loc["q2", "expected"] == 4


def test_resume_and_rescore_call_no_target_again(students, tmp_path):
    store = str(tmp_path / "e.sqlite")
    first = cp.evaluate(ITEMS[:10], ["strong", "weak"], scorers=[numeric()], store=store, progress=False)
    calls = dict(Student.calls)
    again = cp.evaluate(
        ITEMS[:10], ["strong", "weak"], scorers=[numeric()], store=store, run_id=first.run_id, progress=False
    )
    assert Student.calls == calls and len(again.df) == 20
    again.rescore([includes(name="says_answer"), exact_match()])
    assert Student.calls == calls
    assert set(again.leaderboard().columns) >= {"numeric", "says_answer", "exact_match", "says_answer_ci_low"}
    assert again.df["exact_match"].fillna(0).eq(0).all()  # "The answer is 4." is not exactly "4"


def test_compare_is_paired_with_mcnemar(students, tmp_path):
    result = cp.evaluate(
        ITEMS, ["strong", "weak"], scorers=[numeric()], store=str(tmp_path / "e.sqlite"), progress=False
    )
    row = result.compare("strong:m", "weak:m").iloc[0]
    answered = [i for i in range(40) if i != 3]
    a = np.array([_right("strong", f"q{i}", 0.9) for i in answered], dtype=float)
    b = np.array([_right("weak", f"q{i}", 0.5) for i in answered], dtype=float)
    assert row.n_items == 39 and row.difference == pytest.approx(a.mean() - b.mean())
    assert row.a_better == int(((a == 1) & (b == 0)).sum()) and row.b_better == int(((a == 0) & (b == 1)).sum())
    assert row.ci_low <= row.difference <= row.ci_high and 0 <= row.mcnemar_p <= 1
    with pytest.raises(ConfigError, match="no target 'nobody:m'"):
        result.compare("strong:m", "nobody:m")


@pytest.mark.parametrize(
    "data, scorers, message",
    [
        ([{"question": "hi"}], [numeric()], "input"),
        (ITEMS[:2], [], "at least one scorer"),
        (ITEMS[:2], [numeric(), numeric()], "two scorers are named numeric"),
        (ITEMS[:2], ["numeric"], "closedpaw_nb.scorers"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(students, tmp_path, data, scorers, message):
    with pytest.raises(ConfigError, match=message):
        cp.evaluate(data, ["strong"], scorers=scorers, store=str(tmp_path / "e.sqlite"), progress=False)
    assert Student.calls == {}


def test_the_leaderboard_recovers_the_simulators_configured_accuracy(sim, tmp_path):
    """The simulated models answer the shipped set with a known truth; the leaderboard finds it."""
    from closedpaw_nb import datasets
    from closedpaw_nb.bench.store import RunStore
    from closedpaw_nb.evals.run import run_evaluation
    from closedpaw_nb.scorers import per_item
    from closedpaw_nb.sim import ACCURACY
    from conftest import sim_config

    items = datasets.load("basic")
    manager = ProviderManager()
    manager.register_provider(sim_config(sim, "anthropic", name="sim", models=["sim-small", "sim-large"]))
    result = runner.run(
        run_evaluation(
            manager,
            items,
            ["sim:sim-small", "sim:sim-large"],
            scorers=[per_item()],
            store=RunStore(tmp_path / "e.sqlite"),
        )
    )
    board = result.leaderboard().set_index("target")
    assert list(board.index) == ["sim:sim-large", "sim:sim-small"]
    for model in ("sim-small", "sim-large"):
        truth = np.mean([sim.simulator.expected_correct(model, i) for i in items["id"]])
        row = board.loc[f"sim:{model}"]
        assert row["correct"] == pytest.approx(truth)  # exactly what the simulator was told to get right
        assert row["correct_ci_low"] <= ACCURACY[model] <= row["correct_ci_high"]  # the CI covers the configured rate
    per_category = result.leaderboard(by=["target", "category"])
    assert len(per_category) == 2 * items["category"].nunique() and per_category["correct"].notna().all()
    choice = per_category.set_index(["target", "category"]).loc[("sim:sim-large", "choice")]
    truth = np.mean([sim.simulator.expected_correct("sim-large", i) for i in items.query("category == 'choice'")["id"]])
    assert choice["n_items"] == 8 and choice["correct"] == pytest.approx(truth)
    assert choice["correct_ci_low"] <= choice["correct"] <= choice["correct_ci_high"]
    with pytest.raises(ConfigError, match="cannot group by colour"):
        result.leaderboard(by="colour")
    summary = result.summary(by=["target", "category"])  # timing and scores per category, side by side
    assert summary.loc[("sim:sim-large", "choice"), "correct"] == pytest.approx(truth)
    assert (summary["n"] == summary["n_items"]).all() and summary["latency_p50_ms"].notna().all()
    assert {"correct_ci_low", "correct_ci_high", "error_rate"} <= set(summary.columns)
    assert result.summary().loc["sim:sim-small", "correct"] == pytest.approx(board.loc["sim:sim-small", "correct"])
    runner.run(manager.close_all())
