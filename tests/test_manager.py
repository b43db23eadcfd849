"""ProviderManager: all-or-nothing registration, routing, status without keys, custom classes."""

from __future__ import annotations

import asyncio

import pytest

from closedpaw_nb import (
    BaseProvider,
    ChatResponse,
    ConfigError,
    HealthStatus,
    ModelInfo,
    ProviderConfig,
    ProviderManager,
    ProviderType,
    get_provider_manager,
)
from closedpaw_nb.testing import ProviderContractError, acheck_provider, check_provider
from closedpaw_nb.types import HealthState

CANARY = "sk-test-CANARY-manager-0123456789"


class ReverseProvider(BaseProvider):
    """A custom provider written the way a user would: it answers with the prompt reversed."""

    async def chat(self, messages, model=None, **options):
        from closedpaw_nb.providers.base import normalize_messages

        model = self.resolve_model(model)
        if model.startswith("missing"):
            from closedpaw_nb.errors import NotFoundError

            raise NotFoundError(f"model {model!r} not found", provider=self.name, model=model, status_code=404)
        prompt = normalize_messages(messages)[-1].content
        text = prompt[::-1]
        return ChatResponse(
            content=text,
            model=model,
            provider=self.name,
            prompt_tokens=len(prompt.split()),
            completion_tokens=len(text.split()),
            tokens_used=len(prompt.split()) * 2,
            finish_reason="stop",
            latency_ms=0.1,
        )

    async def stream_chat(self, messages, model=None, **options):
        response = await self.chat(messages, model, **options)
        for word in response.content.split(" "):
            await asyncio.sleep(0)
            yield word + " "
        response.content = " ".join(response.content.split(" ")) + " "
        response.latency_ms = None  # the stream's own timing, not chat()'s made-up 0.1 ms
        yield response

    async def fetch_models(self):
        return [ModelInfo("reverse-1", self.name)]


def test_custom_provider_registers_and_passes_the_contract():
    manager = ProviderManager()
    provider = manager.register_provider(
        ProviderConfig(ProviderType.CUSTOM, name="rev", default_model="reverse-1"), provider_class=ReverseProvider
    )
    assert isinstance(provider, ReverseProvider) and manager.get_provider("rev") is provider
    report = check_provider(provider, deterministic=False)
    assert report.passed, str(report)


async def test_contract_check_catches_a_broken_provider():
    class Broken(ReverseProvider):
        async def stream_chat(self, messages, model=None, **options):
            response = await self.chat(messages, model, **options)
            yield "something else"
            yield response

    broken = Broken(ProviderConfig("custom", name="broken", default_model="m"))
    with pytest.raises(ProviderContractError, match="joined deltas differ"):
        await acheck_provider(broken)


async def test_manager_routes_chat_and_stream_to_custom_provider():
    manager = ProviderManager()
    manager.register_provider(ProviderConfig("custom", name="rev", default_model="r"), provider_class=ReverseProvider)
    assert (await manager.chat("abc")).content == "cba"
    stream = manager.stream("hello world", provider="rev")
    assert [d async for d in stream] == ["dlrow ", "olleh "]
    assert stream.response.ttft_ms is not None
    assert await manager.list_all_models() == {"rev": ["reverse-1"]}
    assert await manager.health_check_all() == {"rev": True}


