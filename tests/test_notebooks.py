"""The example notebooks as files: stored clean, checked where deterministic, and a broken
cell fails the nbval run. (nbval itself runs every notebook: pytest collects notebooks/.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = [
    "01_quickstart",
    "02_compare_models",
    "03_latency_benchmark",
    "04_health_dashboard",
    "05_custom_provider",
    "06_keys_and_vault",
    "07_evaluate",
    "08_arena",
    "09_structured_and_tools",
    "10_app_tour",
]
CHECK = "# NBVAL_CHECK_OUTPUT"


def load(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def code_cells(name: str) -> list[nbformat.NotebookNode]:
    return [c for c in load(name).cells if c.cell_type == "code"]


def test_every_example_notebook_is_there():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == EXPECTED
    assert (NOTEBOOKS / "nbval_sanitize.cfg").is_file()


@pytest.mark.parametrize("name", EXPECTED)
def test_stored_without_outputs_except_checked_cells(name):
    for cell in code_cells(name):
        if cell.source.lstrip().startswith(CHECK):
            # nbval compares only cells that look run: an execution count and the expected text
            assert cell.execution_count is not None and cell.outputs, cell.source
            assert all(o.output_type == "stream" for o in cell.outputs), "checked cells print plain text"
        else:
            assert not cell.outputs and cell.execution_count is None, f"output left in: {cell.source[:60]!r}"
    assert (NOTEBOOKS / f"{name}.ipynb").stat().st_size < 32_000
    nbformat.validate(load(name))


@pytest.mark.parametrize("name", EXPECTED)
def test_checks_something_and_says_what_it_used(name):
    sources = [c.source for c in code_cells(name)]
    assert any(s.lstrip().startswith(CHECK) for s in sources)
    text = "\n".join(sources)
    if name != "06_keys_and_vault":  # 06 is about keys: simulator only, no model calls worth comparing
        assert "local.start_if_available()" in text and 'print("local model:' in text
        assert "lm.stop()" in text
    assert "cp.register(simulator=True)" in text


@pytest.mark.parametrize("name", EXPECTED)
def test_runs_write_only_to_temporary_folders(name):
    text = "\n".join(c.source for c in code_cells(name))
    for call in re.findall(r"cp\.a?benchmark\([^)]*\)", text, re.DOTALL):
        assert "store=" in call, f"{name}: {call!r} would write to the user data folder"
    assert "mkdtemp" in text or "store=" not in text


@pytest.mark.slow  # nbval runs a notebook in a kernel
def test_a_broken_cell_fails_the_nbval_run(tmp_path):
    broken = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("x = 1"),
            nbformat.v4.new_code_cell("raise RuntimeError('broken on purpose')"),
        ]
    )
    nbformat.write(broken, tmp_path / "broken.ipynb")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-c",
            str(tmp_path / "pytest.ini"),
            "--rootdir",
            str(tmp_path),
            "--nbval-lax",
            "--nbval-current-env",
            str(tmp_path / "broken.ipynb"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 1, run.stdout[-2000:]
    assert "1 failed, 1 passed" in run.stdout
    assert "broken on purpose" in run.stdout
