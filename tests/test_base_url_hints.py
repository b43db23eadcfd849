"""A wrong base URL says so: registration warns when it follows another SDK's convention, and
a 404 on a path the API certainly has names the URL requested and the likely fix."""

from __future__ import annotations

import pytest

from closedpaw_nb import ProviderConfig, ProviderManager
from closedpaw_nb import _runner as runner
from closedpaw_nb.errors import NotFoundError
from closedpaw_nb.manager import BaseURLWarning
from closedpaw_nb.providers import provider_class
from closedpaw_nb.widgets import RegistrationPanel

KEY = "sk-test-key-0123456789"


@pytest.mark.parametrize(
    "ptype, wrong, fixed",
    [
        ("anthropic", "{anthropic}/v1", "{anthropic}"),  # the OpenAI SDK's habit on Anthropic
        ("openai", "{openai_root}", "{openai_root}/v1"),  # the Anthropic SDK's habit on OpenAI
        ("mistral", "{mistral}/v1", "{mistral}"),
        ("google", "{google}/v1beta", "{google}"),
        ("ollama", "{ollama}/v1", "{ollama}"),
    ],
)
def test_a_404_names_the_url_and_the_fix_and_registration_warns(sim, ptype, wrong, fixed):
    urls = {p: sim.base_url(p) for p in ("anthropic", "openai", "mistral", "google", "ollama")}
    urls["openai_root"] = urls["openai"].removesuffix("/v1")
    base, fix = wrong.format(**urls), fixed.format(**urls)
    manager = ProviderManager()
    with pytest.warns(BaseURLWarning, match=f"try {fix}"):
        manager.register_provider(
            ProviderConfig(ptype, name="p", api_key=KEY, base_url=base, default_model="sim-small")
        )
    with pytest.raises(NotFoundError) as caught:
        runner.run(manager.chat("hi", "p"))
    message = str(caught.value)
    assert f"[requested POST {base}/" in message and f"try {fix}" in message, message
    assert KEY not in message
    runner.run(manager.close_all())


def test_the_right_base_urls_get_no_advice():
    for ptype in ("openai", "anthropic", "google", "mistral", "ollama"):
        cls = provider_class(ptype)
        assert cls.base_url_advice(cls.official_base_url()) is None and cls.base_url_advice(None) is None
    assert provider_class("custom").base_url_advice("http://gateway/v1") is None


def test_the_registration_panel_advises_and_asks_before_registering_a_failed_key(sim, canary):
    manager = ProviderManager()
    panel = RegistrationPanel(manager)
    panel.provider_type.value, panel.name.value = "anthropic", "claude"
    panel.base_url.value, panel.api_key.value = sim.base_url("anthropic") + "/v1", canary
    panel.test_button.click()
    panel.wait()
    error = panel.errors["form"]
    assert "Connection failed" in error and f"try {sim.base_url('anthropic')}" in error and canary not in error
    panel.register_button.click()  # first press: asks, keeps the key, registers nothing
    assert "Press Register again" in panel.status and manager.names == [] and panel._held_key == canary
    panel.register_button.click()
    panel.wait()
    assert manager.names == ["claude"] and "Note: provider 'claude': the base URL ends in /v1" in panel.status
    assert manager.get_provider("claude").config.api_key.reveal() == canary
    runner.run(manager.close_all())
