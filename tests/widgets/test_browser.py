"""The panels in a real browser: JupyterLab on 127.0.0.1, Debian's Chromium driven by Playwright.

A person's session: open a notebook that displays `app()`, register a simulator provider
through the form (the key is the canary), compare two models, check health, run a small
benchmark, rank the two models on the first items of the shipped question set, vote blind
on their answers in the arena (by click and by key), save. The
answers must appear in the page; the saved .ipynb, with its widget state, must not contain
the key. Screenshots of each panel go to
test-artifacts/screenshots/ at the repo root.

Set CLOSEDPAW_SKIP_BROWSER=1 to skip; otherwise a missing browser or JupyterLab fails.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest

from ._lab import ROOT, running_lab

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "screenshots"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PROMPT = "Why is the sky blue?"
MAX_TOKENS = 30
LEADERBOARD_ITEMS = 12  # the first items of the shipped "basic" set: a few seconds on the slowed simulator
SETUP = (
    "from closedpaw_nb.sim import Simulator, start_server\n"
    "from closedpaw_nb.widgets import app\n"
    "sim = start_server(simulator=Simulator(time_scale=3))  # slower than a real model: visible streaming\n"
    "print('SIM_OPENAI_URL=' + sim.base_url('openai'))\n"
    "app()"
)
MS = 1000
KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}}


def _require_tools() -> None:
    if os.environ.get("CLOSEDPAW_SKIP_BROWSER") == "1":
        pytest.skip("CLOSEDPAW_SKIP_BROWSER=1")
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append("Debian's Chromium (apt-get update && apt-get install -y chromium)")
    for module, package in (("playwright.sync_api", "playwright"), ("jupyterlab", "jupyterlab")):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"pip install {package}")
    if missing:
        pytest.fail("the browser test needs: " + "; ".join(missing) + " (or set CLOSEDPAW_SKIP_BROWSER=1)")


def expected_answers(targets: list[str]) -> dict[str, str]:
    """What the simulator answers for PROMPT (deterministic), from a simulator of our own."""
    from closedpaw_nb import _runner
    from closedpaw_nb.config import ProviderConfig
    from closedpaw_nb.manager import ProviderManager
    from closedpaw_nb.sim import Simulator, serve_in_thread

    with serve_in_thread(simulator=Simulator(time_scale=0)) as sim:
        mgr = ProviderManager()
        mgr.register_provider(
            ProviderConfig("openai", name="sim", api_key="sk-reference-0000000000", base_url=sim.base_url("openai"))
        )
        options = dict(temperature=0.7, max_tokens=MAX_TOKENS)  # the panel's defaults, and the test's max
        try:
            return {t: _runner.run(mgr.chat(PROMPT, "sim", t.split(":")[1], **options)).content for t in targets}
        finally:
            _runner.run(mgr.close_all())


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_browser_session(tmp_path, canary):
    _require_tools()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP)], metadata=KERNEL)
    with running_lab(tmp_path) as lab:
        nbformat.write(notebook, lab.root / "panels.ipynb")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(60 * MS)
                _open_and_run(page, lab.page("panels.ipynb"))
                _register(page, canary)
                answers = _compare(page)
                _health(page)
                _benchmark(page)
                _leaderboard(page)
                _arena(page)
                saved = _save(page, lab.root / "panels.ipynb")
            finally:
                browser.close()
    assert canary not in saved, "the saved notebook contains the API key"
    state = json.loads(saved)["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]
    assert any(a[:40] in json.dumps(state) for a in answers.values()), "widget state was not saved"


def _open_and_run(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
    )
    page.evaluate("""async () => {
        const panel = window.jupyterapp.shell.currentWidget;
        await panel.context.ready;
        await panel.sessionContext.ready;
        await window.jupyterapp.commands.execute('notebook:run-all-cells');
    }""")
    page.locator(".cpnb-app").wait_for(state="visible")


def _tab(page, title: str) -> None:
    page.locator(".cpnb-app .lm-TabBar-tab", has_text=title).click()


def _register(page, canary: str) -> None:
    url = page.locator(".jp-OutputArea-output pre", has_text="SIM_OPENAI_URL=").inner_text().split("=", 1)[1].strip()
    page.locator(".cpnb-type select").select_option(label="OpenAI")
    page.locator(".cpnb-name input").fill("sim")
    page.locator(".cpnb-url input").fill(url)
    page.locator(".cpnb-key input").fill(canary)
    page.locator(".cpnb-test").click()
    page.locator(".cpnb-registration .cpnb-status", has_text="Connection ok").wait_for()
    assert page.locator(".cpnb-key input").input_value() == ""  # held in kernel memory for Register
    page.locator(".cpnb-register").click()
    page.locator(".cpnb-providers", has_text="ok (").wait_for()
    assert page.locator(".cpnb-key input").input_value() == ""
    assert "sim" in page.locator(".cpnb-providers").inner_text()
    page.locator(".cpnb-registration").screenshot(path=SHOTS / "1-providers.png")


def _compare(page) -> dict[str, str]:
    targets = ["sim:sim-small", "sim:sim-large"]
    expected = expected_answers(targets)
    _tab(page, "Compare")
    page.locator(".cpnb-prompt textarea").fill(PROMPT)
    page.locator(".cpnb-max-tokens input").fill(str(MAX_TOKENS))
    page.locator(".cpnb-max-tokens input").press("Enter")
    # Scored against the small model's opening words: its pane shows a tick, the other a cross.
    page.locator(".cpnb-expected input").fill(" ".join(expected["sim:sim-small"].split()[:4]))
    _select_then_run(page, ".cpnb-comparison", ".cpnb-targets", targets, ".cpnb-run")
    # Usually caught mid-stream (the notebook's simulator is slowed down); done is fine too.
    page.locator(".cpnb-column .cpnb-streaming, .cpnb-column .cpnb-done").first.wait_for()
    page.locator(".cpnb-comparison").screenshot(path=SHOTS / "2-compare-streaming.png")
    page.wait_for_function("() => document.querySelectorAll('.cpnb-column .cpnb-done').length === 2")
    shown = " ".join(page.locator(".cpnb-comparison .cpnb-answer").all_inner_texts()).split()
    for answer in expected.values():
        assert " ".join(answer.split()) in " ".join(shown), f"answer not shown in the page: {answer!r}"
    page.locator(".cpnb-comparison .cpnb-status", has_text="Score by includes").wait_for()
    scores = page.locator(".cpnb-comparison .cpnb-score").all_inner_texts()
    assert len(scores) == 2 and scores[0].startswith("✓ 1 · includes") and scores[1].startswith("✗ 0"), scores
    page.locator(".cpnb-comparison").screenshot(path=SHOTS / "3-compare-done.png")
    return expected


def _health(page) -> None:
    _tab(page, "Health")
    page.locator(".cpnb-check").click()
    page.locator(".cpnb-health .cpnb-status", has_text="check #1").wait_for()
    page.locator(".cpnb-check").click()  # the chart needs two points in time
    page.locator(".cpnb-health-chart img").wait_for()
    table = page.locator(".cpnb-health-table").inner_text()
    assert "sim" in table and "ollama" in table and "not_running" in table
    page.locator(".cpnb-health").screenshot(path=SHOTS / "4-health.png")


def _benchmark(page) -> None:
    _tab(page, "Benchmark")
    page.locator(".cpnb-bench-prompts textarea").fill(
        "What is 17 + 25? Answer with just the number.\nWhat is 144 divided by 12? Answer with just the number."
    )
    _select_then_run(
        page, ".cpnb-benchmark", ".cpnb-bench-targets", ["sim:sim-small", "sim:sim-large"], ".cpnb-bench-run"
    )
    page.locator(".cpnb-summary table").wait_for()
    page.locator(".cpnb-benchmark .widget-output img").wait_for()
    assert "ok 14" in page.locator(".cpnb-counts").inner_text()
    page.locator(".cpnb-csv").click()
    page.locator(".cpnb-exported", has_text=".csv").wait_for()
    page.locator(".cpnb-bench-expected textarea").fill("42\n12")
    page.locator(".cpnb-bench-scorer select").select_option(label="numeric")
    page.locator(".cpnb-bench-score").click()
    page.locator(".cpnb-bench-scores table").wait_for()
    assert "numeric_ci_low" in page.locator(".cpnb-bench-scores").inner_text()
    page.set_viewport_size({"width": 1400, "height": 1700})
    page.locator(".cpnb-benchmark").screenshot(path=SHOTS / "5-benchmark.png")
    page.set_viewport_size({"width": 1400, "height": 1000})


def _leaderboard(page) -> None:
    _tab(page, "Leaderboard")
    page.locator(".cpnb-lb-limit input").fill(str(LEADERBOARD_ITEMS))
    page.locator(".cpnb-lb-limit input").press("Enter")
    _select_then_run(page, ".cpnb-leaderboard", ".cpnb-lb-targets", ["sim:sim-small", "sim:sim-large"], ".cpnb-lb-run")
    page.locator(".cpnb-lb-table table").wait_for()
    page.locator(".cpnb-lb-chart img").wait_for()
    assert f"ok {2 * LEADERBOARD_ITEMS}" in page.locator(".cpnb-lb-counts").inner_text()
    table = page.locator(".cpnb-lb-table").inner_text()
    assert "sim:sim-small" in table and "sim:sim-large" in table and "correct_ci_low" in table
    page.locator(".cpnb-leaderboard .cpnb-status", has_text="finished").wait_for()
    page.locator(".cpnb-lb-board-csv").click()
    page.locator(".cpnb-lb-exported", has_text=".leaderboard.csv").wait_for()
    page.set_viewport_size({"width": 1400, "height": 1700})  # the whole panel, chart included
    page.locator(".cpnb-leaderboard").screenshot(path=SHOTS / "6-leaderboard.png")
    page.set_viewport_size({"width": 1400, "height": 1000})


def _arena(page) -> None:
    _tab(page, "Arena")  # lists the runs: the leaderboard's, the newest, is selected
    assert page.locator(".cpnb-arena-run select option").count() >= 2  # the benchmark's and the leaderboard's
    page.locator(".cpnb-arena-open").click()
    progress = page.locator(".cpnb-arena-progress")
    progress.filter(has_text=f"0 of {LEADERBOARD_ITEMS} voted by you").wait_for()
    panel, reveal = page.locator(".cpnb-arena"), page.locator(".cpnb-arena-reveal")
    cells = page.locator(".jp-Notebook .jp-Cell").count()

    def blind() -> None:
        text = panel.inner_text()
        assert "sim:sim-small" not in text and "sim:sim-large" not in text, "targets shown before the vote"

    blind()
    page.locator(".cpnb-arena-a").click()
    reveal.filter(has_text="you chose A").wait_for()
    assert "A was sim:sim-" in reveal.inner_text() and "B was sim:sim-" in reveal.inner_text()
    # The keys: ipyevents listens while the mouse is over the voting area (no click needed).
    page.locator(".cpnb-arena-voting").hover()
    page.keyboard.press("n")
    progress.filter(has_text=f"1 of {LEADERBOARD_ITEMS} voted by you").wait_for()
    page.wait_for_function("() => !document.querySelector('.cpnb-arena-reveal').innerText.trim()")
    blind()
    page.keyboard.press("b")
    reveal.filter(has_text="you chose B").wait_for()
    progress.filter(has_text=f"2 of {LEADERBOARD_ITEMS} voted by you").wait_for()
    assert page.locator(".jp-Notebook .jp-Cell").count() == cells, "the key reached JupyterLab (a cell was added)"
    page.locator(".cpnb-arena-rank").click()
    page.locator(".cpnb-arena-table table").wait_for()
    page.locator(".cpnb-arena-chart img").wait_for()
    table = page.locator(".cpnb-arena-table").inner_text()
    assert "sim:sim-small" in table and "sim:sim-large" in table and "elo_ci_low" in table
    page.set_viewport_size({"width": 1400, "height": 1700})  # the whole panel, heatmap included
    panel.screenshot(path=SHOTS / "7-arena.png")
    page.set_viewport_size({"width": 1400, "height": 1000})


def _select_then_run(page, panel: str, targets: str, labels: list[str], run: str) -> None:
    """Select the targets, then press Run. On a loaded machine the click can reach the kernel
    before the selection does, and the panel answers "pick at least one target": select again
    and press again (what a person would do), at most three times."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        page.locator(f"{targets} select").select_option(label=labels)
        page.locator(run).click()
        try:
            page.locator(f"{panel} .cpnb-status", has_text="pick at least one target").wait_for(timeout=1500)
        except PlaywrightTimeout:
            return  # started
    raise AssertionError(f"{panel}: the kernel never saw the selected targets")


def _save(page, path: Path) -> str:
    before = path.stat().st_mtime_ns
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.stat().st_mtime_ns != before and "widget-state" in (text := path.read_text()):
            page.screenshot(path=SHOTS / "8-notebook.png", full_page=True)
            return text
        time.sleep(0.2)
    raise AssertionError("the notebook was not saved with its widget state")
