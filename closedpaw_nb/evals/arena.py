"""`Arena`: blind pairwise battles between targets' answers, voted on by people and model
judges, ranked with Bradley–Terry and bootstrap confidence intervals.

**Battles** come from answers already in a run (an evaluation or a benchmark): for each item,
pairs of targets that both answered it (`pairs="all"`, `"adjacent"` in target order, or N
pairs drawn per item), each with the lowest trial both answered without an error. No target
is called again. Which answer a voter sees as "A" is decided per battle by a seeded hash, so
it is random across battles and the same every time the arena is opened.

**Votes** are stored in the run store the moment they are cast (battle, voter, verdict, the
order shown, time), so a closed notebook loses nothing and voting resumes where it stopped.
A verdict is kept in the battle's own terms: "a" (its `target_a` is better), "b", "tie" or
"both_bad"; a person votes on what they saw ("A", "B", "tie", "both_bad") and `vote` maps it.

**Model judges** (`judge`) see the question and the two answers, never the targets' names,
and each battle is judged twice with the answers swapped. A verdict that changes with the
order counts as a tie and is recorded as inconsistent (MT-Bench's control for position
bias); a reply without a `VERDICT:` line, or a failed call, is a missing vote with its
reason, never a tie. Judge calls are cached in the run store, like `llm_judge`'s.

**Ranking** (`bradley_terry.ranking`): every vote is one observation (a battle voted by two
people counts twice); ties and both_bad count as half a win each way.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..bench.store import RunStore
from ..errors import ClosedPawError, ConfigError
from .judges import judge_call, judge_store

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ..manager import ProviderManager

__all__ = ["PAIRWISE_TEMPLATE", "SHOWN_CHOICES", "Arena", "build_arena", "parse_verdict"]

PAIRWISE_TEMPLATE = """You are comparing two answers to the same question. {rubric}
Think in one short line, then end with a last line that is exactly one of: VERDICT: A (answer A \
is better), VERDICT: B (answer B is better), VERDICT: TIE (equally good), VERDICT: BOTH_BAD \
(neither is acceptable).

