"""llm_judge: a model grades answers (the simulator is a deterministic judge), strictly parsed,
blind to the target, cached, and a failure is a missing score with its reason."""

from __future__ import annotations

import asyncio

import pytest

from closedpaw_nb import ChatResponse, ProviderConfig, ProviderManager
from closedpaw_nb import _runner as runner
from closedpaw_nb.evals import judges
from closedpaw_nb.evals.run import run_evaluation
from closedpaw_nb.providers import BaseProvider
from closedpaw_nb.scorers import llm_judge
from conftest import sim_config


class Parrot(BaseProvider):
    """A judge that says what settings["reply"] says and records the prompts it was sent."""

    prompts: list[str] = []

    async def chat(self, messages, model=None, **kwargs):
        Parrot.prompts.append(messages[-1].content)
        return ChatResponse(self.config.settings["reply"], model or "m", self.name, latency_ms=1.0)


class Answerer(BaseProvider):
    async def chat(self, messages, model=None, **kwargs):
        return ChatResponse("The answer is 4.", model or "m", self.name, latency_ms=1.0)


@pytest.fixture(autouse=True)
def _empty_cache():
    judges._verdicts.clear()
    Parrot.prompts = []
    yield
    judges._verdicts.clear()


def _manager(reply: str) -> ProviderManager:
    manager = ProviderManager()
    manager.register_provider(
        ProviderConfig("custom", name="judge", default_model="j", settings={"reply": reply}), provider_class=Parrot
    )
    return manager


async def test_the_simulator_grades_right_and_wrong_answers(sim):
    manager = ProviderManager()
    manager.register_provider(sim_config(sim, "openai", name="sim-judge", default_model="sim-large"))
    judge = llm_judge("Same number as expected.", "sim-judge:sim-large", manager=manager)
    item = {"input": "What is 2 + 2?"}
    right, wrong = await judge.score("The answer is 4.", 4, item), await judge.score("It is 5.", 4, item)
    assert (right.value, wrong.value) == (1.0, 0.0) and right.explanation.endswith("GRADE: C")
    sent = [r for r in sim.simulator.requests_for("openai") if r.path.endswith("/chat/completions")]
    assert len(sent) == 2
    again = await judge.score("The answer is 4.", 4, item)
    assert (
        again.value == 1.0
        and len([r for r in sim.simulator.requests_for("openai") if r.path.endswith("/chat/completions")]) == 2
    )  # cached
    await manager.close_all()


@pytest.mark.parametrize(
    "reply, value",
    [
        ("Looks right.\nGRADE: C", 1.0),
        ("GRADE: C at first, but no.\nGRADE: I", 0.0),  # the last verdict counts
        ("grade: c", None),  # not the format: strict
        ("I think it is fine.", None),
    ],
)
async def test_the_grade_is_parsed_strictly(reply, value):
    score = await llm_judge("r", "judge:j", manager=_manager(reply)).score("4", 4, {"input": "2+2?"})
    assert score.value == value
    if value is None:
        assert "no 'GRADE: C' or 'GRADE: I' line" in score.explanation and reply[:10] in score.explanation


async def test_a_failing_judge_is_a_missing_score_with_its_reason():
    score = await llm_judge("r", "nobody:j", manager=_manager("GRADE: C")).score("4", 4, {"input": "q"})
    assert score.value is None and "the judge nobody:j failed: ConfigError" in score.explanation


async def test_the_judge_never_learns_which_target_answered(tmp_path):
    from closedpaw_nb.bench.store import RunStore

    manager = _manager("ok\nGRADE: C")
    manager.register_provider(
        ProviderConfig("custom", name="secret-target-name", default_model="model-x"), provider_class=Answerer
    )
    items = [{"id": "a", "input": "What is 2 + 2?", "expected": 4}]
    result = await runner.wrap(
        run_evaluation(
            manager,
            items,
            ["secret-target-name"],
            scorers=[llm_judge("r", "judge:j", manager=manager)],
            store=RunStore(tmp_path / "e.sqlite"),
        )
    )
    assert result.df["llm_judge"].tolist() == [1.0]
    (prompt,) = Parrot.prompts
    assert "secret-target-name" not in prompt and "model-x" not in prompt
    assert prompt.rstrip().endswith("Submitted answer:\nThe answer is 4.")


def test_a_judge_needs_a_target_and_a_template_with_the_answer():
    with pytest.raises(ValueError, match="name the judge model"):
        llm_judge("r")
    with pytest.raises(ValueError, match=r"\{answer\}"):
        llm_judge("r", "judge:j", template="no fields")


