"""The seed's custom-provider contract, held everywhere: `self.client`, `list[ChatMessage]`
in, `List[str]` models, `health_check() -> bool`, and errors that say what to change.

The providers here speak HTTP through `self.client` to the simulator's OpenAI endpoint
(real HTTP on loopback); `test_guide_provider.py` is the same story told from the guide
alone.
"""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest

import closedpaw_nb as cp
import closedpaw_nb.manager as manager_module
from closedpaw_nb import _runner
from closedpaw_nb.errors import (
    ConfigError,
    NotFoundError,
    ProviderImplementationError,
    RateLimitError,
)
from closedpaw_nb.manager import ProviderManager
from closedpaw_nb.providers import BaseProvider
from closedpaw_nb.testing import acheck_provider
from closedpaw_nb.types import ChatMessage, ChatResponse, HealthState, ModelInfo


class ClientProvider(BaseProvider):
    """Chat through `self.client` against an OpenAI-protocol endpoint; records what chat() got."""

    received: list[object] = []

    async def chat(self, messages, model=None, **kwargs):
        ClientProvider.received.append(messages)
        body = {"model": model or self.config.default_model, "messages": [m.to_dict() for m in messages]}
        response = await self.client.post(
            f"{self.config.base_url}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {self.config.api_key.reveal()}"},
        )
        response.raise_for_status()
        data = response.json()
        return ChatResponse(
            content=data["choices"][0]["message"]["content"],
            model=data["model"],
            provider=self.name,
            latency_ms=response.elapsed.total_seconds() * 1000 or 0.01,
            finish_reason="stop",
        )

    async def list_models(self):
        return ["sim-small", "sim-large"]


@pytest.fixture
def custom(sim):
    """A manager with a ClientProvider on the simulator, and the provider itself."""
    ClientProvider.received = []
    manager = ProviderManager()
    provider = manager.register_provider(
        cp.ProviderConfig(
            "custom",
            name="http",
            api_key="sk-test-key-0123456789",
            base_url=sim.base_url("openai"),
            default_model="sim-small",
            timeout=7,
        ),
        provider_class=ClientProvider,
    )
    yield manager, provider
    _runner.run(manager.close_all())


@pytest.fixture
def helpers_manager(monkeypatch, custom):
    """The notebook helpers' process-wide manager, holding the ClientProvider."""
    manager, provider = custom
    monkeypatch.setattr(manager_module, "_singleton", manager)
    return manager


# -- self.client ----------------------------------------------------------------------


def test_client_is_lazy_has_the_config_timeout_and_closes_twice(custom):
    manager, provider = custom
    assert provider.__dict__["_httpx_client"] is None  # registering opened nothing
    _runner.run(manager.chat("hi", "http"))
    client = provider.client
    assert isinstance(client, httpx.AsyncClient) and client.timeout == httpx.Timeout(7)
    _runner.run(provider.close())
    _runner.run(provider.close())
    assert client.is_closed
    assert _runner.run(manager.chat("again", "http")).content  # a fresh client after close()


def test_a_client_passed_or_assigned_is_used_and_closed(sim):
    mine = httpx.AsyncClient(timeout=3)

    class Passing(ClientProvider):
        def __init__(self, config):
            super().__init__(config, client=mine)

    class Assigning(ClientProvider):
        def __init__(self, config):
            super().__init__(config)
            self.client = httpx.AsyncClient(timeout=config.timeout)  # the guide's step 1, literally

    manager = ProviderManager()
    for name, cls in (("passing", Passing), ("assigning", Assigning)):
        manager.register_provider(
            cp.ProviderConfig(
                "custom",
                name=name,
                api_key="sk-test-key-0123456789",
                base_url=sim.base_url("openai"),
                default_model="sim-small",
            ),
            provider_class=cls,
        )
        assert _runner.run(manager.chat("hi", name)).content
    assert manager.get_provider("passing").client is mine
    assigned = manager.get_provider("assigning").client
    _runner.run(manager.close_all())
    assert mine.is_closed and assigned.is_closed


def test_a_lazy_client_belongs_to_one_event_loop(custom):
    _, provider = custom

    async def client_here():
        return provider.client

    first, second = asyncio.run(client_here()), asyncio.run(client_here())
    assert first is not second  # httpx pools are bound to the loop that used them


