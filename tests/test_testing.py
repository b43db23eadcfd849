"""The contract check (`closedpaw_nb.testing`) is a table of named checks that still checks
under `python -O`, and its error lists every failed check with what was expected."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from closedpaw_nb import ChatResponse, ProviderConfig
from closedpaw_nb.providers import BaseProvider
from closedpaw_nb.testing import ProviderContractError, acheck_provider


class Sloppy(BaseProvider):
    """Three mistakes at once: no latency, the wrong provider name, no models."""

    async def chat(self, messages, model=None, **kwargs):
        return ChatResponse(content="hi", model="m", provider="someone-else")


async def test_the_error_lists_every_failed_check_with_what_was_expected():
    with pytest.raises(ProviderContractError) as caught:
        await acheck_provider(Sloppy(ProviderConfig("custom", name="sloppy", default_model="m")))
    text = str(caught.value)
    assert "[FAIL] chat returns a ChatResponse: response.provider is 'someone-else', not 'sloppy'" in text
    assert "[FAIL] list_models returns model ids: list_models() returned no models" in text
    assert "[FAIL] errors are ProviderErrors (unknown model)" in text
    assert "[ok] constructed with super().__init__(config)" in text


def test_checks_still_fail_under_python_dash_O(tmp_path):
    script = tmp_path / "contract.py"
    script.write_text(
        textwrap.dedent("""
        import closedpaw_nb._runner as runner
        from closedpaw_nb import ChatResponse, ProviderConfig
        from closedpaw_nb.providers import BaseProvider
        from closedpaw_nb.testing import acheck_provider

        class Sloppy(BaseProvider):
            async def chat(self, messages, model=None, **kwargs):
                return ChatResponse(content="hi", model="m", provider="someone-else")

        report = runner.run(acheck_provider(Sloppy(ProviderConfig("custom", name="s", default_model="m")),
                                            raise_on_failure=False))
        assert False, "asserts are off under -O, so this line does nothing"
        print(sorted(c.name for c in report.failures))
    """)
    )
    out = subprocess.run([sys.executable, "-O", str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "chat returns a ChatResponse" in out.stdout and "list_models returns model ids" in out.stdout
