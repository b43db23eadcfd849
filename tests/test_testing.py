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


# -- capabilities a provider declares ------------------------------------------------------


class Capable(BaseProvider):
    """Declares everything and does it: JSON for a format, a call when one is required."""

    capabilities = frozenset({"text", "images", "structured", "tools"})

    async def chat(self, messages, model=None, response_format=None, tools=(), tool_choice=None, **kwargs):
        from closedpaw_nb.tools import ToolCall

        calls = []
        if tool_choice is not None and tool_choice.mode == "required":
            calls = [ToolCall("call_1", tools[0].name, {"name": "red"})]
        text = '{"colour": "red"}' if response_format is not None else "" if calls else "red, yellow, blue"
        reason = "tool_calls" if calls else "stop"
        return ChatResponse(text, model or "m", self.name, latency_ms=1.0, finish_reason=reason, tool_calls=calls)

    async def list_models(self):
        return ["m"]


class Pretender(Capable):
    """Declares tools and structured output but answers in plain text only."""

    async def chat(self, messages, model=None, **kwargs):
        return ChatResponse("red", model or "m", self.name, latency_ms=1.0, finish_reason="stop")


async def test_declared_capabilities_are_checked_and_undeclared_ones_skipped():
    config = ProviderConfig("custom", name="capable", default_model="m")
    report = await acheck_provider(Capable(config), missing_model=None)
    names = {c.name: c for c in report.checks}
    assert report.passed
    assert names["capabilities declared"].detail == "images, structured, text, tools"
    assert names["tools: tool_choice='required' gives ToolCalls"].detail.startswith("get_colour_code({'name': 'red'})")
    assert "parsed {'colour': 'red'}" in names["structured: a simple schema fills parsed"].detail

    class TextOnly(Capable):
        capabilities = frozenset({"text"})

    report = await acheck_provider(TextOnly(config), missing_model=None)
    skipped = [c for c in report.checks if c.skipped]
    assert len(skipped) == 3 and all("not declared" in c.detail for c in skipped)
    assert "[skip] images: an image part is answered: skipped: not declared" in str(report)


async def test_a_provider_that_does_not_do_what_it_declares_fails_by_name():
    with pytest.raises(ProviderContractError) as caught:
        await acheck_provider(Pretender(ProviderConfig("custom", name="p", default_model="m")), missing_model=None)
    text = str(caught.value)
    assert "[FAIL] tools: tool_choice='required' gives ToolCalls: chat: tool_calls is empty" in text
    assert "[FAIL] structured: a simple schema fills parsed: chat: parsed is None" in text
    assert "[ok] images: an image part is answered" in text

    class Unknown(Capable):
        capabilities = frozenset({"text", "video"})

    report = await acheck_provider(
        Unknown(ProviderConfig("custom", name="u", default_model="m")), raise_on_failure=False, missing_model=None
    )
    assert [c.name for c in report.failures] == ["capabilities declared"]
