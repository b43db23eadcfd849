"""`python -m closedpaw_nb demo`: the table is printed and the chart goes to the output folder,
never the current (notebooks) folder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from closedpaw_nb.bench.store import default_output_dir


@pytest.mark.slow  # a subprocess starting the simulator
def test_the_demo_writes_its_chart_to_the_output_folder(tmp_path):
    out, cwd = tmp_path / "out", tmp_path / "notebooks"
    cwd.mkdir()
    env = {**os.environ, "CLOSEDPAW_OUTPUT_DIR": str(out)}
    done = subprocess.run(
        [sys.executable, "-m", "closedpaw_nb", "demo"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    chart = out / "closedpaw-demo.png"
    assert chart.read_bytes().startswith(b"\x89PNG") and f"Chart: {chart}" in done.stdout
    assert "sim-large" in done.stdout and list(cwd.iterdir()) == []


def test_the_output_folder_is_documented_and_settable(monkeypatch, tmp_path):
    monkeypatch.delenv("CLOSEDPAW_OUTPUT_DIR", raising=False)
    assert default_output_dir().name == "closedpaw_nb"  # in the documents folder platformdirs names
    monkeypatch.setenv("CLOSEDPAW_OUTPUT_DIR", str(tmp_path))
    assert default_output_dir() == tmp_path
