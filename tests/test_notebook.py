"""The sync notebook helpers: inside a running event loop, and inside a real ipykernel."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import nbformat
import pandas as pd
import pytest

import closedpaw_nb.manager as manager_module
from closedpaw_nb import ChatResponse, ConfigError, ProviderConfig
from closedpaw_nb import notebook as nb
from closedpaw_nb.bench.store import RunStore
from closedpaw_nb.providers import BaseProvider


@pytest.fixture
def fresh_manager(monkeypatch):
    """A new process-wide manager (with the seed's Ollama entry) and the simulator registered."""
    monkeypatch.setattr(manager_module, "_singleton", None)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # nothing listens there
    names = nb.register(simulator=True)
    yield names
    nb._runner.run(nb.manager().close_all())


def test_register_simulator_names(fresh_manager):
    assert fresh_manager == ["sim-openai", "sim-anthropic", "sim-google", "sim-mistral", "sim-ollama"]
    assert nb.register(simulator=True) == []  # already there


async def test_sync_helpers_work_while_this_thread_runs_a_loop(fresh_manager):
    asyncio.get_running_loop()  # as in a Jupyter cell
    reply = nb.chat("Hello", "sim-openai:sim-small", max_tokens=5)
    assert reply.completion_tokens == 5 and reply.provider == "sim-openai"
    assert "".join(nb.stream("Hello", "sim-anthropic")) == nb.chat("Hello", "sim-anthropic").content
    assert set(nb.models().provider) >= {"sim-openai", "ollama"}
    health = nb.health().set_index("provider")
    assert health.loc["sim-google", "status"] == "ok" and health.loc["ollama", "status"] == "not_running"


async def test_awaitable_twins(fresh_manager):
    reply = await nb.achat("Hello", "sim-mistral")
    assert reply.content
    result = await nb.acompare("Hello", ["sim-openai", "sim-google"])
    assert list(result.answers.columns) == ["sim-openai:sim-small", "sim-google:sim-small"]
    assert isinstance(await nb.amodels(), pd.DataFrame) and isinstance(await nb.ahealth(), pd.DataFrame)


def test_compare_shows_answers_side_by_side(fresh_manager):
    result = nb.compare(["Why?", "How?"], ["sim-openai:sim-small", "sim-anthropic:sim-large"], max_tokens=8)
    assert result.answers.shape == (2, 2)
    assert len(result.df) == 4 and result.df.ok.all()
    html = result._repr_html_()
    assert "Simulated output" in html and "sim-anthropic:sim-large<br><i>simulated</i>" in html
    assert html.count("<table") == 2 and "<caption>Answers</caption>" in html  # numbers apart from answers
    numbers = html.split("<caption>Numbers per target</caption>")[1]
    assert "latency_ms" in numbers and "ttft_ms" in numbers and "$0.000000" not in html
    assert '<td>cost_usd</td><td class="cpnb-num">simulated</td>' in numbers
    assert '<td>calls</td><td class="cpnb-num">2</td>' in numbers  # counts as whole numbers


def test_compare_html_keeps_line_breaks_escapes_and_prices_local_targets():
    from closedpaw_nb.bench.render import compare_html

    answers = pd.DataFrame({"a:m": ["line one\nline <two>"], "b:m": [None]}, index=pd.Index(["p000"], name="prompt_id"))
    metrics = pd.DataFrame(
        {"a:m": [1.0, 0.0, 1234.0], "b:m": [1.0, float("nan"), float("nan")]}, index=["calls", "cost_usd", "latency_ms"]
    )
    scores = pd.DataFrame({"a:m": [0.5], "b:m": [float("nan")]}, index=pd.MultiIndex.from_tuples([("p000", "x")]))
    html = compare_html(answers, scores, metrics, local=["a:m"])
    assert '<td class="cpnb-text">line one\nline &lt;two&gt;</td>' in html and "white-space:pre-wrap" in html
    assert "$0 (local)" in html and "— (no price)" in html and "1,234.0" in html
    assert ">0.50<" in html and "— (missing)" in html and "<caption>Scores (1 = correct)</caption>" in html


ARITHMETIC = {
    "What is 17 + 25? Answer with just the number.": 42,
    "What is 144 divided by 12? Answer with just the number.": 12,
    "What is 23 multiplied by 19? Answer with just the number.": 437,
}


def test_compare_scores_each_answer_against_the_expected_answer(fresh_manager):
    targets = ["sim-openai:sim-small", "sim-anthropic:sim-large"]
    result = nb.compare(list(ARITHMETIC), targets, expected=list(ARITHMETIC.values()))
    scores = result.scores
    assert scores.shape == (3, 2) and set(scores.index.get_level_values("scorer")) == {"includes"}
    for (pid, _scorer), row in scores.iterrows():
        wanted = list(ARITHMETIC.values())[int(pid[1:])]
        for target, value in row.items():
            assert value == float(str(wanted) in result.answers.loc[pid, target])
    assert "p001 · includes" in result._repr_html_()

    from closedpaw_nb.scorers import exact_match, numeric

    one = nb.compare("What is 17 + 25? Answer with just the number.", targets, expected=42, scorers=[numeric()])
    assert one.scores.index.tolist() == [("p000", "numeric")] and bool(one.scores.notna().all(axis=None))
    by_text = nb.compare(list(ARITHMETIC)[:2], targets, expected={list(ARITHMETIC)[1]: 12}, scorers=exact_match())
    assert by_text.scores.index.tolist() == [("p000", "exact_match"), ("p001", "exact_match")]
    assert by_text.scores.loc["p000"].isna().all(axis=None)  # no expected answer: a missing score, with its reason
    assert all("no expected answer" in s["explanation"] for s in by_text.score_rows if s["prompt_id"] == "p000")
    assert nb.compare("Hi", targets).scores.empty  # nothing to score against


def test_compare_refuses_expected_answers_that_do_not_fit_before_calling(fresh_manager):
    with pytest.raises(ConfigError, match="a list of 3 answers"):
        nb.compare(list(ARITHMETIC), ["sim-openai"], expected=[42])
    with pytest.raises(ConfigError, match="prompts that were not given: nope"):
        nb.compare(list(ARITHMETIC), ["sim-openai"], expected={"nope": 1})
    with pytest.raises(ConfigError, match="closedpaw_nb.scorers"):
        nb.compare("Hi", ["sim-openai"], scorers=["exact"])


def test_unknown_target_is_clear(fresh_manager):
    with pytest.raises(ConfigError, match="unknown target"):
        nb.compare("x", ["sim-openai", "typo:model"])


def test_benchmark_and_resume_through_the_helpers(fresh_manager, tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run = nb.benchmark(["a", "b"], ["sim-openai", "sim-ollama"], trials=2, warmup=1, store=store, progress=False)
    assert len(run.df) == 2 + 2 * 2 * 2
    again = nb.resume(run.run_id, store=store, progress=False)
    assert len(again.df) == len(run.df)  # nothing was missing, nothing is added
    assert set(run.summary().index) == {"sim-openai:sim-small", "sim-ollama:sim-small"}
    assert "Simulated output (sim-ollama, sim-openai)" in run._repr_html_()


NOTEBOOK_CELLS = [
    "import closedpaw_nb.notebook as cp\nnames = cp.register(simulator=True)\nnames",
    "reply = cp.chat('Hello from a kernel', 'sim-openai:sim-small')\nprint(reply.completion_tokens)",
    "result = cp.compare('Hi', ['sim-openai', 'sim-anthropic'])\nresult",
    "import tempfile, os\nrun = cp.benchmark(['a'], ['sim-google'], trials=3, warmup=0, progress=True,\n"
    "                   store=os.path.join(tempfile.mkdtemp(), 'r.sqlite'))\nprint(len(run.df))",
]


@pytest.mark.slow  # starts an ipykernel
@pytest.mark.parametrize("nest", [False, True], ids=["plain", "nest_asyncio-applied"])
def test_helpers_inside_a_real_ipykernel(monkeypatch, nest):
    """Many users apply nest_asyncio for other libraries; our helpers must not care."""
    from nbclient import NotebookClient

    cells = (["import nest_asyncio\nnest_asyncio.apply()"] if nest else []) + NOTEBOOK_CELLS
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # The kernel is a child process: make sure it imports this checkout.
    monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = [c.outputs for c in notebook.cells][1 if nest else 0 :]
    assert outputs[1][0]["text"].strip() == "24"
    assert "sim-anthropic" in outputs[2][0]["data"]["text/html"]
    assert any(o.get("text", "").strip() == "3" for o in outputs[3])


def test_the_library_never_applies_nest_asyncio():
    from pathlib import Path

    import closedpaw_nb

    package = Path(closedpaw_nb.__file__).parent
    offenders = [p for p in package.rglob("*.py") if "nest_asyncio.apply" in p.read_text() and p.name != "_runner.py"]
    assert offenders == []
    runner_code = (package / "_runner.py").read_text()
    assert "import nest_asyncio" not in runner_code


def test_compare_keeps_the_order_prompts_and_targets_were_given(fresh_manager):
    prompts = {f"q{i}": f"prompt {i}" for i in (3, 1, 2)}
    result = nb.compare(prompts, ["sim-ollama", "sim-openai", "sim-google"])
    assert list(result.answers.index) == ["q3", "q1", "q2"]
    assert list(result.answers.columns) == ["sim-ollama:sim-small", "sim-openai:sim-small", "sim-google:sim-small"]


@pytest.mark.slow  # starts an ipykernel
def test_charts_render_in_a_kernel_without_matplotlib_inline(monkeypatch):
    """A bare Figure must show as an image, not as '<Figure size ...>' text."""
    from nbclient import NotebookClient

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("MPLBACKEND", "agg")  # as a kernel with no inline backend selected
    code = (
        "import pandas as pd\nfrom closedpaw_nb.bench import charts\n"
        "charts.error_rate_bars(pd.DataFrame({'target': ['a'], 'ok': [True], 'warmup': [False]}))"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    assert "image/png" in notebook.cells[0].outputs[0]["data"]


def test_register_without_arguments_registers_each_cloud_provider_with_a_key(monkeypatch):
    monkeypatch.setattr(manager_module, "_singleton", None)
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "MISTRAL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-register-0123456789")
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-test-register-0123456789abcdef")
    assert nb.register() == ["openai", "google"]  # the variables each provider class names
    assert nb.register() == []  # already there


def test_arena_from_a_result_a_run_id_or_prompts(fresh_manager, tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    targets = ["sim-openai:sim-small", "sim-openai:sim-large"]
    run = nb.benchmark(list(ARITHMETIC), targets, trials=1, warmup=0, store=store, progress=False)
    from_result = nb.arena(run)
    assert len(from_result.battle_list()) == len(ARITHMETIC)
    from_id = nb.arena(run.run_id, store=store)
    assert from_id.arena_id == from_result.arena_id
    with pytest.raises(ConfigError, match="no run 'nope'"):
        nb.arena("nope", store=store)
    fresh = nb.arena({"a": "What is 17 + 25? Answer with just the number."}, targets, store=store, progress=False)
    assert fresh.run_id != run.run_id and len(fresh.battle_list()) == 1
    judged = nb.arena(run, judge="sim-anthropic:sim-large")
    votes = judged.votes
    assert len(votes) == len(ARITHMETIC) and votes.voter.eq("judge:sim-anthropic:sim-large").all()
    assert votes.verdict.notna().all() and set(judged.ranking(rounds=100).target) == set(targets)


class Sleepy(BaseProvider):
    """Answers prompts with "quick" at once and the others after `delay` seconds."""

    delay = 60.0

    async def chat(self, messages, model=None, **kwargs):
        if "quick" not in messages[-1].content:
            await asyncio.sleep(Sleepy.delay)
        return ChatResponse("done", model or "m", self.name, latency_ms=1.0)


def _interrupt_soon(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))  # what Ctrl-C / a kernel interrupt sends
    timer.start()
    return timer


async def test_the_awaitable_runs_keep_last_run_as_the_blocking_ones_do(fresh_manager, tmp_path, monkeypatch):
    """abenchmark, aresume and aevaluate make `last_run()` the partial result while they run
    (and after a cancellation), then the finished one."""
    from closedpaw_nb.scorers import exact_match

    monkeypatch.setattr(nb, "_last_run", None)
    Sleepy.delay = 60.0
    nb.manager().register_provider(ProviderConfig("custom", name="sleepy", default_model="m"), provider_class=Sleepy)
    store = RunStore(tmp_path / "runs.sqlite")
    running = asyncio.ensure_future(
        nb.abenchmark(["quick one", "slow two"], ["sleepy"], trials=1, warmup=0, store=store, progress=False)
    )
    while nb.last_run() is None or len(store.rows(nb.last_run().run_id)) < 1:
        await asyncio.sleep(0.01)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    partial = nb.last_run()
    assert partial.df["prompt"].tolist() == ["quick one"]

    Sleepy.delay = 0.0
    finished = await nb.aresume(partial.run_id, store=store, progress=False)
    assert nb.last_run() is finished and sorted(finished.df["prompt"]) == ["quick one", "slow two"]
    scored = await nb.aevaluate(["quick one"], ["sleepy"], scorers=exact_match(), store=store, progress=False)
    assert nb.last_run() is scored and scored.run_id != partial.run_id


def test_an_interrupted_benchmark_says_how_to_resume_and_keeps_the_partial_result(fresh_manager, tmp_path):
    Sleepy.delay = 60.0
    nb.manager().register_provider(ProviderConfig("custom", name="sleepy", default_model="m"), provider_class=Sleepy)
    store = RunStore(tmp_path / "runs.sqlite")
    _interrupt_soon(1.0)
    with pytest.raises(nb.RunInterrupted) as caught:
        nb.benchmark(
            ["quick one", "slow two"], ["sleepy"], trials=1, warmup=0, store=store, progress=False, tags=["t1"]
        )
    run_id = caught.value.result.run_id
    message = str(caught.value)
    assert f"cp.resume({run_id!r}, store={store.path!r})" in message and "1 finished calls are kept" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no concurrent.futures chain
    assert isinstance(caught.value, KeyboardInterrupt)
    partial = nb.last_run()
    assert partial is caught.value.result and partial.df["prompt"].tolist() == ["quick one"]
    assert partial.manifest["tags"] == ["t1"]

    Sleepy.delay = 0.0
    finished = nb.resume(run_id, store=store, progress=False)
    assert sorted(finished.df["prompt"]) == ["quick one", "slow two"] and nb.last_run() is finished
    listed = nb.runs(store).set_index("run_id").loc[run_id]
    assert (listed["status"], listed["kind"], listed["rows"], listed["tags"]) == ("done", "benchmark", 2, ["t1"])
    assert listed["targets"] == ["sleepy:m"] and isinstance(listed["started"], pd.Timestamp)


def test_an_interrupted_evaluation_names_the_call_that_finishes_it(fresh_manager, tmp_path):
    from closedpaw_nb.scorers import exact_match

    Sleepy.delay = 60.0
    nb.manager().register_provider(ProviderConfig("custom", name="sleepy", default_model="m"), provider_class=Sleepy)
    store = RunStore(tmp_path / "runs.sqlite")
    items = [{"input": "quick one", "expected": "done"}, {"input": "slow two", "expected": "done"}]
    _interrupt_soon(1.0)
    with pytest.raises(KeyboardInterrupt, match="run_id='") as caught:
        nb.evaluate(items, ["sleepy"], scorers=[exact_match()], store=store, progress=False)
    run_id = caught.value.result.run_id
    Sleepy.delay = 0.0
    finished = nb.evaluate(items, ["sleepy"], scorers=[exact_match()], store=store, run_id=run_id, progress=False)
    assert finished.df["exact_match"].tolist() == [1.0, 1.0] and nb.runs(store)["kind"].tolist() == ["evaluation"]


@pytest.mark.parametrize("kind", ["csv", "json", "parquet"])
def test_results_read_back_as_they_were_written(fresh_manager, tmp_path, kind):
    store = RunStore(tmp_path / "runs.sqlite")
    run = nb.benchmark({"007": "a", "b": "b"}, ["sim-openai", "sim-google"], trials=2, store=store, progress=False)
    written = run.df
    assert written["status_code"].isna().all()  # the column that used to come back as float64
    back = nb.read_results(getattr(run, f"to_{kind}")(tmp_path / f"results.{kind}"))
    assert back.dtypes.equals(written.dtypes) and back.equals(written)
    assert back.attrs["manifest"]["run_id"] == run.run_id and "007" in set(back["prompt_id"])


def test_read_results_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(ConfigError, match="no results file"):
        nb.read_results(tmp_path / "missing.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="not a results table: no target, trial, ok, attempts"):
        nb.read_results(tmp_path / "other.csv")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ConfigError, match="reads .csv, .json or .parquet"):
        nb.read_results(tmp_path / "notes.txt")
    from closedpaw_nb.bench.files import read_results

    with pytest.raises(ConfigError, match="over max_bytes=3"):
        read_results(tmp_path / "other.csv", max_bytes=3)


def test_a_target_without_a_model_fails_alone_and_says_which_models_to_pick(fresh_manager, tmp_path):
    nb.register("openai", name="nodefault", api_key="sim-key", base_url=nb._sim_server.base_url("openai"))
    result = nb.compare("hi", ["ollama", "sim-openai", "nodefault"])
    rows = result.df.set_index("target")
    assert bool(rows.loc["sim-openai:sim-small", "ok"])  # the others finish
    assert rows.loc["nodefault:(no model)", "error_type"] == "MissingModelError"
    assert rows.loc["nodefault:(no model)", "error"] == (
        "Choose a model for nodefault: it has no default model. "
        'Its models: sim-small, sim-large (as "nodefault:sim-small").'
    )
    assert "it is not running: nothing answers at its address" in rows.loc["ollama:(no model)", "error"]
    store = RunStore(tmp_path / "runs.sqlite")
    run = nb.benchmark("hi", ["ollama", "sim-openai"], trials=2, warmup=1, store=store, progress=False)
    by_target = run.df.groupby("target")["ok"].agg(["sum", "size"])
    assert by_target.loc["sim-openai:sim-small"].tolist() == [3, 3] and by_target.loc["ollama:(no model)"].tolist() == [
        0,
        3,
    ]
    again = nb.resume(run.run_id, store=store, progress=False)  # the manifest's "ollama:(no model)" reads back
    assert len(again.df) == len(run.df)
    assert nb.health().set_index("provider").loc["ollama", "status"] == "not_running"
