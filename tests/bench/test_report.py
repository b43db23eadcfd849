"""Shareable reports: one self-contained HTML file per result, with no key in it, that a real
browser renders (tables, embedded charts) without Jupyter."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from closedpaw_nb import _runner as runner
from closedpaw_nb.bench.run import run_benchmark
from closedpaw_nb.bench.store import RunStore
from closedpaw_nb.evals.run import run_evaluation
from closedpaw_nb.manager import ProviderManager
from closedpaw_nb.scorers import numeric
from conftest import sim_config

QUESTIONS = [
    {"id": "arithmetic-01", "input": "What is 17 + 25? Answer with just the number.", "expected": 42, "category": "a"},
    {"id": "arithmetic-02", "input": "What is 144 divided by 12? Answer with just the number.", "expected": 12},
]


@pytest.fixture
def reports(sim, canary, tmp_path):
    manager = ProviderManager()
    manager.register_provider(sim_config(sim, "openai", key=canary, models=["sim-small", "sim-large"]))
    manager.register_provider(sim_config(sim, "google", key=canary, settings={"simulated": True}))
    store = RunStore(tmp_path / "runs.sqlite")
    targets = ["openai:sim-small", "openai:sim-large", "google:sim-small"]
    bench = runner.run(run_benchmark(manager, ["hello", "why?"], targets, trials=2, warmup=0, store=store))
    evaluation = runner.run(run_evaluation(manager, QUESTIONS, targets, scorers=[numeric()], store=store))
    yield {
        "benchmark": bench.to_html(tmp_path / "benchmark.html"),
        "evaluation": evaluation.to_html(tmp_path / "evaluation.html"),
    }
    runner.run(manager.close_all())
    store.close()


def test_reports_hold_tables_charts_and_the_manifest_but_no_key(reports, canary):
    bench, evaluation = (reports[k].read_text() for k in ("benchmark", "evaluation"))
    assert bench.startswith("<!DOCTYPE html>") and "latency_p50_ms" in bench and "openai:sim-large" in bench
    assert bench.count('src="data:image/png;base64,') == 3 and "<h2>Manifest</h2>" in bench
    assert "Simulated output (google)" in bench and "Simulated output" in evaluation
    assert "numeric_ci_low" in evaluation and "Per category" in evaluation and "data:image/png" in evaluation
    for text in (bench, evaluation):
        assert canary not in text and canary[-8:] not in text


def test_a_compare_report(sim, canary, tmp_path, monkeypatch):
    import closedpaw_nb.manager as manager_module
    from closedpaw_nb import notebook as nb

    monkeypatch.setattr(manager_module, "_singleton", None)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    nb.manager().register_provider(sim_config(sim, "anthropic", key=canary))
    result = nb.compare("Line one?\nLine two?", ["anthropic"], expected="sky")
    text = result.to_html(tmp_path / "compare.html").read_text()
    assert "<caption>Answers</caption>" in text and "Line one?" in text and canary not in text
    runner.run(nb.manager().close_all())


@pytest.mark.slow  # a real browser
def test_a_report_opens_in_a_real_browser_without_jupyter(reports):
    from tests.widgets.test_browser import CHROMIUM, FLAGS

    if os.environ.get("CLOSEDPAW_SKIP_BROWSER") == "1" or not Path(CHROMIUM).exists():
        pytest.skip("no Chromium (or CLOSEDPAW_SKIP_BROWSER=1)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page()
            for kind, path in reports.items():
                page.goto(path.as_uri())
                assert page.title().lower().startswith(kind)
                widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
                assert widths and all(w > 100 for w in widths), widths  # the embedded PNGs decode
                assert page.locator("h2", has_text="Manifest").count() == 1
                assert page.locator("table").count() >= 1
        finally:
            browser.close()
