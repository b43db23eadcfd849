"""ArenaPanel: blind votes on a simulated run's battles (buttons and keys), stored as cast
with the order shown, revealed only after the vote, resumed by a new panel; the ranking
and its heatmap; clear errors."""

from __future__ import annotations

import base64

import pytest

from closedpaw_nb import _runner
from closedpaw_nb.bench.run import run_benchmark
from closedpaw_nb.bench.store import RunStore
from closedpaw_nb.evals.arena import build_arena
from closedpaw_nb.widgets import ArenaPanel

from ._helpers import all_widget_state

TARGETS = ("s-openai:sim-small", "s-openai:sim-large", "s-anthropic:sim-large")
PROMPTS = ["Explain <b>bold</b> & <i>italics</i> to a beginner.", "Summarise this ticket: the login page hangs."]
PROMPTS += ["Write a haiku about rain."]
BATTLES = 3 * len(PROMPTS)  # every pair of three targets, per prompt
# Every way a target could show: full names, providers, models.
NAMES = (*TARGETS, "s-openai", "s-anthropic", "sim-small", "sim-large")


@pytest.fixture
def store(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    yield store
    store.close()


def _run(manager, store, targets=TARGETS, prompts=PROMPTS) -> str:
    result = _runner.run(run_benchmark(manager, prompts, list(targets), trials=1, warmup=0, store=store))
    return result.run_id


def _opened(manager, store, run_id: str, **kwargs) -> ArenaPanel:
    panel = ArenaPanel(manager, store=store, **kwargs)
    panel.run.value = run_id
    assert panel.open_button.click() is None  # a click returns nothing; the panel opens in the background
    panel.wait()
    assert panel.error == "" and panel.form.phase == "voting", panel.error
    return panel


def _key(panel: ArenaPanel, key: str, **modifiers: bool) -> None:
    """A keydown as ipyevents' front end sends it (the message its widget dispatches)."""
    event = {"type": "keydown", "key": key, "code": f"Key{key.upper()}", "repeat": False}
    panel.shortcuts._handle_mouse_msg(None, event | modifiers, [])


def _assert_blind(panel: ArenaPanel) -> None:
    """No target name anywhere in the widgets' state while a battle waits for its vote."""
    assert panel.form.phase == "voting" and panel.reveal == ""
    state = all_widget_state()
    leaked = [name for name in NAMES if name in state]
    assert not leaked, f"target names visible before the vote: {leaked}"


def _verdict(arena, battle, choice: str) -> str:
    """What a vote about the order shown means in the battle's own terms."""
    row = arena.battles.set_index("battle_id").loc[battle.battle_id]
    if choice in ("A", "B"):
        winner = battle.shown_a if choice == "A" else battle.shown_b
        return "a" if winner == row["target_a"] else "b"
    return choice


def test_a_vote_is_blind_stored_as_shown_then_revealed(sim_manager, store):
    run_id = _run(sim_manager, store)
    panel = _opened(sim_manager, store, run_id)
    assert panel.form.total == BATTLES and panel.progress == f"0 of {BATTLES} voted by you"
    assert f"<b>0 of {BATTLES} voted by you</b>" == panel.progress_html.value
    battle = panel.battle
    assert battle == panel.arena.pending("you")[0]  # the first battle, as the arena orders them
    # Labelled only A and B; the prompt and answers escaped and wrapped.
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;" in panel.fields.prompt_html.value
    assert "<b>bold</b>" not in panel.fields.prompt_html.value
    assert "pre-wrap" in panel.fields.answer_a_html.value and "overflow-y:auto" in panel.fields.answer_b_html.value
    assert battle.answer_a[:30] in panel.fields.answer_a_html.value
    assert battle.answer_b[:30] in panel.fields.answer_b_html.value
    _assert_blind(panel)
    assert panel.rank_button.disabled and panel.next_button.disabled
    assert not any(b.disabled for b in panel.vote_buttons.values())

    panel.vote_buttons["A"].click()
    votes = panel.arena.votes
    assert len(votes) == 1 and votes.loc[0, "voter"] == "you" and votes.loc[0, "battle_id"] == battle.battle_id
    assert (votes.loc[0, "shown_a"], votes.loc[0, "shown_b"]) == (battle.shown_a, battle.shown_b)
    assert votes.loc[0, "verdict"] == _verdict(panel.arena, battle, "A")
    assert panel.reveal == f"A was {battle.shown_a} · B was {battle.shown_b} — you chose A"
    assert battle.shown_a in panel.reveal_html.value and battle.shown_b in all_widget_state()
    assert panel.progress == f"1 of {BATTLES} voted by you" and panel.form.phase == "revealed"
    assert all(b.disabled for b in panel.vote_buttons.values()) and not panel.next_button.disabled
    assert panel.vote("B") is None and "press Next" in panel.error  # one vote per battle

    panel.next_button.click()
    assert panel.battle != battle and panel.error == "" and panel.reveal_html.value == ""
    _assert_blind(panel)
    assert panel.progress == f"1 of {BATTLES} voted by you"


def test_keyboard_shortcuts_vote_and_move_on(sim_manager, store):
    panel = _opened(sim_manager, store, _run(sim_manager, store))
    assert "key: a or 1" in panel.vote_buttons["A"].tooltip and "key: x or 4" in panel.vote_buttons["both_bad"].tooltip
    assert panel.shortcuts.watched_events == ["keydown"] and panel.shortcuts.source is panel.fields.voting
    expected = []
    for key, choice in (("b", "B"), ("3", "tie"), ("x", "both_bad"), ("1", "A"), ("2", "B"), ("t", "tie")):
        battle = panel.battle
        _key(panel, "a", ctrlKey=True)  # Ctrl+A is the browser's, not a vote
        _key(panel, "n")  # nothing to move on to before the vote
        assert panel.form.phase == "voting" and panel.battle == battle
        _key(panel, key)
        assert panel.form.phase == "revealed" and panel.reveal.endswith(
            {"A": "chose A", "B": "chose B", "tie": "chose a tie", "both_bad": "chose both bad"}[choice]
        )
        _key(panel, "a")  # already voted: ignored, not an error
        assert panel.error == ""
        expected.append((battle.battle_id, _verdict(panel.arena, battle, choice)))
        _key(panel, "N")
        _assert_blind(panel)
    votes = panel.arena.votes
    assert sorted(zip(votes.battle_id, votes.verdict, strict=True)) == sorted(expected)
    assert panel.progress == f"6 of {BATTLES} voted by you"


def test_a_new_panel_resumes_at_the_first_unvoted_battle(sim_manager, store):
    run_id = _run(sim_manager, store)
    first = _opened(sim_manager, store, run_id)
    voted = []
    for choice in ("A", "B"):
        voted.append(first.battle.battle_id)
        first.vote(choice)
        first.next()
    waiting = first.battle
    first.close()
    again = _opened(sim_manager, store, run_id)  # the same run, pairs and seed: the same arena
    assert again.arena.arena_id == first.arena.arena_id
    assert again.battle == waiting and again.progress == f"2 of {BATTLES} voted by you"
    assert sorted(again.arena.votes.battle_id) == sorted(voted)
    _assert_blind(again)
    # An Arena passed in is voted on at once, with no "open" row.
    arena = build_arena(store, run_id)
    direct = ArenaPanel(arena=arena)
    assert direct.store is store and direct.fields.open_row.layout.display == "none"
    assert (
        direct.battle == waiting and direct.form.phase == "voting" and direct.progress == f"2 of {BATTLES} voted by you"
    )


def test_votes_are_counted_per_voter(sim_manager, store):
    panel = _opened(sim_manager, store, _run(sim_manager, store), voter="ana")
    assert panel.voter.value == "ana"
    panel.vote("A")
    panel.voter.value = "ben"  # a new voter starts at their own first battle
    assert panel.progress == f"0 of {BATTLES} voted by ben" and panel.form.phase == "voting"
    panel.vote("tie")
    panel.voter.value = "ana"
    assert panel.progress == f"1 of {BATTLES} voted by ana" and panel.battle == panel.arena.pending("ana")[0]
    assert sorted(panel.arena.votes.voter) == ["ana", "ben"]
    panel.voter.value = "  "
    assert "type a voter name" in panel.error
    assert panel.vote("A") is None and "voter name" in panel.error


def test_all_voted_then_the_ranking_and_heatmap(sim_manager, store):
    run_id = _run(sim_manager, store)
    panel = _opened(sim_manager, store, run_id)
    assert not panel.show_ranking() and "vote on the battle shown first" in panel.error
    for i in range(BATTLES):
        # The larger model wins when shown, so the ranking has an order to find.
        b = panel.battle
        panel.vote_buttons["A" if "large" in b.shown_a else "B" if "large" in b.shown_b else "tie"].click()
        if i < BATTLES - 1:
            panel.next_button.click()
    assert panel.form.phase == "done" and panel.next_button.disabled
    assert panel.progress == f"All {BATTLES} battles voted by you." and f"All {BATTLES} battles voted" in panel.status
    assert f"All {BATTLES} battles voted by you." in panel.progress_html.value
    assert not panel.rank_button.disabled
    panel.rank_button.click()
    panel.wait()
    assert panel.error == "" and f"Ranking from {BATTLES} votes" in panel.status
    ranking = panel.ranking
    assert list(ranking.columns[:3]) == ["target", "strength", "ci_low"] and len(ranking) == 3
    assert ranking.target.iloc[-1] == "s-openai:sim-small" and ranking.battles.tolist() == [6, 6, 6]
    table = panel.table.value
    assert all(t in table for t in TARGETS) and "elo_ci_low" in table and "win_rate" in table
    assert "<td>6</td>" in table and "%" in table
    assert base64.b64decode(panel.chart.outputs[0]["data"]["image/png"]).startswith(b"\x89PNG")
    # Every battle voted: a new panel says so at once, with nothing left to show.
    again = _opened_done(sim_manager, store, run_id)
    assert again.battle is None and again.fields.voting.layout.display == "none"
    assert again.progress == f"All {BATTLES} battles voted by you."


def _opened_done(manager, store, run_id) -> ArenaPanel:
    panel = ArenaPanel(manager, store=store)
    panel.run.value = run_id
    panel.open_arena()
    panel.wait()
    assert panel.form.phase == "done" and panel.error == ""
    return panel


def test_the_ranking_is_cleared_when_the_next_battle_shows(sim_manager, store):
    panel = _opened(sim_manager, store, _run(sim_manager, store))
    panel.vote("A")
    assert panel.show_ranking()
    panel.wait()
    assert "s-openai:sim-small" in panel.table.value and panel.chart.outputs
    panel.next()
    assert panel.table.value == "" and panel.chart.outputs == () and panel.form.rows == []
    _assert_blind(panel)


def test_no_votes_yet_and_the_run_list(sim_manager, store):
    panel = ArenaPanel(sim_manager, store=store)
    assert panel.comm is not None  # displayable: no method of the panel shadows the widget's own
    assert panel.run.options == () and panel.form.phase == "closed"
    assert panel.fields.voting.layout.display == "none" and panel.rank_button.disabled
    assert not panel.open_arena() and "no run to open" in panel.error
    assert not panel.show_ranking() and "open an arena first" in panel.error
    assert panel.vote("A") is None and "no battle is waiting" in panel.error
    older, newer = _run(sim_manager, store), _run(sim_manager, store, prompts=PROMPTS[:1])
    panel.refresh_button.click()
    labels = [label for label, _ in panel.run.options]
    assert labels == [f"{newer} · done · 3 rows", f"{older} · done · 9 rows"] and panel.run.value == newer
    panel.run.value = older
    panel.refresh_runs()
    assert panel.run.value == older  # no new run: the selection is kept
    newest = _run(sim_manager, store, prompts=PROMPTS[1:2])
    panel.refresh_runs()
    assert panel.run.value == newest and len(panel.run.options) == 3  # a new run: selected


def test_a_one_target_run_is_refused_clearly(sim_manager, store):
    run_id = _run(sim_manager, store, targets=TARGETS[:1])
    panel = ArenaPanel(sim_manager, store=store)
    panel.open_button.click()
    panel.wait()
    assert "an arena needs at least two of the run's targets" in panel.error and "got 1" in panel.error
    assert panel.form.phase == "closed" and panel.arena is None and run_id in panel.run.value
    assert 'class="cpnb-arena-' not in panel.status_html.value and "a4161a" in panel.status_html.value  # in red
