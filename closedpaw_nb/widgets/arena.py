"""`ArenaPanel`: blind votes on an arena's battles, then the ranking they give.

Each battle shows a prompt and two answers labelled only A and B (which target is A is
decided per battle by the arena's seed). A vote (a button, or a key while the mouse is over
the voting area) is committed to the run store at once by `Arena.vote`; only then does the
panel reveal who was A and who was B, and Next shows the next battle this voter has not
voted on. So a new panel on the same store resumes where the last one stopped.

The ranking (Bradley–Terry with 1,000 bootstrap rounds: up to half a second of CPU) runs off
the runner loop in a thread. It names the targets, so it is offered only between battles
and cleared whenever a new battle is shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..bench.store import RunStore
from ..errors import ConfigError
from ..evals.arena import Arena, Battle, build_arena
from ._arena_fields import KEYS, ArenaFields, progress_text
from ._jobs import Job
from ._leaderboard_fields import records
from ._state import ArenaForm
from ._views import JobPanel, set_figure

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ..manager import ProviderManager

__all__ = ["ArenaPanel"]

_YOUR_CHOICE = {"A": "A", "B": "B", "tie": "a tie", "both_bad": "both bad"}
_MODIFIERS = ("ctrlKey", "altKey", "metaKey")


class ArenaPanel(JobPanel):
    """Vote blind on an arena's battles (buttons or keys), then rank the targets.

    Args:
        manager: Where the arena's model judges are registered (passed to `build_arena`;
            default: the notebook helpers' manager, chosen by the arena).
        store: A RunStore or the path of its SQLite file (default: the user data directory);
            ignored when `arena` is given (its own store is used).
        arena: Vote on this arena at once; the "open an arena" row is then hidden.
        voter: Whose votes are cast (editable in the panel).

    Attributes:
        form: The `ArenaForm` state (runs, voter, phase, the battle shown, progress, reveal,
            ranking rows, status, error).
        fields: The panel's widgets (`run`, `refresh_button`, `pairs`, `open_button`, `voter`,
            `vote_buttons`, `next_button`, `reveal_html`, `progress_html`, `rank_button`,
            `table`, `chart`, `shortcuts` are also attributes of the panel).
        arena: The open `Arena` (None before one is opened).
        battle: The battle shown (None when there is none); reveal its `shown_a`/`shown_b`
            only after its vote.
    """

    def __init__(
        self,
        manager: ProviderManager | None = None,
        store: RunStore | str | None = None,
        arena: Arena | None = None,
        voter: str = "you",
    ) -> None:
        self.manager = manager
        self.form = ArenaForm(voter=voter)
        self.job = Job(self._set_busy, lambda exc: setattr(self.form, "error", f"{type(exc).__name__}: {exc}"))
        self.arena: Arena | None = None
        self.battle: Battle | None = None
        self._battles: list[Battle] = []
        self._voted: set[str] = set()  # battle ids the current voter has voted on
        if arena is not None:
            store = arena.store
        self._store: RunStore | None = store if isinstance(store, RunStore) else None
        self._store_path = None if isinstance(store, RunStore) else store  # opened on first use
        self.fields = f = ArenaFields(self.form)
        self.run, self.refresh_button, self.pairs, self.open_button = f.run, f.refresh_button, f.pairs, f.open_button
        self.voter, self.vote_buttons, self.next_button = f.voter, f.vote_buttons, f.next_button
        self.reveal_html, self.progress_html, self.status_html = f.reveal_html, f.progress_html, f.status_html
        self.rank_button, self.table, self.chart, self.shortcuts = f.rank_button, f.table, f.chart, f.shortcuts
        for choice, b in f.vote_buttons.items():
            b.on_click(lambda _b, choice=choice: self.vote(choice))
        actions: list[tuple[w.Button, Callable[[], object]]] = [
            (f.refresh_button, self.refresh_runs),
            (f.open_button, self.open_arena),
            (f.next_button, self.next),
            (f.rank_button, self.show_ranking),
        ]
        for b, action in actions:
            b.on_click(lambda _b, act=action: act())
        f.shortcuts.on_dom_event(self.on_key)
        self.form.observe(self._voter_changed, names="voter")
        super().__init__([f], layout=w.Layout(padding="6px"))
        self.add_class("cpnb-arena")
        if arena is not None:
            f.open_row.layout.display = "none"
            self._show_arena(arena, *_load(arena))
        else:
            self.refresh_runs()

    @property
    def store(self) -> RunStore:
        """The run store (opened on first use)."""
        if self._store is None:
            self._store = RunStore(self._store_path)
        return self._store

    # -- opening an arena -----------------------------------------------------------------

    def refresh_runs(self) -> None:
        """List the store's runs (newest first) in the run dropdown: a run that was not listed
        before is selected (the newest one: usually the run that just ended); otherwise the
        selection is kept."""
        runs, known = self.store.runs(), {r["run_id"] for r in self.form.runs}
        fresh = [r["run_id"] for r in runs if r["run_id"] not in known]
        if fresh:
            self.form.run_id = fresh[0]  # before `runs`, whose change rebuilds the dropdown
        self.form.runs = runs

    def open_arena(self) -> bool:
        """Open an arena on the selected run with the chosen pairs, in the background; False
        (with `error` set) if there is no run to open or work is still running."""
        f = self.form
        if self.job.running:
            f.error = "still busy: wait for the arena or the ranking to finish."
            return False
        if not f.run_id:
            f.error = "no run to open: run a benchmark or an evaluation first, then press ⟳ to list it."
            return False
        return self.job.start(self._open(f.run_id, f.pairs))

    async def _open(self, run_id: str, pairs: str) -> None:
        self.form.error, self.form.status = "", f"Opening an arena on run {run_id} …"
        try:
            # Reads every answer of the run and writes the battles: file work, off the loop.
            arena = await asyncio.to_thread(build_arena, self.store, run_id, pairs=pairs, manager=self.manager)
            battles, votes = await asyncio.to_thread(_load, arena)
        except ConfigError as exc:
            self.form.status, self.form.error = "", str(exc)
            return
        self._show_arena(arena, battles, votes)

    def _show_arena(self, arena: Arena, battles: list[Battle], votes: list[dict[str, Any]]) -> None:
        self.arena, self._battles = arena, battles
        self._voted = _voted_by(votes, self.form.voter)
        with self.form.hold_trait_notifications():
            self.form.arena_id, self.form.total, self.form.error = arena.arena_id, len(battles), ""
            self.form.status = (
                f"Arena {arena.arena_id} on run {arena.run_id}: {len(battles)} battles. "
                "Each vote is saved as it is cast; the targets are revealed after it."
            )
        self._advance()

    # -- voting ---------------------------------------------------------------------------

    def vote(self, choice: str) -> dict[str, Any] | None:
        """Vote on the battle shown, about the answers as shown: "A", "B", "tie" or
        "both_bad". The vote is committed at once, then A and B are revealed. Returns the
        stored vote, or None (with `error` set) if there is no battle waiting for a vote."""
        f, battle = self.form, self.battle
        if f.phase != "voting" or battle is None or self.arena is None or f.busy:
            f.error = "no battle is waiting for a vote" + (": press Next." if f.phase == "revealed" else ".")
            return None
        try:  # Arena.vote checks the choice and the voter
            record = self.arena.vote(battle.battle_id, choice, voter=f.voter)
        except ConfigError as exc:
            f.error = str(exc)
            return None
        self._voted.add(battle.battle_id)
        left = self._count_voted() < len(self._battles)
        with f.hold_trait_notifications():
            f.error, f.voted = "", self._count_voted()
            f.reveal = (
                f"A was {battle.shown_a} · B was {battle.shown_b} — {record['voter']} chose {_YOUR_CHOICE[choice]}"
            )
            f.phase = "revealed" if left else "done"
            if not left:
                f.status = f"All {f.total} battles voted by {f.voter}: press Ranking to rank the targets."
        return record

    def next(self) -> bool:
        """Show the next battle the voter has not voted on; False if the shown one still waits
        for its vote (or work is running)."""
        if self.form.phase != "revealed" or self.form.busy:
            return False
        self._advance()
        return True

    def on_key(self, event: Mapping[str, Any]) -> None:
        """The keyboard shortcuts (an ipyevents keydown): a/1 A is better, b/2 B is better,
        t/3 tie, x/4 both bad, n next. Keys that do not apply now are ignored."""
        if event.get("type", "keydown") != "keydown" or event.get("repeat") or any(event.get(m) for m in _MODIFIERS):
            return
        action = KEYS.get(str(event.get("key", "")).lower())
        if action == "next":
            self.next()
        elif action is not None and self.form.phase == "voting":
            self.vote(action)

    def _advance(self) -> None:
        """Show the first battle the voter has not voted on (or the all-voted message)."""
        f = self.form
        self.battle = next((b for b in self._battles if b.battle_id not in self._voted), None)
        battle = self.battle
        # Clear the ranking first: it names the targets, and a battle waiting for a vote must not.
        self.chart.outputs = ()
        with f.hold_trait_notifications():
            f.rows, f.reveal, f.error = [], "", ""
            f.voted = self._count_voted()
            f.prompt = battle.prompt if battle else ""
            f.answer_a = battle.answer_a if battle else ""
            f.answer_b = battle.answer_b if battle else ""
            f.phase = "voting" if battle else "done"
            if battle is None:
                f.status = f"All {f.total} battles voted by {f.voter}: press Ranking to rank the targets."

    def _count_voted(self) -> int:
        return len(self._voted & {b.battle_id for b in self._battles})

    def _voter_changed(self, change: dict[str, Any]) -> None:
        name = str(change["new"]).strip()
        if self.arena is None or not name:
            self.form.error = "" if name else "type a voter name: votes are counted per voter."
            return
        self.form.error = ""
        self._voted = _voted_by(self.store.votes(self.arena.arena_id), name)
        self._advance()

    # -- ranking --------------------------------------------------------------------------

    def show_ranking(self) -> bool:
        """Rank the targets from every vote so far (people and judges), in the background:
        the table and the win-matrix heatmap. False (with `error` set) while a battle waits
        for its vote: the ranking names the targets."""
        f = self.form
        if self.arena is None or f.phase == "voting" or self.job.running:
            f.error = (
                "open an arena first."
                if self.arena is None
                else "still busy: wait for it to finish."
                if self.job.running
                else "vote on the battle shown first: the ranking names the targets."
            )
            return False
        return self.job.start(self._rank(self.arena))

    async def _rank(self, arena: Arena) -> None:
        self.form.error, self.form.status = "", "Ranking the targets (Bradley–Terry, 1,000 bootstrap rounds) …"
        rows, fig, votes = await asyncio.to_thread(_ranking_and_chart, arena)
        if self.form.phase == "voting":  # a new battle came up meanwhile: keep its targets hidden
            self.form.status = ""
            return
        if not rows:
            self.form.status = "No votes yet: vote on a battle first."
            return
        self.form.rows = rows
        set_figure(self.chart, fig, "win matrix")
        self.form.status = f"Ranking from {votes} votes (every voter's, people and judges)."

    # -- state --------------------------------------------------------------------------

    def _set_busy(self, busy: bool) -> None:
        self.form.busy = busy

    def close(self) -> None:
        """Cancel running work, then close the panel, its widgets and the keyboard listener."""
        self.shortcuts.close()
        super().close()

    @property
    def status(self) -> str:
        """The last status message."""
        return self.form.status

    @property
    def error(self) -> str:
        """The last error ('' when there is none)."""
        return self.form.error

    @property
    def reveal(self) -> str:
        """Who was A and B in the battle just voted, and the vote ('' before the vote)."""
        return self.form.reveal

    @property
    def progress(self) -> str:
        """ "3 of 36 voted by you" (or the all-voted message)."""
        return progress_text(self.form)

    @property
    def ranking(self) -> pd.DataFrame:
        """The ranking shown (a DataFrame, best first); empty before Ranking."""
        import pandas as pd

        return pd.DataFrame(list(self.form.rows))


def _load(arena: Arena) -> tuple[list[Battle], list[dict[str, Any]]]:
    """Every battle as shown, and the votes so far (reads the run store)."""
    return arena.battle_list(), arena.store.votes(arena.arena_id)


def _voted_by(votes: list[dict[str, Any]], voter: str) -> set[str]:
    return {v["battle_id"] for v in votes if v["voter"] == voter.strip()}


def _ranking_and_chart(arena: Arena) -> tuple[list[dict[str, Any]], Figure | None, int]:
    votes = arena.votes.dropna(subset=["verdict"])
    if votes.empty:
        return [], None, 0
    return records(arena.ranking()), arena.chart(), len(votes)
