"""The arena: battles from answers already recorded, blind votes stored as cast, model judges
judged twice with the answers swapped, and the ranking those votes give."""

from __future__ import annotations

import re

import pytest

from closedpaw_nb import ChatResponse, ConfigError, ProviderConfig, ProviderManager
from closedpaw_nb import _runner as runner
from closedpaw_nb.bench.run import run_benchmark
from closedpaw_nb.bench.store import RunStore
from closedpaw_nb.evals import judges
from closedpaw_nb.evals.arena import PAIRWISE_TEMPLATE, Arena, build_arena, parse_verdict
from closedpaw_nb.providers import BaseProvider

PROMPTS = {f"q{i}": f"What is {i} + 40? (question {i})" for i in range(6)}


class Fixed(BaseProvider):
    """Answers with settings["answer"], formatted with the question number; counts its calls."""

    calls = 0

    async def chat(self, messages, model=None, **kwargs):
        Fixed.calls += 1
        number = int(re.search(r"question (\d+)", messages[-1].content)[1])
        return ChatResponse(self.config.settings["answer"].format(n=number + 40), model or "m", self.name)


class Judge(BaseProvider):
    """settings["style"]: "fair" prefers the answer with "correct" in it (tie when both or
    neither); "first" always says A (pure position bias); "mute" gives no verdict line."""

    prompts: list[str] = []

    async def chat(self, messages, model=None, **kwargs):
        prompt = messages[-1].content
        Judge.prompts.append(prompt)
        style = self.config.settings["style"]
        if style == "first":
            return ChatResponse("A reads better.\nVERDICT: A", model or "j", self.name)
        if style == "mute":
            return ChatResponse("Both have merit.", model or "j", self.name)
        first, second = re.search(r"Answer A:\n(.*)\nAnswer B:\n(.*)\Z", prompt, re.S).groups()
        good = ("correct" in first, "correct" in second)
        verdict = {(True, False): "A", (False, True): "B", (True, True): "TIE", (False, False): "BOTH_BAD"}[good]
        return ChatResponse(f"Compared.\nVERDICT: {verdict}", model or "j", self.name)


@pytest.fixture
def manager():
    Fixed.calls, Judge.prompts = 0, []
    judges._verdicts.clear()
    manager = ProviderManager()
    for name, answer in (("good", "correct: {n}"), ("okay", "correct, I think: {n}"), ("poor", "no idea")):
        manager.register_provider(
            ProviderConfig("custom", name=name, default_model="m", settings={"answer": answer}), provider_class=Fixed
        )
    for style in ("fair", "first", "mute"):
        manager.register_provider(
            ProviderConfig("custom", name=style, default_model="j", settings={"style": style}), provider_class=Judge
        )
    yield manager
    runner.run(manager.close_all())
    judges._verdicts.clear()


@pytest.fixture
def run(manager, tmp_path):
    store = RunStore(tmp_path / "arena.sqlite")
    result = runner.run(
        run_benchmark(manager, PROMPTS, ["good", "okay", "poor"], trials=1, warmup=0, store=store, stream=False)
    )
    yield result
    store.close()


def test_battles_pair_the_answers_already_recorded_and_call_no_target(manager, run):
    calls = Fixed.calls
    every = build_arena(run.store, run.run_id)
    assert len(every.battle_list()) == 3 * len(PROMPTS) and Fixed.calls == calls
    adjacent = build_arena(run.store, run.run_id, pairs="adjacent").battles
    assert set(zip(adjacent.target_a, adjacent.target_b, strict=True)) == {("good:m", "okay:m"), ("okay:m", "poor:m")}
    one = build_arena(run.store, run.run_id, pairs=1, seed=3).battles
    assert len(one) == len(PROMPTS) and one.groupby("prompt_id").size().eq(1).all()
    assert len(set(zip(one.target_a, one.target_b, strict=True))) > 1  # a seeded draw, not always the same pair
    two = build_arena(run.store, run.run_id, targets=["poor:m", "good:m"]).battles
    assert set(two.target_a) == {"poor:m"} and set(two.target_b) == {"good:m"}  # in the order given


