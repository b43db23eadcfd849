"""The panels inside a real ipykernel (with and without nest_asyncio applied): updates made
on the runner thread reach the front end as comm messages, and the saved notebook, widget
state included, holds no key."""

from __future__ import annotations

import json
import os

import nbformat
import pytest

pytestmark = pytest.mark.slow  # starts an ipykernel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CELLS = [
    "import ipywidgets, json, tempfile, os\n"
    "from closedpaw_nb.manager import ProviderManager\n"
    "from closedpaw_nb.sim import Simulator, start_server\n"
    "from closedpaw_nb.widgets import app\n"
    "sim = start_server(simulator=Simulator(time_scale=0))\n"
    "ui = app(ProviderManager(), store=os.path.join(tempfile.mkdtemp(), 'runs.sqlite'))\n"
    "ui",
    "reg = ui.registration\n"
    "reg.base_url.value = sim.base_url('openai')\n"
    "reg.api_key.value = {canary!r}\n"
    "reg.default_model.value = 'sim-small'\n"
    "reg.register_button.click(); reg.wait()\n"
    "print(repr(reg.api_key.value), reg.status)",
    "c = ui.comparison\n"
    "c.prompt.value = 'Hello from a kernel'; c.targets.value = ('openai:sim-small',); c.max_tokens.value = 9\n"
    "c.run_button.click(); c.wait()\n"
    "print('ANSWER=' + c.results.response.iloc[0])",
    "ui.health.check_button.click(); ui.health.wait()\n"
    "b = ui.benchmark\n"
    "b.prompts.value = 'a'; b.targets.value = ('openai:sim-small',); b.trials.value = 2\n"
    "b.run_button.click(); b.wait()\n"
    "print(ui.health.status, '|', b.status)",
    # The arena: a second model, a two-target run, one blind vote by click.
    "reg.name.value = 'large'; reg.base_url.value = sim.base_url('openai'); reg.api_key.value = {canary!r}\n"
    "reg.default_model.value = 'sim-large'; reg.register_button.click(); reg.wait()\n"
    "b.prompts.value = 'Say hi\\nSay bye'; b.targets.value = ('openai:sim-small', 'large:sim-large')\n"
    "b.trials.value = 1; b.run_button.click(); b.wait()\n"
    "a = ui.arena; a.run.value = b.run.run_id; a.open_button.click(); a.wait()\n"
    "before = a.progress; a.vote_buttons['B'].click()\n"
    "print('ARENA', before, '|', a.progress, '|', a.reveal, '|', a.arena.votes.shown_a.tolist())",
    "print('KEY_IN_STATE', {canary!r} in json.dumps(ipywidgets.Widget.get_manager_state()))",
]


@pytest.mark.parametrize("nest", [False, True], ids=["plain", "nest_asyncio-applied"])
def test_panels_in_a_real_kernel(monkeypatch, tmp_path, canary, nest):
    from nbclient import NotebookClient

    cells = (["import nest_asyncio\nnest_asyncio.apply()"] if nest else []) + [c.format(canary=canary) for c in CELLS]
    # The key was typed into the form by the code above; it is the form we test, not the source cell.
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    NotebookClient(notebook, timeout=120, kernel_name="python3", store_widget_state=True).execute()
    out = ["".join(o.get("text", "") for o in c.outputs) for c in notebook.cells[1 if nest else 0 :]]
    assert out[1].startswith("'' Registered 'openai'")
    answer = out[2].split("ANSWER=", 1)[1].strip()
    assert answer and "1/1 ok" in out[3] and "finished: 3 ok, 0 errors" in out[3]
    before, after, reveal, shown = out[4].removeprefix("ARENA ").strip().split(" | ")
    assert (before, after) == ("0 of 2 voted by you", "1 of 2 voted by you")
    assert reveal.startswith(f"A was {eval(shown)[0]} · B was ") and reveal.endswith("you chose B")
    assert out[5].strip() == "KEY_IN_STATE False"
    # What the front end was told, as saved in the notebook: the answer arrived, the key did not.
    widget_state = json.dumps(notebook.metadata["widgets"])
    assert answer in widget_state and json.dumps(reveal)[1:-1] in widget_state  # "·" and "—" as JSON escapes
    for cell in notebook.cells:
        cell.source = "" if canary in cell.source else cell.source  # the test's own cell typed it
    assert canary not in nbformat.writes(notebook)
