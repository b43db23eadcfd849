"""RegistrationPanel driven like a user: set values, click buttons, read the panel."""

from __future__ import annotations

import pytest

from closedpaw_nb import _runner
from closedpaw_nb.config import ProviderConfig
from closedpaw_nb.manager import ProviderManager
from closedpaw_nb.sim import Fault
from closedpaw_nb.widgets import RegistrationPanel

from ._helpers import KEY, all_widget_state


@pytest.fixture(autouse=True)
def _no_env_keys(monkeypatch):
    for var in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "MISTRAL_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "OLLAMA_HOST",
    ):
        monkeypatch.delenv(var, raising=False)


def fill(panel, sim, ptype="openai", name="", key=KEY, model="sim-small"):
    panel.provider_type.value = ptype
    panel.name.value = name
    panel.base_url.value = sim.base_url(ptype)
    panel.api_key.value = key
    panel.default_model.value = model


def test_type_prefills_base_url_and_shows_only_needed_fields(manager):
    panel = RegistrationPanel(manager)
    assert panel.base_url.value == "https://api.openai.com/v1"
    assert panel.fields.rows["api_key"].layout.display == ""
    panel.provider_type.value = "ollama"
    assert panel.base_url.value == "http://127.0.0.1:11434"
    assert panel.fields.rows["api_key"].layout.display == "none"  # Ollama needs no key field
    panel.provider_type.value = "custom"
    assert panel.base_url.value == "" and "required" in panel.base_url.placeholder
    assert panel.fields.rows["api_key"].layout.display == "" and panel.api_key.placeholder == "optional"
    panel.base_url.value = "http://127.0.0.1:8080/v1"
    panel.provider_type.value = "mistral"  # a URL the user typed is kept
    assert panel.base_url.value == "http://127.0.0.1:8080/v1"
    assert "never saved in the notebook" in panel.fields.key_note.value


def test_register_consumes_the_key_and_lists_the_provider(sim, manager, canary):
    panel = RegistrationPanel(manager)
    fill(panel, sim, name="sim", key=canary)
    panel.register_button.click()
    assert panel.api_key.value == ""  # emptied in the click itself, before any background work
    panel.wait()
    assert panel.error == "" and "not kept in the form" in panel.status
    assert "sim" in manager and manager.get_provider("sim").config.api_key.reveal() == canary
    row = panel.providers.set_index("name").loc["sim"]
    assert (row["type"], row["key"], row["default_model"]) == ("openai", "yes", "sim-small")
    assert row["health"].startswith("ok")
    assert canary not in all_widget_state()
    assert canary not in panel.providers.to_string() and canary not in panel.status
    assert panel.name.value == "" and panel.default_model.value == ""  # ready for the next one


def test_missing_key_is_an_inline_error_and_nothing_is_registered(sim, manager):
    panel = RegistrationPanel(manager)
    fill(panel, sim, key="")
    assert panel.register() is False
    assert "needs an API key" in panel.errors["api_key"] and "OPENAI_API_KEY" in panel.errors["api_key"]
    assert "needs an API key" in panel.hints["api_key"].value
    assert len(manager) == 0