async def test_per_item_scores_each_row_by_its_own_scorer_column():
    from closedpaw_nb.scorers import per_item

    scorer = per_item()
    assert (await scorer.score("The answer is 42.", 42, {"scorer": "numeric"})).value == 1.0
    assert (await scorer.score("Answer: B", "B", {"scorer": "choice"})).value == 1.0
    assert (await scorer.score("Paris.", "Paris", {"scorer": "exact_match"})).value == 1.0
    assert (await scorer.score("Lyon", "Paris", {"scorer": "exact_match"})).value == 0.0
    unknown = await scorer.score("x", "y", {"scorer": "vibes"})
    assert unknown.value is None and "'vibes'" in unknown.explanation and scorer.name == "correct"


class CountingJudge(BaseProvider):
    """A judge that grades C, reports its usage and counts its calls."""

    calls = 0

    async def chat(self, messages, model=None, **kwargs):
        CountingJudge.calls += 1
        return ChatResponse(
            "fine\nGRADE: C", model or "j", self.name, latency_ms=12.5, prompt_tokens=100, completion_tokens=4
        )


async def test_judge_calls_are_rows_of_their_own_and_rescoring_in_a_new_process_calls_no_judge(tmp_path):
    from closedpaw_nb.bench.store import RunStore
    from closedpaw_nb.evals.run import EvalResult

    CountingJudge.calls = 0
    manager = ProviderManager()
    manager.register_provider(ProviderConfig("custom", name="grader", default_model="j"), provider_class=CountingJudge)
    manager.register_provider(ProviderConfig("custom", name="target", default_model="m"), provider_class=Answerer)
    judge = llm_judge("r", "grader:j", manager=manager)
    items = [{"id": "a", "input": "What is 2 + 2?", "expected": 4}, {"id": "b", "input": "2 + 2?", "expected": 4}]
    path = tmp_path / "e.sqlite"
    result = await runner.wrap(
        run_evaluation(
            manager, items, ["target"], scorers=[judge], store=RunStore(path), prices={"grader:j": (1.0, 10.0)}
        )
    )
    calls = result.judge_calls
    assert CountingJudge.calls == 2 and len(calls) == 2 and calls["scores"].tolist() == [1, 1]
    assert calls["judge"].tolist() == ["grader:j"] * 2 and calls["latency_ms"].tolist() == [12.5, 12.5]
    assert calls["cost_usd"].tolist() == pytest.approx([(100 * 1.0 + 4 * 10.0) / 1e6] * 2)
    assert calls["reply"].str.endswith("GRADE: C").all()

    judges._verdicts.clear()  # what a new process starts with: only the store remembers
    reopened = EvalResult(result.run_id, RunStore(path), result.manifest)
    await runner.wrap(asyncio.to_thread(reopened.rescore, [llm_judge("r", "grader:j", manager=manager)]))
    assert CountingJudge.calls == 2 and reopened.df["llm_judge"].tolist() == [1.0, 1.0]
    assert len(reopened.judge_calls) == 2
    await manager.close_all()


async def test_a_list_of_acceptable_answers_reaches_the_judge_as_alternatives(sim):
    manager = ProviderManager()
    manager.register_provider(sim_config(sim, "openai", name="sim-judge", default_model="sim-large"))
    judge = llm_judge("Same city.", "sim-judge:sim-large", manager=manager)
    expected = ["Paris", "Lutetia"]
    prompt = judge.prompt("Lutetia", expected, {"input": "Capital of France?"})
    assert "Any one of these:\n- Paris\n- Lutetia" in prompt and '["Paris"' not in prompt
    assert judge.prompt("x", ["Paris"], {}).count("Paris") == 1  # one alternative is just the answer
    right, wrong = await judge.score("Lutetia", expected, {}), await judge.score("London", expected, {})
    assert (right.value, wrong.value) == (1.0, 0.0)
    assert right.judge_call is not None and right.judge_call.judge == "sim-judge:sim-large"
    await manager.close_all()


def test_a_store_from_before_judge_calls_gains_the_column_and_keeps_its_scores(tmp_path):
    import sqlite3

    from closedpaw_nb.bench.store import RunStore

    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE scores (run_id, target, prompt_id, trial, scorer, value, answer, explanation, "
        "PRIMARY KEY (run_id, target, prompt_id, trial, scorer))"
    )
    old.execute("INSERT INTO scores VALUES ('r', 't', 'p', 0, 's', 1.0, 'a', 'why')")
    old.commit()
    old.close()
    store = RunStore(path)
    (score,) = store.scores("r")
    assert score["value"] == 1.0 and score["judge_call"] is None
    store.close()
