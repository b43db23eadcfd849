"""Saved provider profiles: non-secret settings survive a restart, keys never reach the file."""

from __future__ import annotations

import json

import pytest

import closedpaw_nb.manager as manager_module
from closedpaw_nb import ConfigError, ProviderConfig, ProviderManager
from closedpaw_nb import _runner as runner
from closedpaw_nb import notebook as nb
from closedpaw_nb.profiles import load_profiles, profile_of, save_profiles


def _registered(canary: str) -> ProviderManager:
    manager = ProviderManager()
    manager.register_provider(
        ProviderConfig(
            "openai",
            name="work",
            api_key=canary,
            base_url="https://llm.example.com/v1",
            models=["m1", "m2"],
            default_model="m2",
            rate_limit=30,
            timeout=42.0,
            settings={
                "organization": "org-7",
                "session_token": canary,
                "extra_headers": {"X-Team": "red", "Authorization": f"Bearer {canary}", "X-Api-Key": canary},
            },
        )
    )
    manager.register_provider(ProviderConfig("anthropic", name="claude", api_key=canary, default_model="c"))
    return manager


def test_a_profile_keeps_the_settings_and_never_a_key(tmp_path, canary):
    path = save_profiles(_registered(canary), tmp_path / "profiles.json")
    text = path.read_text()
    assert canary not in text and canary[:12] not in text
    (work, claude) = json.loads(text)["profiles"]
    assert work == {
        "provider_type": "openai",
        "name": "work",
        "base_url": "https://llm.example.com/v1",
        "models": ["m1", "m2"],
        "default_model": "m2",
        "enabled": True,
        "rate_limit": 30,
        "timeout": 42.0,
        "settings": {"organization": "org-7", "extra_headers": {"X-Team": "red"}},
    }
    assert claude["name"] == "claude" and "api_key" not in claude


async def test_profiles_load_again_with_keys_from_the_vault_or_the_environment(tmp_path, canary, monkeypatch):
    path = save_profiles(_registered(canary), tmp_path / "profiles.json")
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    fresh = ProviderManager(key_lookup={"claude": canary}.get)  # the vault holds claude's key
    registered, skipped = await load_profiles(fresh, path)
    assert registered == ["work", "claude"] and skipped == {}
    work = fresh.get_provider("work").config
    assert (work.base_url, work.default_model, work.rate_limit, work.settings["organization"]) == (
        "https://llm.example.com/v1",
        "m2",
        30,
        "org-7",
    )
    assert work.api_key.reveal() == canary and fresh.get_provider("claude").config.api_key.reveal() == canary
    again, skipped = await load_profiles(fresh, path)
    assert again == [] and "already registered" in skipped["work"]
    replaced, _ = await load_profiles(fresh, path, replace=True)
    assert replaced == ["work", "claude"] and fresh.names == ["work", "claude"]
    await fresh.close_all()


async def test_a_profile_without_a_key_is_skipped_with_the_reason(tmp_path, canary, monkeypatch):
    path = save_profiles(_registered(canary), tmp_path / "profiles.json", names=["claude"])
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    fresh = ProviderManager()
    registered, skipped = await load_profiles(fresh, path)
    assert registered == [] and "ConfigError" in skipped["claude"] and "ANTHROPIC_API_KEY" in skipped["claude"]
    assert fresh.names == []


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"profiles": {}}', "not a profiles file"),
        ('{"profiles": [{"provider_type": "openai", "api_key": "x"}]}', "unknown fields api_key"),
    ],
)
async def test_a_bad_profiles_file_registers_nothing(tmp_path, content, message):
    path = tmp_path / "profiles.json"
    path.write_text(content)
    fresh = ProviderManager()
    with pytest.raises(ConfigError, match=message):
        await load_profiles(fresh, path)
    assert fresh.names == []
    with pytest.raises(ConfigError, match="no saved profiles"):
        await load_profiles(fresh, tmp_path / "none.json")


def test_saving_an_unknown_name_is_refused(tmp_path, canary):
    with pytest.raises(ConfigError, match="no provider named nope"):
        save_profiles(_registered(canary), tmp_path / "p.json", names=["nope"])
    assert not (tmp_path / "p.json").exists()
    assert "settings" in profile_of(ProviderConfig("ollama"))


def test_the_helpers_save_and_load_through_the_notebook_manager(tmp_path, canary, monkeypatch):
    monkeypatch.setattr(manager_module, "_singleton", None)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("MISTRAL_API_KEY", canary)
    nb.register("mistral", name="mist", default_model="mistral-small")
    path = nb.save_profiles(tmp_path / "profiles.json")
    assert canary not in path.read_text()
    monkeypatch.setattr(manager_module, "_singleton", None)  # a kernel restart
    with pytest.warns(UserWarning, match="1 saved profile"):  # the seed's default "ollama" is there already
        assert nb.load_profiles(path) == ["mist"]
    assert nb.manager().get_provider("mist").config.default_model == "mistral-small"
    runner.run(nb.manager().close_all())


def test_settings_named_after_tokens_but_holding_counts_or_a_url_are_kept(tmp_path, canary):
    manager = ProviderManager()
    settings = {
        "tokens_per_minute": 40_000,
        "max_tokens": 512,
        "tokenize_endpoint": "http://127.0.0.1:8080/extras/tokenize",
        "token": canary,
        "auth_token": canary,
    }
    manager.register_provider(ProviderConfig("openai", name="local", api_key=canary, settings=settings))
    path = save_profiles(manager, tmp_path / "profiles.json")
    assert canary not in path.read_text()
    (saved,) = json.loads(path.read_text())["profiles"]
    assert saved["settings"] == {
        "tokens_per_minute": 40_000,
        "max_tokens": 512,
        "tokenize_endpoint": "http://127.0.0.1:8080/extras/tokenize",
    }
    leaky = {**settings, "tokenize_endpoint": f"http://127.0.0.1:8080/extras/tokenize?key={canary}"}
    again = ProviderManager()
    again.register_provider(ProviderConfig("openai", name="local", api_key=canary, settings=leaky))
    assert canary not in save_profiles(again, tmp_path / "again.json").read_text()