def test_which_answer_is_shown_first_is_seeded_and_random_across_battles(run):
    first = build_arena(run.store, run.run_id).battles
    again = build_arena(run.store, run.run_id).battles
    other = build_arena(run.store, run.run_id, seed=1).battles
    assert first.shown_first.tolist() == again.shown_first.tolist()
    a_first = (first.shown_first == first.target_a).mean()
    assert 0.2 < a_first < 0.8 and first.shown_first.tolist() != other.shown_first.tolist()


def test_a_vote_is_about_the_order_shown_and_is_kept_for_the_next_session(run):
    arena = build_arena(run.store, run.run_id)
    battle = arena.pending("ana")[0]
    stored = arena.battles.set_index("battle_id").loc[battle.battle_id]
    assert battle.prompt == PROMPTS[stored["prompt_id"]]
    assert not any(t in battle.battle_id for t in ("good", "okay", "poor"))  # the id names no target
    vote = arena.vote(battle.battle_id, "A", voter="ana")
    expected = "a" if battle.shown_a == stored["target_a"] else "b"
    assert vote["verdict"] == expected and (vote["shown_a"], vote["shown_b"]) == (battle.shown_a, battle.shown_b)
    arena.vote(arena.pending("ana")[0].battle_id, "both_bad", voter="ana")

    reopened = build_arena(RunStore(run.store.path), run.run_id)  # a new session on the same file
    assert reopened.arena_id == arena.arena_id and len(reopened.pending("ana")) == len(arena.battle_list()) - 2
    votes = reopened.votes
    assert votes.verdict.tolist() == [expected, "both_bad"] and votes.cast_at.notna().all()
    assert len(reopened.pending("ben")) == len(arena.battle_list())  # each voter has their own queue


@pytest.mark.parametrize(
    "choice, voter, message",
    [("left", "ana", "vote one of A, B, tie, both_bad"), ("A", " ", "give a voter name"), ("A", "judge:x", "judge")],
)
def test_bad_votes_are_refused_and_nothing_is_stored(run, choice, voter, message):
    arena = build_arena(run.store, run.run_id)
    with pytest.raises(ConfigError, match=message):
        arena.vote(arena.battle_list()[0].battle_id, choice, voter=voter)
    with pytest.raises(ConfigError, match="no battle 'nope'"):
        arena.vote("nope", "A")
    assert arena.votes.empty


def test_a_judge_sees_both_orders_and_never_the_targets(manager, run):
    arena = build_arena(run.store, run.run_id, manager=manager)
    assert runner.run(arena.ajudge("fair:j")) == len(arena.battle_list())
    assert len(Judge.prompts) == 2 * len(arena.battle_list())
    assert not any(name in p for p in Judge.prompts for name in ("good:m", "okay:m", "poor:m"))
    votes = arena.votes.set_index("battle_id")
    assert votes.consistent.all() and votes.voter.eq("judge:fair:j").all()
    good_vs_poor = votes[(votes.target_a == "good:m") & (votes.target_b == "poor:m")]
    assert good_vs_poor.verdict.eq("a").all()
    assert votes[(votes.target_a == "good:m") & (votes.target_b == "okay:m")].verdict.eq("tie").all()
    ranking = arena.ranking(rounds=200).set_index("target")
    assert ranking.loc["poor:m", "strength"] < ranking.loc["good:m", "strength"]
    assert ranking.loc["poor:m", "rank"] == 3 and ranking.loc["poor:m", "win_rate"] == 0
    observed, predicted = arena.win_matrix()
    assert observed.loc["good:m", "poor:m"] == 1.0 and predicted.loc["good:m", "poor:m"] > 0.9


