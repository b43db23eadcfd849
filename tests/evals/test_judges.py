"""llm_judge: a model grades answers (the simulator is a deterministic judge), strictly parsed,
blind to the target, cached, and a failure is a missing score with its reason."""

from __future__ import annotations

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