def test_key_from_the_environment_is_enough(sim, manager, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    panel = RegistrationPanel(manager)
    assert "$OPENAI_API_KEY" in panel.fields.key_note.value
    fill(panel, sim, key="")
    panel.register_button.click()
    panel.wait()
    assert panel.error == "" and panel.providers.loc[0, "key"] == "yes"


def test_bad_url_clears_the_key_and_says_so(sim, manager, canary):
    panel = RegistrationPanel(manager)
    fill(panel, sim, key=canary)
    panel.base_url.value = "ftp://example"
    panel.register_button.click()
    assert panel.api_key.value == ""
    assert "not an http(s) URL" in panel.errors["base_url"] and "paste it again" in panel.status
    assert len(manager) == 0 and canary not in all_widget_state()


def test_custom_type_requires_a_base_url(manager):
    panel = RegistrationPanel(manager)
    panel.provider_type.value = "custom"
    panel.register_button.click()
    assert "required" in panel.errors["base_url"] and len(manager) == 0


def test_duplicate_and_malformed_names_are_refused(sim, manager):
    manager.register_provider(ProviderConfig("openai", name="taken", api_key=KEY, base_url=sim.base_url("openai")))
    panel = RegistrationPanel(manager)
    fill(panel, sim, name="taken", key="sk-other-key-000000000")
    panel.register_button.click()
    assert "already registered" in panel.errors["name"] and panel.api_key.value == ""
    assert manager.get_provider("taken").config.api_key.reveal() == KEY  # untouched
    fill(panel, sim, name="a:b")
    panel.register_button.click()
    assert "cannot contain ':'" in panel.errors["name"] and manager.names == ["taken"]


def test_bad_limits_are_refused(sim, manager):
    panel = RegistrationPanel(manager)
    fill(panel, sim)
    panel.form.timeout = 0.0
    assert panel.register() is False and "timeout" in panel.errors["limits"]


def test_manager_errors_land_on_the_right_field(sim, manager):
    manager.key_lookup = lambda name: None  # a lookup that finds nothing: the manager says so
    panel = RegistrationPanel(manager)
    fill(panel, sim, key="")
    panel.register_button.click()
    panel.wait()
    assert "needs an API key" in panel.errors["api_key"] and len(manager) == 0


def test_connection_test_lists_models_and_registers_nothing(sim, manager):
    panel = RegistrationPanel(manager)
    fill(panel, sim, ptype="anthropic", model="")
    panel.test_button.click()
    panel.wait()
    assert panel.error == "" and "Connection ok" in panel.status
    assert panel.default_model.options == ("sim-small", "sim-large")
    assert panel.default_model.value == "sim-small" and len(manager) == 0
    # The key left the form, but is held in memory for the Register that follows.
    assert panel.api_key.value == "" and "kept in memory for Register" in panel.api_key.placeholder
    panel.register_button.click()
    panel.wait()
    assert manager.get_provider("anthropic").config.api_key.reveal() == KEY
    assert panel.api_key.placeholder == "paste the key"


def test_a_held_key_is_dropped_when_the_type_changes(sim, manager):
    panel = RegistrationPanel(manager)
    fill(panel, sim)
    panel.test_button.click()
    panel.wait()
    panel.provider_type.value = "anthropic"
    panel.base_url.value = sim.base_url("anthropic")
    assert panel.register() is False and "needs an API key" in panel.errors["api_key"]


@pytest.mark.parametrize(
    "key, fault, expected",
    [
        ("invalid-key-0123456789", None, "auth_failed"),
        (KEY, Fault("status", provider="openai", endpoint="models", status=500, times=None), "error"),
    ],
)
def test_connection_test_reports_failures(sim, manager, key, fault, expected):
    if fault is not None:
        sim.simulator.add_fault(fault)
    panel = RegistrationPanel(manager)
    fill(panel, sim, key=key)
    panel.test_button.click()
    panel.wait()
    assert f"Connection failed ({expected})" in panel.errors["form"]


def test_connection_test_is_bounded_and_disables_the_buttons(sim, manager):
    sim.simulator.add_fault(Fault("hang", provider="openai", endpoint="models"))
    panel = RegistrationPanel(manager, probe_timeout=0.5)
    fill(panel, sim)
    panel.test_button.click()
    assert panel.test_button.disabled and panel.register_button.disabled
    assert panel.register() is False and "Still working" in panel.status
    panel.wait()
    assert "Connection failed (timeout)" in panel.errors["form"]
    assert not panel.test_button.disabled and not panel.register_button.disabled


def test_unreachable_url(manager):
    panel = RegistrationPanel(manager)
    panel.provider_type.value = "custom"
    panel.base_url.value = "http://127.0.0.1:9/v1"
    panel.test_button.click()
    panel.wait()
    assert "Connection failed (not_running): nothing answers: is the server started?" in panel.errors["form"]


def test_set_default_and_remove_from_the_table(sim, manager):
    for name in ("one", "two"):
        manager.register_provider(ProviderConfig("openai", name=name, api_key=KEY, base_url=sim.base_url("openai")))
    panel = RegistrationPanel(manager)
    assert list(panel.providers.name) == ["one", "two"] and panel.providers.default.tolist() == [True, False]
    buttons = [b for b in _walk(panel.table) if "cpnb-set-default" in b._dom_classes]
    buttons[1].click()
    assert manager.default == "two" and panel.providers.default.tolist() == [False, True]
    removes = [b for b in _walk(panel.table) if "cpnb-remove" in b._dom_classes]
    removes[0].click()
    panel.wait()
    assert manager.names == ["two"] and list(panel.providers.name) == ["two"] and "Removed 'one'" in panel.status


def test_vault_option_is_disabled_without_a_vault(manager):
    panel = RegistrationPanel(manager)
    assert panel.store_key.disabled and "pass vault=" in panel.fields.vault_note.value


def test_key_stored_in_the_vault(sim, manager, tmp_path, canary):
    from closedpaw_nb.keys.vault import DataVault

    vault = DataVault(tmp_path / "keys.vault", passphrase="correct horse battery staple")
    panel = RegistrationPanel(manager, vault=vault)
    fill(panel, sim, name="vaulted", key=canary)
    panel.store_key.value = True
    panel.register_button.click()
    panel.wait()
    assert panel.error == "" and "stored its key in the DataVault" in panel.status
    assert vault.retrieve("vaulted") == canary and canary not in all_widget_state()
    # Later, in a fresh session with an empty key field, the vault's key is used.
    other = ProviderManager()
    try:
        again = RegistrationPanel(other, vault=vault)
        fill(again, sim, name="vaulted", key="")
        again.register_button.click()
        again.wait()
        assert again.error == "" and other.get_provider("vaulted").config.api_key.reveal() == canary
    finally:
        _runner.run(other.close_all())


def test_vault_failure_rolls_the_registration_back(sim, manager, canary):
    class BrokenVault:
        def store(self, name, key):
            raise OSError("disk full")

        def retrieve(self, name):
            return None

        def __contains__(self, name):
            return False

    panel = RegistrationPanel(manager, vault=BrokenVault())
    fill(panel, sim, name="half", key=canary)
    panel.store_key.value = True
    panel.register_button.click()
    panel.wait()
    assert "disk full" in panel.errors["api_key"] and "half" not in manager
    assert "Nothing was registered" in panel.status and panel.providers.empty


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def test_profiles_are_saved_without_keys_and_loaded_after_a_restart(sim, manager, canary, tmp_path, monkeypatch):
    path = tmp_path / "profiles.json"
    panel = RegistrationPanel(manager, profiles_path=path)
    panel.provider_type.value, panel.name.value = "openai", "work"
    panel.base_url.value, panel.api_key.value, panel.default_model.value = sim.base_url("openai"), canary, "sim-large"
    panel.register_button.click()
    panel.wait()
    panel.save_button.click()
    assert f"Saved 1 provider profile(s) to {path}" in panel.status and canary not in path.read_text()

    monkeypatch.setenv("OPENAI_API_KEY", canary)  # after the restart the key comes from the environment
    fresh = ProviderManager()
    again = RegistrationPanel(fresh, profiles_path=path)
    again.load_button.click()
    again.wait()
    assert again.status == "Loaded work." and fresh.get_provider("work").config.default_model == "sim-large"
    assert "work" in again.providers["name"].tolist()
    again.load_button.click()  # a second load skips what is there, and says why
    again.wait()
    assert "Not loaded: work: already registered" in again.status
    assert canary not in all_widget_state()
    _runner.run(fresh.close_all())


def test_loading_a_bad_profiles_file_is_an_inline_error(manager, tmp_path):
    path = tmp_path / "profiles.json"
    path.write_text("{broken")
    panel = RegistrationPanel(manager, profiles_path=path)
    panel.load_button.click()
    panel.wait()
    assert "not valid JSON" in panel.errors["form"] and manager.names == []