@pytest.mark.parametrize(
    "config, message",
    [
        (ProviderConfig("openai"), "needs an API key"),
        (ProviderConfig("anthropic", name="claude"), "ANTHROPIC_API_KEY"),
        (ProviderConfig("custom", name="local"), "needs base_url"),
    ],
)
def test_bad_registration_is_clear_and_registers_nothing(config, message, monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    manager = ProviderManager()
    with pytest.raises(ConfigError, match=message):
        manager.register_provider(config)
    assert len(manager) == 0 and manager.default is None and manager.get_status()["providers"] == {}


def test_duplicate_name_and_bad_class_are_rejected_without_side_effects():
    manager = ProviderManager()
    first = manager.register_provider(ProviderConfig("openai", api_key=CANARY))
    with pytest.raises(ConfigError, match="already registered"):
        manager.register_provider(ProviderConfig("openai", api_key="sk-other-0123456789abcdef"))
    assert manager.get_provider("openai") is first
    with pytest.raises(ConfigError, match="BaseProvider subclass"):
        manager.register_provider(ProviderConfig("custom", name="x", base_url="http://h/v1"), provider_class=dict)
    with pytest.raises(ConfigError, match="register_provider needs a ProviderConfig"):
        manager.register_provider({"provider_type": "openai"})
    assert manager.names == ["openai"]


def test_a_provider_class_that_fails_to_build_registers_nothing():
    class Exploding(ReverseProvider):
        def __init__(self, config):
            raise RuntimeError("boom")

    manager = ProviderManager()
    with pytest.raises(ConfigError, match="could not be created: boom"):
        manager.register_provider(ProviderConfig("custom", name="x", base_url="http://h/v1"), provider_class=Exploding)
    assert len(manager) == 0


def test_env_key_is_used_and_status_never_contains_it(monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", CANARY)
    manager = ProviderManager()
    provider = manager.register_provider(ProviderConfig("mistral"))
    assert provider.config.api_key.reveal() == CANARY
    status = manager.get_status()
    assert CANARY not in repr(status) and CANARY not in repr(provider) and CANARY not in repr(manager)
    assert status["providers"]["mistral"]["has_key"] is True


def test_key_lookup_hook_sits_between_argument_and_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "env-key-0123456789")
    manager = ProviderManager(key_lookup={"openai": "vault-key-0123456789"}.get)
    assert manager.register_provider(ProviderConfig("openai")).config.api_key.reveal() == "vault-key-0123456789"


async def test_default_unregister_and_unknown_names():
    manager = ProviderManager()
    manager.register_provider(ProviderConfig("custom", name="a", default_model="m"), provider_class=ReverseProvider)
    manager.register_provider(ProviderConfig("custom", name="b", default_model="m"), provider_class=ReverseProvider)
    assert manager.default == "a"
    manager.set_default("b")
    assert manager.get_provider().name == "b"
    with pytest.raises(ConfigError, match="no provider named 'zzz'"):
        manager.set_default("zzz")
    with pytest.raises(ConfigError, match=r"registered: a, b"):
        await manager.chat("hi", provider="zzz")
    await manager.unregister("b")
    assert manager.default == "a" and manager.names == ["a"]
    assert manager.get_provider("b") is None


async def test_check_health_all_is_concurrent_and_bounded_per_provider():
    """Every probe is in flight at once (each slow probe waits until all five have started,
    which serial probing would never reach), and a hanging probe is cancelled at the
    timeout instead of holding up the others."""
    slow_started: list[str] = []
    all_started = asyncio.Event()
    cancelled: list[str] = []

    class Hanging(ReverseProvider):
        async def check_health(self):
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.append(self.name)
                raise

    class Slow(ReverseProvider):
        async def check_health(self):
            slow_started.append(self.name)
            if len(slow_started) == 5:
                all_started.set()
            await all_started.wait()
            return HealthStatus(self.name, HealthState.OK, 200.0, 1)

    manager = ProviderManager()
    manager.register_provider(ProviderConfig("custom", name="hang", default_model="m"), provider_class=Hanging)
    for i in range(5):
        manager.register_provider(ProviderConfig("custom", name=f"slow{i}", default_model="m"), provider_class=Slow)
    result = await manager.check_health_all(timeout=0.3)
    assert result["hang"].status is HealthState.TIMEOUT and cancelled == ["hang"]
    assert all(result[f"slow{i}"].ok for i in range(5))  # serial probes would each time out waiting
    assert sorted(slow_started) == [f"slow{i}" for i in range(5)]


def test_singleton_has_the_seed_default_ollama_entry(monkeypatch):
    import closedpaw_nb.manager as manager_module

    monkeypatch.setattr(manager_module, "_singleton", None)
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:9999")
    manager = get_provider_manager()
    assert manager is get_provider_manager()
    assert manager.default == "ollama"
    assert manager.get_provider("ollama").config.base_url == "http://127.0.0.1:9999"


async def test_a_class_registered_for_a_type_is_used_for_that_type():
    manager = ProviderManager()
    manager.register_provider_class("custom", ReverseProvider)
    provider = manager.register_provider(ProviderConfig("custom", name="r", default_model="m"))
    assert isinstance(provider, ReverseProvider) and (await manager.chat("ab", "r")).content == "ba"
    with pytest.raises(ConfigError, match="BaseProvider subclass"):
        manager.register_provider_class("custom", object)


async def test_explicit_retry_policy_overrides_settings():
    from closedpaw_nb.reliability.retry import RetryPolicy

    manager = ProviderManager()
    manager.register_provider(
        ProviderConfig("custom", name="r", default_model="m", settings={"max_retries": 5}),
        provider_class=ReverseProvider,
        retry_policy=RetryPolicy(max_retries=0),
    )
    assert manager._guarded("r").policy.max_retries == 0