def test_keys_stay_out_of_the_client_logs_and_errors(sim, canary, caplog):
    class Leaky(BaseProvider):
        async def chat(self, messages, model=None, **kwargs):
            url = f"{self.config.base_url}/no-such-path?key={self.config.api_key.reveal()}"
            response = await self.client.post(url, headers={"x-api-key": self.config.api_key.reveal()}, json={})
            response.raise_for_status()

    manager = ProviderManager()
    provider = manager.register_provider(
        cp.ProviderConfig("custom", name="leaky", api_key=canary, base_url=sim.base_url("openai"), default_model="m"),
        provider_class=Leaky,
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(NotFoundError) as caught:
        _runner.run(manager.chat("hi", "leaky"))
    _runner.run(manager.close_all())
    assert caught.value.status_code == 404
    texts = [caplog.text, str(caught.value), repr(caught.value), repr(provider), repr(provider.client)]
    assert caplog.text and not any(canary in t for t in texts)
    assert caught.value.__cause__ is None  # httpx's exception holds the URL


# -- what chat() receives ---------------------------------------------------------------


def _received_lists() -> bool:
    return all(isinstance(m, list) and all(isinstance(x, ChatMessage) for x in m) for m in ClientProvider.received)


@pytest.mark.parametrize(
    "path",
    [
        "manager.chat",
        "manager.stream",
        "cp.chat",
        "cp.stream",
        "cp.compare",
        "cp.benchmark",
        "contract check",
        "widget",
        "http api",
    ],
)
def test_every_path_hands_chat_a_list_of_chat_messages(path, helpers_manager, tmp_path):
    manager = helpers_manager
    call = {
        "manager.chat": lambda: _runner.run(manager.chat("plain string", "http")),
        "manager.stream": lambda: _runner.run(manager.stream("plain string", "http").get_response()),
        "cp.chat": lambda: cp.chat("plain string", "http", temperature=0),
        "cp.stream": lambda: "".join(cp.stream("plain string", "http")),
        "cp.compare": lambda: cp.compare("plain string", ["http:sim-small"]),
        "cp.benchmark": lambda: cp.benchmark(
            "plain string", ["http:sim-small"], trials=1, warmup=0, store=str(tmp_path / "runs.sqlite"), progress=False
        ),
        "contract check": lambda: cp_testing_check(manager.get_provider("http")),
        "widget": lambda: _widget_run(manager),
        "http api": lambda: _runner.run(_api_chat(manager)),
    }[path]
    call()
    assert ClientProvider.received and _received_lists(), ClientProvider.received
    assert path == "contract check" or any(m[-1].content == "plain string" for m in ClientProvider.received)


def cp_testing_check(provider):
    from closedpaw_nb.testing import check_provider

    return check_provider(provider, deterministic=False, missing_model=None)


def _widget_run(manager):
    from closedpaw_nb.widgets import ComparisonPanel

    panel = ComparisonPanel(manager)
    panel.prompt.value, panel.targets.value = "plain string", ("http:sim-small",)
    panel.run_button.click()
    panel.wait()
    assert panel.results.ok.all(), panel.results
    panel.close()


async def _api_chat(manager):
    pytest.importorskip("fastapi")
    from closedpaw_nb.server import create_app

    token = "test-token-custom-0123456789"
    app = create_app(manager, token=token)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://127.0.0.1", headers={"Authorization": f"Bearer {token}"}
    ) as client:
        response = await client.post(
            "/api/chat", json={"provider": "http", "messages": [{"role": "user", "content": "plain string"}]}
        )
        assert response.status_code == 200, response.text
        models = await client.get("/api/providers/http/models")
        assert models.status_code == 200 and "sim-large" in models.text
        health = await client.get("/api/providers/health")
        assert health.json()["providers"]["http"]["ok"] is True


# -- list_models() -> List[str] -----------------------------------------------------------


def test_string_model_lists_work_everywhere(helpers_manager):
    manager = helpers_manager
    assert _runner.run(manager.list_all_models())["http"] == ["sim-small", "sim-large"]
    frame = cp.models()
    assert frame[frame.provider == "http"].model.tolist() == ["sim-small", "sim-large"]
    infos = _runner.run(manager.get_provider("http").list_model_info())
    assert all(isinstance(m, ModelInfo) and m.provider == "http" for m in infos)
    status = _runner.run(manager.get_provider("http").check_health())
    assert status.ok and status.model_count == 2  # the default probe lists them the seed's way


def test_built_in_model_lists_read_as_lists_of_strings(build):
    models = _runner.run(build("openai").list_models())
    assert all(isinstance(m, str) for m in models) and "sim-small" in models
    assert json.loads(json.dumps(models)) == [str(m) for m in models]
    assert ", ".join(models).count(",") == len(models) - 1 and repr(models[0]) == repr(str(models[0]))
    assert models[0].id == models[0] and models[0].provider == "openai"


def test_a_model_list_that_is_not_strings_is_explained(custom):
    class Bad(ClientProvider):
        async def list_models(self):
            return [{"id": "x"}]

    manager = ProviderManager()
    manager.register_provider(
        cp.ProviderConfig("custom", name="bad", base_url="http://127.0.0.1:9"), provider_class=Bad
    )
    with pytest.raises(ProviderImplementationError, match=r"list_models\(\) must return a list of model ids"):
        _runner.run(manager._guarded("bad").list_model_info())
    assert _runner.run(manager.list_all_models())["bad"] == []


# -- health_check() -> bool ----------------------------------------------------------------


class Judged(ClientProvider):
    """Health decided by its own health_check(), the seed's way."""

    async def health_check(self):
        verdict = self.config.settings["verdict"]
        if isinstance(verdict, Exception):
            raise verdict
        return verdict