def test_position_bias_is_caught_by_the_swap_and_a_mute_judge_is_missing_not_a_tie(manager, run):
    arena = build_arena(run.store, run.run_id, manager=manager)
    runner.run(arena.ajudge(["first:j", "mute:j"]))
    votes = arena.votes
    first = votes[votes.voter == "judge:first:j"]
    assert first.verdict.eq("tie").all() and first.consistent.eq(False).all()
    assert first.reason.str.contains("changed with the order").all()
    mute = votes[votes.voter == "judge:mute:j"]
    assert mute.verdict.isna().all() and mute.reason.str.contains("no VERDICT line").all()
    assert mute.consistent.isna().all()
    agreement = arena.agreement()
    assert agreement.inconsistency_a.tolist() == [1.0] and agreement.battles.tolist() == [0]


def test_judging_resumes_and_reuses_cached_verdicts(manager, run):
    arena = build_arena(run.store, run.run_id, manager=manager)
    runner.run(arena.ajudge("fair:j"))
    sent = len(Judge.prompts)
    assert runner.run(arena.ajudge("fair:j")) == 0 and len(Judge.prompts) == sent  # every battle already judged
    judges._verdicts.clear()  # a new process: only the store remembers
    other = build_arena(RunStore(run.store.path), run.run_id, pairs="adjacent", manager=manager)
    runner.run(other.ajudge("fair:j"))
    assert len(Judge.prompts) == sent and other.votes.verdict.notna().all()


def test_agreement_between_a_person_and_a_judge(manager, run):
    arena = build_arena(run.store, run.run_id, manager=manager)
    runner.run(arena.ajudge("fair:j"))
    judged = arena.votes.set_index("battle_id")
    battles = arena.battle_list()[:6]
    for i, battle in enumerate(battles):  # agree on the first four, then disagree
        verdict = judged.loc[battle.battle_id, "verdict"]
        if i >= 4:
            verdict = "tie" if verdict != "tie" else "a"
        a_first = battle.shown_a == judged.loc[battle.battle_id, "target_a"]
        shown = {"a": "A" if a_first else "B", "b": "B" if a_first else "A"}.get(verdict, verdict)
        arena.vote(battle.battle_id, shown, voter="ana")
    (row,) = arena.agreement().to_dict("records")
    assert (row["voter_a"], row["voter_b"], row["battles"]) == ("judge:fair:j", "ana", 6)
    assert row["agreement"] == pytest.approx(4 / 6) and row["inconsistency_a"] == 0.0
    assert row["inconsistency_b"] != row["inconsistency_b"]  # NaN: a person has no order to flip


def test_arenas_refuse_what_cannot_battle(manager, run, tmp_path):
    with pytest.raises(ConfigError, match="has no answers"):
        build_arena(run.store, "no-such-run")
    with pytest.raises(ConfigError, match="not in the run: nobody:m"):
        build_arena(run.store, run.run_id, targets=["good:m", "nobody:m"])
    with pytest.raises(ConfigError, match="at least two"):
        build_arena(run.store, run.run_id, targets=["good:m"])
    with pytest.raises(ConfigError, match="pairs must be"):
        build_arena(run.store, run.run_id, pairs=0)
    arena = build_arena(run.store, run.run_id, manager=manager)
    with pytest.raises(ConfigError, match=r"\{answer_b\}"):
        runner.run(arena.ajudge("fair:j", template="{answer_a} only"))


def test_the_verdict_line_is_parsed_strictly():
    assert parse_verdict("B first... no.\nVERDICT: A") == "A"
    assert parse_verdict("VERDICT: TIE") == "tie" and parse_verdict("VERDICT: BOTH_BAD") == "both_bad"
    assert parse_verdict("verdict: a") is None and parse_verdict("I prefer A") is None
    assert "{answer_a}" in PAIRWISE_TEMPLATE and PAIRWISE_TEMPLATE.rstrip().endswith("{answer_b}")
    assert isinstance(Arena, type)
