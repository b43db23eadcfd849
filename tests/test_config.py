"""ProviderConfig validation, the Secret wrapper and key resolution order."""

from __future__ import annotations

import pickle

import pytest

from closedpaw_nb import ConfigError, ProviderConfig, ProviderType, Secret
from closedpaw_nb.config import resolve_api_key

CANARY = "sk-test-CANARY-config-0123456789"


def test_secret_never_shows_its_value():
    secret = Secret(CANARY)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % secret):  # noqa: UP031 - %-formatting is a way to print it too
        assert CANARY not in text
    assert secret.reveal() == CANARY
    assert secret.fingerprint().startswith("sha256:") and CANARY not in secret.fingerprint()
    assert Secret(CANARY) == secret and Secret("other-value") != secret


def test_secret_refuses_pickling():
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(CANARY))


def test_config_wraps_key_and_hides_it():
    config = ProviderConfig("openai", api_key=CANARY)
    assert isinstance(config.api_key, Secret)
    assert CANARY not in repr(config) and CANARY not in str(config.public_dict())
    assert config.public_dict()["has_key"] is True
    assert config.provider_type is ProviderType.OPENAI and config.name == "openai"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"provider_type": "gpt"}, "unknown provider_type 'gpt'"),
        ({"provider_type": "custom", "base_url": "ftp://host/v1"}, "not an http"),
        ({"provider_type": "custom", "base_url": "localhost:8080"}, "not an http"),
        ({"provider_type": "custom", "base_url": "http://user:pw@host/v1"}, "credentials"),
        ({"provider_type": "custom", "base_url": "http://host/v1?key=abc"}, "query"),
        ({"provider_type": "openai", "rate_limit": 0}, "rate_limit"),
        ({"provider_type": "openai", "timeout": -1}, "timeout"),
        ({"provider_type": "openai", "name": "a:b"}, "no ':'"),
        ({"provider_type": "custom", "base_url": "http://host/v1\r\nX-Injected: 1"}, "control characters"),
        ({"provider_type": "custom", "base_url": "http://host/v1\n"}, "control characters"),
        ({"provider_type": "custom", "base_url": "http://host:99999/v1"}, "not a valid URL"),
        *(
            ({"provider_type": "openai", "settings": {"extra_headers": {name: "x"}}}, "hop-by-hop")
            for name in ("Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "TE")
        ),
        *(
            ({"provider_type": "openai", "settings": {"extra_headers": {name: "x"}}}, "hop-by-hop")
            for name in ("Upgrade", "Expect", "Proxy-Authorization", "proxy-connection")
        ),
        ({"provider_type": "openai", "settings": {"extra_headers": {"X-A": "1\r\nHost: evil"}}}, "cannot carry"),
    ],
)
def test_bad_config_is_a_clear_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ProviderConfig(**kwargs)


def test_key_resolution_order_argument_then_vault_then_env():
    env = {"OPENAI_API_KEY": "env-key-123456"}
    vault = {"openai": "vault-key-123456"}.get
    explicit = ProviderConfig("openai", api_key="explicit-key-123456")
    bare = ProviderConfig("openai")
    assert resolve_api_key(explicit, ["OPENAI_API_KEY"], vault, env).reveal() == "explicit-key-123456"
    assert resolve_api_key(bare, ["OPENAI_API_KEY"], vault, env).reveal() == "vault-key-123456"
    assert resolve_api_key(bare, ["OPENAI_API_KEY"], None, env).reveal() == "env-key-123456"
    assert resolve_api_key(bare, ["OPENAI_API_KEY"], None, {}) is None


def test_gemini_reads_either_env_var():
    config = ProviderConfig("google")
    assert (
        resolve_api_key(config, ["GEMINI_API_KEY", "GOOGLE_API_KEY"], None, {"GOOGLE_API_KEY": "g-key-123456"}).reveal()
        == "g-key-123456"
    )