@pytest.mark.parametrize(
    "verdict, status, detail",
    [
        (True, "ok", "ok (health_check)"),
        (False, "error", "health_check() returned False"),
        ("yes", "error", "must return True or False"),
        (httpx.ConnectError("refused"), "not_running", "nothing answers"),
    ],
)
def test_an_overridden_health_check_is_what_every_view_shows(verdict, status, detail, monkeypatch):
    manager = ProviderManager()
    manager.register_provider(
        cp.ProviderConfig("custom", name="judged", base_url="http://127.0.0.1:9", settings={"verdict": verdict}),
        provider_class=Judged,
    )
    monkeypatch.setattr(manager_module, "_singleton", manager)
    found = _runner.run(manager.check_health_all())["judged"]
    assert found.status == status and detail in found.detail
    assert _runner.run(manager.health_check_all()) == {"judged": status == "ok"}
    assert cp.health().set_index("provider").loc["judged", "status"] == status

    from closedpaw_nb.widgets import HealthDashboard

    board = HealthDashboard(manager)
    board.check_button.click()
    board.wait()
    assert board.history.set_index("provider").loc["judged", "status"] == status
    board.close()


@pytest.mark.parametrize(
    "listing, status", [(["m"], HealthState.OK), (httpx.ConnectError("refused"), HealthState.ERROR)]
)
def test_a_health_check_that_calls_super_gets_the_default_probe(listing, status):
    class Polite(ClientProvider):
        async def list_models(self):
            if isinstance(listing, Exception):
                raise listing
            return listing

        async def health_check(self):
            return await super().health_check()  # no recursion: the default probe lists models

    manager = ProviderManager()
    manager.register_provider(
        cp.ProviderConfig("custom", name="polite", base_url="http://127.0.0.1:9"), provider_class=Polite
    )
    assert _runner.run(manager.check_health_all())["polite"].status is status


# -- errors a guide-following author hits ---------------------------------------------------


class ReturnsDict(ClientProvider):
    async def chat(self, messages, model=None, **kwargs):
        return {"content": "hi"}


class BareException(ClientProvider):
    async def chat(self, messages, model=None, **kwargs):
        raise Exception("API error: 503 - upstream unavailable")


class ForgetsSuper(ClientProvider):
    def __init__(self, config):
        self.base = config.base_url


def _register(cls, name="p", **config):
    manager = ProviderManager()
    manager.register_provider(
        cp.ProviderConfig("custom", name=name, base_url="http://127.0.0.1:9", default_model="m", **config),
        provider_class=cls,
    )
    return manager


@pytest.mark.parametrize("streamed", [False, True])
def test_chat_returning_something_else_says_return_a_chat_response(streamed):
    manager = _register(ReturnsDict)
    call = manager.stream("hi").get_response() if streamed else manager.chat("hi")
    with pytest.raises(ProviderImplementationError, match=r"ReturnsDict.chat\(\) must return a ChatResponse, got dict"):
        _runner.run(call)


def test_a_bare_exception_with_a_status_says_raise_for_status():
    with pytest.raises(ProviderImplementationError) as caught:
        _runner.run(_register(BareException).chat("hi"))
    message = str(caught.value)
    assert "raise_for_status()" in message and "HTTP 503" in message and "InternalServerError" in message
    assert isinstance(caught.value.__cause__, Exception) and "upstream" in str(caught.value.__cause__)
    assert caught.value.attempts == 1  # a provider bug is not retried


def test_forgetting_super_init_is_refused_at_registration():
    manager = ProviderManager()
    with pytest.raises(ConfigError, match=r"must call super\(\).__init__\(config\)"):
        manager.register_provider(cp.ProviderConfig("custom", name="p"), provider_class=ForgetsSuper)
    assert "p" not in manager
    bare = ForgetsSuper(cp.ProviderConfig("custom", name="p"))
    with pytest.raises(AttributeError, match=r"super\(\).__init__\(config\)"):
        bare.config  # noqa: B018


async def test_the_contract_check_names_each_mistake():
    config = cp.ProviderConfig("custom", name="p", base_url="http://127.0.0.1:9", default_model="m")
    reports = {
        cls.__name__: await acheck_provider(cls(config), raise_on_failure=False)
        for cls in (ReturnsDict, BareException, ForgetsSuper)
    }
    failed = {name: {c.name: c.detail for c in r.failures} for name, r in reports.items()}
    assert "ChatResponse" in failed["ReturnsDict"]["chat returns a ChatResponse"]
    assert "raise_for_status()" in failed["BareException"]["errors are ProviderErrors (unknown model)"]
    assert "super().__init__(config)" in failed["ForgetsSuper"]["constructed with super().__init__(config)"]


def test_raise_for_status_maps_status_and_retry_after():
    from closedpaw_nb.providers.base import as_provider_error

    request = httpx.Request("POST", "http://127.0.0.1:9/generate?key=sk-test-secret-value-123")
    limited = httpx.Response(429, headers={"retry-after": "7"}, text="slow down", request=request)
    error = as_provider_error(httpx.HTTPStatusError("429", request=request, response=limited), "p", "chat")
    assert isinstance(error, RateLimitError) and error.retry_after == 7 and error.status_code == 429
    assert "slow down" in error.message and "sk-test-secret" not in str(error)