Question:
{question}
Answer A:
{answer_a}
Answer B:
{answer_b}"""
"""The judge prompt: `{rubric}`, `{question}`, `{answer_a}` and `{answer_b}` are filled in.
Answer B comes last, so nothing inside an answer can pose as the other one."""

DEFAULT_RUBRIC = "Prefer the answer that is correct, helpful and clear."
SHOWN_CHOICES = ("A", "B", "tie", "both_bad")
"""What a person can vote, about the answers as shown."""

_VERDICT = re.compile(r"VERDICT:\s*(A|B|TIE|BOTH_BAD)\b")
_PAIRS_HELP = 'pairs must be "all", "adjacent" or a positive number of pairs per item'


def parse_verdict(reply: str) -> str | None:
    """The last `VERDICT:` line of a judge's reply, about the answers in the order it saw them:
    "A", "B", "tie" or "both_bad"; None when there is none."""
    found: list[str] = _VERDICT.findall(reply)
    if not found:
        return None
    return {"TIE": "tie", "BOTH_BAD": "both_bad"}.get(found[-1], found[-1])


def build_arena(
    store: RunStore,
    run_id: str,
    *,
    targets: Sequence[str] | None = None,
    pairs: str | int = "all",
    seed: int = 0,
    manager: ProviderManager | None = None,
) -> Arena:
    """The arena over run `run_id`'s answers (see the module docstring); the same arguments
    give the same arena, with the votes cast so far."""
    rows = [r for r in store.rows(run_id) if not r["warmup"]]
    if not rows:
        raise ConfigError(f"run {run_id!r} has no answers in {store.path}: run a benchmark or an evaluation first")
    known = list(dict.fromkeys(r["target"] for r in rows))
    chosen = list(targets) if targets is not None else known
    unknown = [t for t in chosen if t not in known]
    if unknown or len(chosen) < 2:
        raise ConfigError(
            f"an arena needs at least two of the run's targets ({', '.join(known)}); "
            + (f"not in the run: {', '.join(unknown)}" if unknown else f"got {len(chosen)}")
        )
    key = json.dumps([run_id, chosen, pairs, seed])
    arena_id = "arena-" + hashlib.sha256(key.encode()).hexdigest()[:12]
    store.write_battles(_battles(arena_id, run_id, rows, chosen, pairs, seed))
    return Arena(arena_id, run_id, store, manager)


def _battles(
    arena_id: str, run_id: str, rows: list[dict[str, Any]], targets: list[str], pairs: str | int, seed: int
) -> list[dict[str, Any]]:
    answered: dict[tuple[str, str], set[int]] = {}
    for row in rows:
        if row["ok"]:
            answered.setdefault((row["prompt_id"], row["target"]), set()).add(int(row["trial"]))
    battles = []
    for prompt_id in dict.fromkeys(r["prompt_id"] for r in rows):
        present = [t for t in targets if (prompt_id, t) in answered]
        for a, b in _pick_pairs(present, pairs, seed, prompt_id):
            trials = answered[(prompt_id, a)] & answered[(prompt_id, b)]
            if not trials:
                continue
            battle_id = "b" + _digest(prompt_id, a, b)[:12]  # opaque: an id shown to a voter must not name targets
            first = a if _coin(seed, battle_id) else b
            battles.append(
                dict(arena_id=arena_id, battle_id=battle_id, run_id=run_id, prompt_id=prompt_id, trial=min(trials))
                | dict(target_a=a, target_b=b, shown_first=first)
            )
    return battles


def _pick_pairs(present: list[str], pairs: str | int, seed: int, prompt_id: str) -> list[tuple[str, str]]:
    if pairs == "all":
        return list(itertools.combinations(present, 2))
    if pairs == "adjacent":
        return list(itertools.pairwise(present))
    if isinstance(pairs, bool) or not isinstance(pairs, int) or pairs < 1:
        raise ConfigError(f"{_PAIRS_HELP}, got {pairs!r}")
    every = list(itertools.combinations(present, 2))
    keep = set(sorted(every, key=lambda pair: _digest(seed, prompt_id, *pair))[:pairs])  # a seeded draw
    return [pair for pair in every if pair in keep]


def _digest(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()


def _coin(seed: int, battle_id: str) -> bool:
    return int(_digest(seed, battle_id), 16) % 2 == 0


@dataclass(frozen=True)
class Battle:
    """One battle as a voter sees it: the prompt and the answers labelled only A and B.

    Attributes:
        battle_id: The battle's id in its arena.
        prompt: The item's prompt.
        answer_a: The answer shown as A.
        answer_b: The answer shown as B.
        shown_a: The target behind A (reveal it only after the vote).
        shown_b: The target behind B.
    """

    battle_id: str
    prompt: str
    answer_a: str
    answer_b: str
    shown_a: str
    shown_b: str


@dataclass
class Arena:
    """Battles between a run's answers, their votes, and the ranking they give.

    Attributes:
        arena_id: Stable for the same run, targets, pairs and seed.
        run_id: The run whose answers battle.
        store: The run store holding the answers, battles and votes.
        manager: Where model judges are registered (default: the notebook helpers' manager).
    """

    arena_id: str
    run_id: str
    store: RunStore
    manager: ProviderManager | None = None

    # -- battles ------------------------------------------------------------------------

    def _answers(self) -> dict[tuple[str, str, int], tuple[str, str]]:
        return {
            (r["target"], r["prompt_id"], int(r["trial"])): (r["prompt"] or "", r["response"] or "")
            for r in self.store.rows(self.run_id)
            if r["ok"] and not r["warmup"]
        }

    def battle_list(self) -> list[Battle]:
        """Every battle as shown to voters (A is the battle's `shown_first` target)."""
        return self._as_shown(self.store.battles(self.arena_id))

    def _as_shown(self, stored: Iterable[Mapping[str, Any]]) -> list[Battle]:
        answers, battles = self._answers(), []
        for b in stored:
            shown = _shown_order(b)
            (prompt, left), (_, right) = (answers[(t, b["prompt_id"], int(b["trial"]))] for t in shown)
            battles.append(Battle(b["battle_id"], prompt, left, right, *shown))
        return battles

    @property
    def battles(self) -> pd.DataFrame:
        """One row per battle: battle_id, prompt_id, trial, target_a, target_b, shown_first."""
        import pandas as pd

        return pd.DataFrame(self.store.battles(self.arena_id)).drop(columns=["arena_id", "run_id"], errors="ignore")

    def pending(self, voter: str = "you") -> list[Battle]:
        """The battles `voter` has not voted on yet, in order."""
        done = {v["battle_id"] for v in self.store.votes(self.arena_id) if v["voter"] == voter}
        return [b for b in self.battle_list() if b.battle_id not in done]

    # -- votes --------------------------------------------------------------------------

    def vote(self, battle_id: str, choice: str, *, voter: str = "you") -> dict[str, Any]:
        """Record `voter`'s vote on a battle, about the answers as shown ("A", "B", "tie" or
        "both_bad"); it is committed at once. Returns the vote, with the targets revealed."""
        if choice not in SHOWN_CHOICES:
            raise ConfigError(f"vote one of {', '.join(SHOWN_CHOICES)}, got {choice!r}")
        if not voter.strip() or voter.startswith("judge:"):
            raise ConfigError('give a voter name (names starting with "judge:" are for model judges)')
        battle = self.store.battle(self.arena_id, battle_id)
        if battle is None:
            raise ConfigError(f"no battle {battle_id!r} in arena {self.arena_id}")
        shown = _shown_order(battle)
        verdict = _to_battle_terms(choice, shown[0] == battle["target_a"])
        record: dict[str, Any] = dict(arena_id=self.arena_id, battle_id=battle_id, voter=voter.strip())
        record |= dict(verdict=verdict, shown_a=shown[0], shown_b=shown[1], reason="", consistent=None, cast_at=_now())
        self.store.write_vote(record)
        return record

    @property
    def votes(self) -> pd.DataFrame:
        """Every vote: battle_id, voter, verdict (a, b, tie, both_bad; None: missing, see
        reason), shown_a, shown_b, reason, consistent (judges), cast_at; with the battle's targets."""
        import pandas as pd

        columns = ["battle_id", "voter", "verdict", "shown_a", "shown_b", "reason", "consistent", "cast_at"]
        votes = pd.DataFrame(self.store.votes(self.arena_id), columns=["arena_id", *columns]).drop(columns="arena_id")
        return votes.merge(self.battles[["battle_id", "target_a", "target_b"]], on="battle_id", how="left")

    # -- model judges ---------------------------------------------------------------------

    async def ajudge(
        self,
        judges: str | Sequence[str],
        *,
        rubric: str = DEFAULT_RUBRIC,
        template: str = PAIRWISE_TEMPLATE,
        concurrency: int = 8,
        **options: Any,
    ) -> int:
        """Have each judge ("provider:model") vote on every battle it has not voted on, twice
        with the answers swapped (see the module docstring). Returns the votes written."""
        names = [judges] if isinstance(judges, str) else list(judges)
        for field in ("{answer_a}", "{answer_b}"):
            if field not in template:
                raise ConfigError(f"the pairwise judge template must contain {field}")
        settings = {"temperature": 0.0, "max_tokens": 256, **options}
        stored = self.store.battles(self.arena_id)  # read once: shown to the judges, and by id
        battles, by_id = self._as_shown(stored), {b["battle_id"]: b for b in stored}
        gate = asyncio.Semaphore(concurrency)
        voted = {(v["battle_id"], v["voter"]) for v in self.store.votes(self.arena_id)}

        async def one(judge: str, battle: Battle) -> None:
            async with gate:
                record = await self._judged(judge, battle, by_id[battle.battle_id], rubric, template, settings)
            self.store.write_vote(record)

        jobs = [one(j, b) for j in names for b in battles if (b.battle_id, f"judge:{j}") not in voted]
        token = judge_store.set(self.store)
        try:
            await asyncio.gather(*jobs)
        finally:
            judge_store.reset(token)
        return len(jobs)

    async def _judged(
        self,
        judge: str,
        battle: Battle,
        stored: Mapping[str, Any],
        rubric: str,
        template: str,
        options: Mapping[str, Any],
    ) -> dict[str, Any]:
        from .agreement import combine_swapped

        a, b = stored["target_a"], stored["target_b"]
        answer = {battle.shown_a: battle.answer_a, battle.shown_b: battle.answer_b}
        orders = ((a, b), (b, a))
        prompts = [
            template.format(rubric=rubric, question=battle.prompt, answer_a=answer[x], answer_b=answer[y])
            for x, y in orders
        ]
        verdicts: list[str | None] = []
        reasons: list[str] = []
        for (first, _), prompt in zip(orders, prompts, strict=True):
            try:
                call = await judge_call(judge, prompt, manager=self.manager, options=options)
            except ClosedPawError as exc:
                verdicts.append(None)
                reasons.append(f"the judge {judge} failed: {type(exc).__name__}: {exc}")
                continue
            seen = parse_verdict(call["reply"])
            if seen is None:
                reasons.append(f"no VERDICT line in the judge's reply: {call['reply'][-200:]!r}")
            verdicts.append(_to_battle_terms(seen, first == a))
        verdict, consistent = combine_swapped(verdicts[0], verdicts[1])
        if consistent is False:
            reasons.append(f"the verdict changed with the order ({verdicts[0]}, then {verdicts[1]}): counted as a tie")
        record = dict(arena_id=self.arena_id, battle_id=battle.battle_id, voter=f"judge:{judge}", verdict=verdict)
        return record | dict(shown_a=a, shown_b=b, reason="; ".join(reasons), consistent=consistent, cast_at=_now())

    # -- results --------------------------------------------------------------------------

    def _battle_outcomes(self, voters: Iterable[str] | None) -> pd.DataFrame:
        votes = self.votes.dropna(subset=["verdict"])
        if voters is not None:
            votes = votes[votes["voter"].isin(list(voters))]
        return votes.rename(columns={"target_a": "model_a", "target_b": "model_b", "verdict": "winner"})

    def ranking(
        self, *, voters: Iterable[str] | None = None, rounds: int = 1000, confidence: float = 0.95, seed: int = 0
    ) -> pd.DataFrame:
        """One row per target, best first: Bradley–Terry strength with its bootstrap CI, the
        Elo-like scale, rank (shared where CIs overlap), battles and win rate
        (`bradley_terry.ranking`); from every voter's votes, or only `voters`'."""
        from .bradley_terry import ranking

        return ranking(self._battle_outcomes(voters), rounds=rounds, confidence=confidence, seed=seed)

    def win_matrix(self, *, voters: Iterable[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(observed, predicted) rate at which the row target beats the column target."""
        from .bradley_terry import win_matrix

        return win_matrix(self._battle_outcomes(voters))

    def agreement(self) -> pd.DataFrame:
        """Per pair of voters (people and judges) who voted the same battles: battles,
        percent agreement and Cohen's kappa; `inconsistency_a`/`_b`: the share of its battles
        whose verdict flipped with the order, for a judge (NaN for a person)."""
        from .agreement import agreement

        votes = self.votes
        pairs = agreement(votes.rename(columns={"battle_id": "battle"}))
        judged = votes[votes["consistent"].notna()]
        flips = 1 - judged.groupby("voter")["consistent"].mean()
        for side in ("a", "b"):
            pairs[f"inconsistency_{side}"] = pairs[f"voter_{side}"].map(flips).astype(float)
        return pairs

    def chart(self, *, voters: Iterable[str] | None = None) -> Figure:
        """Heatmap of the observed win rates (row beats column), best target first."""
        from ..bench.charts import win_matrix_heatmap

        return win_matrix_heatmap(self.win_matrix(voters=voters)[0])

    def __repr__(self) -> str:
        return f"Arena({self.arena_id!r}, run {self.run_id!r}, {len(self.store.battles(self.arena_id))} battles)"


def _shown_order(battle: Mapping[str, Any]) -> tuple[str, str]:
    """(target shown as A, target shown as B)."""
    a, b = battle["target_a"], battle["target_b"]
    return (a, b) if battle["shown_first"] == a else (b, a)


def _to_battle_terms(seen: str | None, a_first: bool) -> str | None:
    """A verdict about the order seen ("A", "B", "tie", "both_bad") in the battle's terms."""
    if seen in ("A", "B"):
        return "a" if (seen == "A") == a_first else "b"
    return seen


def _now() -> str:
    return datetime.now(UTC).isoformat()
