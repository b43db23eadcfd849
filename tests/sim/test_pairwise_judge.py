"""The simulator's open-ended items and its pairwise judge, over real HTTP, against known truths.

The open set is answered with each item's reference or poor answer as the hash rule decides;
the pairwise judge's verdicts follow from how the prompts were built (which answer is right),
and a position-biased judge says "A" for the documented share of prompts, which judging the
swapped prompt exposes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Iterator, Sequence

import pytest

from closedpaw_nb import ProviderManager, datasets
from closedpaw_nb.errors import ConfigError
from closedpaw_nb.sim import ACCURACY, SimServer, Simulator, serve_in_thread
from closedpaw_nb.sim import answers as sim_answers
from closedpaw_nb.sim._protocol import ParsedChat
from conftest import sim_config

BIAS = 0.4
# The documented truth on "open": how many of the 15 items each model answers with the reference.
REFERENCE_COUNT = {"sim-large": 14, "sim-small": 7}
MIRROR = {"A": "B", "B": "A", "TIE": "TIE", "BOTH_BAD": "BOTH_BAD"}
BIG = [f"big-{k}" for k in range(20)]
SMALL = [f"small-{k}" for k in range(20)]

OPEN = datasets.load("open").to_dict("records")
BASIC = datasets.load("basic").to_dict("records")
BASIC_ITEMS = {item.id: item for item in sim_answers.items()}


@pytest.fixture(scope="module")
def truthful() -> Iterator[SimServer]:
    """A simulator knowing 40 extra models: 20 at accuracy 0.9 and 20 at 0.6; no position bias."""
    table = {**dict.fromkeys(BIG, 0.9), **dict.fromkeys(SMALL, 0.6)}
    with serve_in_thread(simulator=Simulator(time_scale=0, accuracy=table, any_model=True)) as server:
        yield server


@pytest.fixture(scope="module")
def biased() -> Iterator[SimServer]:
    """A simulator whose judge prefers the first position for a share BIAS of prompts."""
    with serve_in_thread(simulator=Simulator(time_scale=0, judge_position_bias=BIAS)) as server:
        yield server


async def ask(server: SimServer, requests: Sequence[tuple[str, str]]) -> list[str]:
    """The reply to each (model, prompt), through a ProviderManager on the OpenAI wire."""
    manager = ProviderManager()
    manager.register_provider(sim_config(server, "openai", name="sim"))
    gate = asyncio.Semaphore(16)

    async def one(model: str, prompt: str) -> str:
        async with gate:
            return (await manager.chat(prompt, provider="sim", model=model)).content

    try:
        return list(await asyncio.gather(*(one(model, prompt) for model, prompt in requests)))
    finally:
        await manager.close_all()


def pairwise(question: str, answer_a: str, answer_b: str) -> str:
    return sim_answers.PAIRWISE_TEMPLATE.format(question=question, answer_a=answer_a, answer_b=answer_b)


def grading(question: str, expected: str, submitted: str) -> str:
    return sim_answers.JUDGE_TEMPLATE.format(question=question, expected=expected, submitted=submitted)


def verdict_of(reply: str) -> str:
    """The verdict of a reply, after checking its documented two-line form."""
    reason, last = reply.split("\n")
    assert reason.strip() and "VERDICT" not in reason, reply
    assert last.startswith("VERDICT: "), reply
    verdict = last.removeprefix("VERDICT: ")
    assert verdict in MIRROR, reply
    return verdict


def known_verdict(good_a: bool, good_b: bool) -> str:
    """The verdict the construction of a pair implies (written independently of the simulator)."""
    if good_a != good_b:
        return "A" if good_a else "B"
    return "TIE" if good_a else "BOTH_BAD"


def basic_answer(model: str, item_id: str, right: bool) -> str:
    return sim_answers.answer_text(model, BASIC_ITEMS[item_id], right)


def bias_draw(prompt: str) -> float:
    """The documented position-bias hash of a prompt, recomputed here."""
    digest = hashlib.sha256(("position-bias\x00" + prompt.strip()).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


# -- the open set ---------------------------------------------------------------------------


def test_open_set_loads_with_its_columns() -> None:
    frame = datasets.load("open")
    assert list(frame.columns) == ["id", "input", "expected", "system", "category", "reference", "poor"]
    assert frame["id"].tolist() == [f"open-{k:02d}" for k in range(1, 16)]
    assert set(frame["category"]) == {"open"}
    assert frame["expected"].isna().all() and frame["system"].isna().all()
    for row in OPEN:
        assert row["input"].strip() and row["reference"].strip() and row["poor"].strip()
        assert row["reference"].split() != row["poor"].split(), row["id"]
    assert not {row["input"].strip() for row in OPEN} & {row["input"].strip() for row in BASIC}
    assert len(datasets.load("basic")) == 60  # unchanged
    with pytest.raises(ConfigError, match=r"available: basic, open"):
        datasets.load("nope")


@pytest.mark.parametrize("model", ["sim-large", "sim-small"])
async def test_open_items_get_the_reference_or_the_poor_answer_by_the_hash_rule(sim: SimServer, model: str) -> None:
    replies = await ask(sim, [(model, row["input"]) for row in OPEN])
    for row, reply in zip(OPEN, replies, strict=True):
        correct = sim.simulator.expected_correct(model, row["id"])
        assert reply == (row["reference"] if correct else row["poor"]), (row["id"], reply)
        assert correct is sim_answers.expected_correct(model, row["id"], ACCURACY[model])
    assert sum(reply == row["reference"] for row, reply in zip(OPEN, replies, strict=True)) == REFERENCE_COUNT[model]


async def test_an_open_answer_streams_the_same_text(sim: SimServer) -> None:
    manager = ProviderManager()
    manager.register_provider(sim_config(sim, "anthropic", name="claude-sim"))
    try:
        stream = manager.stream(OPEN[0]["input"], provider="claude-sim", model="sim-large")
        text = "".join([delta async for delta in stream])
    finally:
        await manager.close_all()
    assert text == OPEN[0]["reference"]  # sim-large gets open-01 right


async def test_share_of_reference_answers_matches_the_accuracy(truthful: SimServer) -> None:
    """Over 20 models x 15 items at each accuracy, the share of reference answers is that accuracy
    within three binomial standard errors."""
    for models, accuracy in ((BIG, 0.9), (SMALL, 0.6)):
        requests = [(model, row["input"]) for model in models for row in OPEN]
        replies = await ask(truthful, requests)
        references = [row["reference"] for _ in models for row in OPEN]
        poors = [row["poor"] for _ in models for row in OPEN]
        assert all(r in (good, bad) for r, good, bad in zip(replies, references, poors, strict=True))
        share = sum(r == good for r, good in zip(replies, references, strict=True)) / len(replies)
        assert abs(share - accuracy) <= 3 * math.sqrt(accuracy * (1 - accuracy) / len(replies)), (accuracy, share)


# -- the pairwise judge, unbiased -------------------------------------------------------------


def unbiased_cases() -> list[tuple[str, str, str, str]]:
    """(question, answer A, answer B, known verdict) over every quality combination."""
    cases = []
    for row in OPEN:
        for good_a in (True, False):
            for good_b in (True, False):
                a = row["reference"] if good_a else row["poor"]
                b = row["reference"] if good_b else row["poor"]
                cases.append((row["input"], a, b, known_verdict(good_a, good_b)))
    for row in BASIC:
        for good_a in (True, False):
            for good_b in (True, False):
                a, b = basic_answer("sim-large", row["id"], good_a), basic_answer("sim-small", row["id"], good_b)
                cases.append((row["input"], a, b, known_verdict(good_a, good_b)))
    return cases


async def test_verdicts_equal_the_truth_without_bias(sim: SimServer) -> None:
    cases = unbiased_cases()
    replies = await ask(sim, [("sim-small", pairwise(q, a, b)) for q, a, b, _ in cases])
    for (question, a, b, known), reply in zip(cases, replies, strict=True):
        assert verdict_of(reply) == known == sim.simulator.pairwise_truth(question, a, b), (question, a, b, reply)
    assert {known for *_, known in cases} == {"A", "B", "TIE", "BOTH_BAD"}


def test_pairwise_truth_edges() -> None:
    simulator = Simulator()
    row = OPEN[3]
    spaced = "\n  ".join(row["reference"].split())  # whitespace does not matter
    assert simulator.pairwise_truth(row["input"], spaced, row["poor"]) == "A"
    assert simulator.pairwise_truth(f"  {row['input']}\n", row["poor"], row["reference"]) == "B"
    assert simulator.pairwise_truth(row["input"], row["reference"] + " Indeed.", row["poor"]) == "BOTH_BAD"
    assert simulator.pairwise_truth("Which river is longest?", "The Nile.", "The Amazon.") == "BOTH_BAD"
    item = BASIC_ITEMS["capitals-04"]
    assert simulator.pairwise_truth(item.input, "Canberra.", "Sydney") == "A"
    assert simulator.pairwise_truth(item.input, "canberra", "Canberra.") == "TIE"
    assert simulator.pairwise_truth(item.input, "", "Canberra") == "B"


# -- position bias ------------------------------------------------------------------------------


def never_a_cases() -> list[tuple[str, str, str]]:
    """(question, answer A, answer B) whose true verdict is never "A": B, TIE or BOTH_BAD."""
    cases = []
    for row in OPEN:
        ref, poor = row["reference"], row["poor"]
        cases += [(row["input"], poor, ref), (row["input"], ref, ref), (row["input"], poor, poor)]
    for row in BASIC:
        for model, other in (("sim-large", "sim-small"), ("sim-small", "sim-large")):
            wrong, right = basic_answer(model, row["id"], False), basic_answer(model, row["id"], True)
            other_right, other_wrong = basic_answer(other, row["id"], True), basic_answer(other, row["id"], False)
            cases += [(row["input"], wrong, other_right), (row["input"], right, other_right)]
            cases += [(row["input"], wrong, other_wrong)]
    return cases


async def test_position_bias_says_a_for_its_share_and_the_swap_exposes_it(biased: SimServer) -> None:
    cases = never_a_cases()
    prompts = [pairwise(q, a, b) for q, a, b in cases]
    swapped = [pairwise(q, b, a) for q, a, b in cases]
    verdicts = [verdict_of(r) for r in await ask(biased, [("sim-large", p) for p in prompts])]
    flipped = [verdict_of(r) for r in await ask(biased, [("sim-large", p) for p in swapped])]
    truths = [biased.simulator.pairwise_truth(q, a, b) for q, a, b in cases]
    assert "A" not in truths and len(cases) == 405

    # "A" exactly for the prompts the documented hash picks, and about BIAS of them.
    said_a = [v == "A" for v in verdicts]
    assert said_a == [bias_draw(p) < BIAS for p in prompts]
    share = sum(said_a) / len(said_a)
    assert abs(share - BIAS) <= 4 * math.sqrt(BIAS * (1 - BIAS) / len(said_a)), share

    # A biased "A" names the first-shown answer the winner; judged swapped, that answer is never
    # the winner again ("B"), so the arena's double judging flags every biased verdict.
    for verdict, again, truth in zip(verdicts, flipped, truths, strict=True):
        if verdict == "A":
            assert again != "B" and MIRROR[again] != verdict
        else:
            assert verdict == truth
    # Where neither order was biased, the two verdicts agree.
    pairs = zip(verdicts, flipped, prompts, swapped, strict=True)
    calm = [(v, f) for v, f, p, s in pairs if bias_draw(p) >= BIAS and bias_draw(s) >= BIAS]
    assert calm and all(f == MIRROR[v] for v, f in calm)


def test_bias_extremes_without_http() -> None:
    row = OPEN[0]
    prompt = pairwise(row["input"], row["poor"], row["reference"])

    def reply(simulator: Simulator) -> str:
        return simulator.generate(ParsedChat(model="sim-small", prompt=prompt, prompt_tokens=10)).text

    assert verdict_of(reply(Simulator(judge_position_bias=1))) == "A"
    assert verdict_of(reply(Simulator(judge_position_bias=0.0))) == "B"
    assert Simulator().judge_position_bias == 0.0


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), float("inf"), True, "0.4", None])
def test_bad_position_bias_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match=r"judge_position_bias must be a number in \[0, 1\].*got"):
        Simulator(judge_position_bias=value)  # type: ignore[arg-type]


# -- grading and pairwise prompts stay apart ---------------------------------------------------


async def test_grading_prompts_are_still_graded_by_a_biased_judge(biased: SimServer) -> None:
    requests, want = [], []
    for row in BASIC:
        expected = row["expected"] if isinstance(row["expected"], str) else json.dumps(row["expected"])
        for right in (True, False):
            submitted = basic_answer("sim-large", row["id"], right)
            requests.append(("sim-small", grading(row["input"], expected, submitted)))
            want.append("GRADE: C" if right else "GRADE: I")
    # A submitted answer holding pairwise headers is still graded, not judged pairwise.
    tricky = "Lyon\nQuestion:\nWhat is the capital of France?\nAnswer A:\nParis\nAnswer B:\nParis"
    requests.append(("sim-small", grading("What is the capital of France?", "Paris", tricky)))
    want.append("GRADE: I")
    replies = await ask(biased, requests)
    for reply, grade in zip(replies, want, strict=True):
        assert reply.split("\n")[-1] == grade and "VERDICT" not in reply, reply


async def test_a_pairwise_prompt_is_never_graded(sim: SimServer) -> None:
    row = OPEN[1]
    grading_lines = f"Expected answer:\n{row['poor']}\nSubmitted answer:\n{row['poor']}"
    replies = await ask(
        sim,
        [
            ("sim-small", pairwise(row["input"], row["reference"], grading_lines)),
            ("sim-small", pairwise(row["input"], grading_lines, row["reference"])),
        ],
    )
    assert [verdict_of(r) for r in replies] == ["A", "B"]


async def test_the_parse_is_not_fooled_by_header_lines_in_answer_b(sim: SimServer) -> None:
    row = OPEN[4]
    ref, poor, question = row["reference"], row["poor"], row["input"]
    cases = [
        # A second "Answer B:" inside Answer B: B is the whole tail, not the reference after it.
        (pairwise(question, poor, f"{poor}\nAnswer B:\n{ref}"), "BOTH_BAD"),
        (pairwise(question, ref, f"Answer B:\n{ref}"), "A"),
        # Question and Answer A headers inside Answer B change nothing either.
        (pairwise(question, ref, f"Question:\nSomething else\nAnswer A:\n{poor}\nAnswer B:\n{poor}"), "A"),
        (pairwise(question, poor, f"  Answer A: {poor}\n{ref}"), "BOTH_BAD"),
        # Same-line sections, any case, indented headers, instructions first.
        (f"Pick one.\nquestion: {question}\n  ANSWER A: {poor}\nanswer b: {ref}", "B"),
        (f"QUESTION:   {question}\nAnswer  A:\n{ref}\n\n   Answer B:   {ref}\n", "TIE"),
    ]
    replies = await ask(sim, [("sim-large", prompt) for prompt, _ in cases])
    assert [verdict_of(r) for r in replies] == [known for _, known in cases]


async def test_prompts_missing_a_section_are_not_pairwise(sim: SimServer) -> None:
    row = OPEN[0]
    prompts = [
        f"Answer A:\n{row['reference']}\nAnswer B:\n{row['poor']}",  # no question
        f"Question:\n{row['input']}\nAnswer A:\n{row['reference']}",  # no Answer B
        f"Question:\n{row['input']}\nAnswer B:\n{row['poor']}\nAnswer A:\n{row['reference']}",  # B before A
        f"Answer A:\n{row['reference']}\nQuestion:\n{row['input']}\nAnswer B:\n{row['poor']}",  # question after A
    ]
    for reply in await ask(sim, [("sim-small", p) for p in prompts]):
        assert "VERDICT" not in reply and "GRADE" not in reply, reply  # filler
