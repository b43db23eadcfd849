"""A provider written from the ClosedPaw custom-provider guide works unchanged in closedpaw_nb.

`TinyProvider` below follows the guide's steps and nothing else: subclass `BaseProvider`,
speak HTTP with the base class's `self.client` (an `httpx.AsyncClient` with the config's
timeout), build the request from the `ChatMessage` list, time it with
`time.perf_counter()`, let `response.raise_for_status()` report errors, parse into a
`ChatResponse`, return `List[str]` from `list_models()` and a bool from `health_check()`,
and register it through `get_provider_manager()`. It talks to a small real HTTP API on
127.0.0.1, and the tests drive it only through the public surface: the manager, the
notebook helpers (`cp.chat`, `cp.compare`, `cp.benchmark`, `cp.models`, `cp.health`),
the comparison widget, the HTTP API and `check_provider`. The last tests are the
mistakes a guide-following author makes, and the errors that explain them.
"""

# The providers are written as the guide writes them (typing.List/Optional, a bare
# `except Exception` in health_check, a bare `Exception` in the mistake being tested).
# ruff: noqa: UP006, UP035, UP045, BLE001, TRY002

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List, Optional

import httpx
import pytest

import closedpaw_nb as cp
import closedpaw_nb.manager as manager_module
from closedpaw_nb import (
    BaseProvider,
    ChatMessage,
    ChatResponse,
    ConfigError,
    ProviderConfig,
    ProviderManager,
    ProviderType,
    _runner,
    get_provider_manager,
)
from closedpaw_nb.errors import (
    NotFoundError,
    ProviderError,
    ProviderImplementationError,
)
from closedpaw_nb.testing import check_provider

MODEL = "tiny-1"
MAX_BODY = 64 * 1024  # the API reads no request body larger than this
TOKEN = "guide-provider-test-token-5d1e"


# -- a small real HTTP API on 127.0.0.1 ---------------------------------------------------


class TinyAPI(ThreadingHTTPServer):
    """`POST /generate` {"model", "prompt"} -> {"text": PROMPT UPPERCASED, "model", "tokens"};
    an unknown model is a 404 with a JSON error; `GET /health` is 200. Records every request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), TinyHandler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def record(self, method: str, path: str, body: Any = None) -> None:
        with self.lock:
            self.requests.append({"method": method, "path": path, "body": body})

    def seen(self, path: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if path is None or r["path"] == path]

    def generated(self) -> list[dict[str, Any]]:
        """Bodies of the POST /generate requests received, oldest first."""
        return [r["body"] for r in self.seen("/generate") if r["method"] == "POST"]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()


class TinyHandler(BaseHTTPRequestHandler):
    server: TinyAPI

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.record("GET", self.path)
        if self.path == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self.server.record("POST", self.path, None)
            self._send(413 if length > MAX_BODY else 411, {"error": f"body must be 1..{MAX_BODY} bytes"})
            return
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            body = None
        self.server.record("POST", self.path, body)
        if self.path != "/generate":
            self._send(404, {"error": f"no route {self.path}"})
        elif not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            self._send(400, {"error": "send a JSON object with model and prompt"})
        elif body.get("model") != MODEL:
            self._send(404, {"error": f"model {body.get('model')!r} not found"})
        else:
            prompt = body["prompt"]
            self._send(200, {"text": prompt.upper(), "model": MODEL, "tokens": len(prompt.split())})


@pytest.fixture(scope="module")
def tiny_server() -> Iterator[TinyAPI]:
    server = TinyAPI()
    thread = threading.Thread(target=server.serve_forever, name="tiny-api", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def api(tiny_server: TinyAPI) -> TinyAPI:
    """The tiny API, with its record of requests cleared for this test."""
    tiny_server.reset()
    return tiny_server


# -- the provider, exactly as the guide says to write it ---------------------------------


class TinyProvider(BaseProvider):
    """The tiny API's provider, written step by step from the ClosedPaw guide."""

    async def chat(self, messages: List[ChatMessage], model: Optional[str] = None, **kwargs) -> ChatResponse:
        model = model or self.config.default_model
        prompt = "\n".join(f"{m.role}: {m.content}" for m in messages)
        start = time.perf_counter()
        response = await self.client.post(f"{self.config.base_url}/generate", json={"model": model, "prompt": prompt})
        latency_ms = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            response.raise_for_status()
        data = response.json()
        return ChatResponse(
            content=data["text"],
            model=data["model"],
            provider=self.config.name,
            tokens_used=data["tokens"],
            finish_reason="stop",
            latency_ms=latency_ms,
        )

    async def list_models(self) -> List[str]:
        return [MODEL]

    async def health_check(self) -> bool:
        try:
            response = await self.client.get(f"{self.config.base_url}/health")
            return response.status_code == 200
        except Exception:
            return False


# The mistakes a guide-following author makes.


class DictProvider(TinyProvider):
    """Returns the API's JSON instead of a ChatResponse."""

    async def chat(self, messages: List[ChatMessage], model: Optional[str] = None, **kwargs) -> ChatResponse:
        prompt = "\n".join(f"{m.role}: {m.content}" for m in messages)
        response = await self.client.post(
            f"{self.config.base_url}/generate", json={"model": model or MODEL, "prompt": prompt}
        )
        return response.json()


class BareErrorProvider(TinyProvider):
    """Reports a non-200 the way the guide's reference providers do: a bare Exception."""

    async def chat(self, messages: List[ChatMessage], model: Optional[str] = None, **kwargs) -> ChatResponse:
        prompt = "\n".join(f"{m.role}: {m.content}" for m in messages)
        start = time.perf_counter()
        response = await self.client.post(
            f"{self.config.base_url}/generate", json={"model": model or MODEL, "prompt": prompt}
        )
        if response.status_code != 200:
            raise Exception(f"API error: {response.status_code}")
        data = response.json()
        return ChatResponse(
            content=data["text"],
            model=data["model"],
            provider=self.config.name,
            latency_ms=(time.perf_counter() - start) * 1000,
        )


class NoSuperProvider(TinyProvider):
    """Sets provider defaults in its constructor, as the guide's step 1 says, but forgets super()."""

    def __init__(self, config: ProviderConfig) -> None:
        self.base_url = config.base_url or "http://127.0.0.1:9"


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderManager]:
    """A fresh process-wide manager (what `get_provider_manager()` and `cp.*` use), closed after."""
    monkeypatch.delenv("OLLAMA_HOST", raising=False)  # the seed's default entry stays on loopback
    monkeypatch.setattr(manager_module, "_singleton", None)
    mgr = get_provider_manager()
    yield mgr
    _runner.run(mgr.close_all())


def tiny_config(api: TinyAPI, name: str = "tiny", **changes: Any) -> ProviderConfig:
    fields: dict[str, Any] = {"name": name, "base_url": api.url, "default_model": MODEL}
    fields.update(changes)
    return ProviderConfig(ProviderType.CUSTOM, **fields)


def register(
    mgr: ProviderManager, api: TinyAPI, name: str = "tiny", cls: type[BaseProvider] = TinyProvider, **changes: Any
) -> BaseProvider:
    return mgr.register_provider(tiny_config(api, name, **changes), provider_class=cls)


# -- a. the base class's HTTP client -------------------------------------------------------


def test_client_is_an_httpx_client_with_the_config_timeout_opened_lazily(api, manager):
    provider = register(manager, api, timeout=12.5)
    assert isinstance(provider, TinyProvider) and manager.get_provider("tiny") is provider
    assert api.seen() == [], "registering must not contact the API"

    client = provider.client
    assert isinstance(client, httpx.AsyncClient)
    assert client.timeout == httpx.Timeout(12.5)
    assert provider.client is client, "self.client must be one client, not a new one per access"
    assert api.seen() == [], "creating the client must not contact the API"

    reply = _runner.run(manager.chat("ping", provider="tiny"))
    assert reply.content == "USER: PING" and len(api.generated()) == 1
    assert not client.is_closed

    _runner.run(provider.close())
    assert client.is_closed
    _runner.run(provider.close())  # safe to call twice
    assert client.is_closed


# -- b. through the manager ---------------------------------------------------------------


def test_manager_chat_with_a_list_of_chat_messages(api, manager):
    register(manager, api)
    reply = _runner.run(manager.chat([ChatMessage("user", "hello")], provider="tiny"))
    assert isinstance(reply, ChatResponse)
    assert reply.content == "USER: HELLO"
    assert (reply.model, reply.provider, reply.tokens_used, reply.finish_reason) == (MODEL, "tiny", 2, "stop")
    assert reply.latency_ms is not None and reply.latency_ms > 0
    assert api.generated() == [{"model": MODEL, "prompt": "user: hello"}]


# -- c. the notebook helper cp.chat ---------------------------------------------------------


def test_cp_chat_with_a_bare_prompt_and_with_a_system_prompt(api, manager):
    register(manager, api)
    reply = cp.chat("hello", "tiny")
    assert reply.content == "USER: HELLO" and reply.provider == "tiny"
    # A bare string prompt reached the provider as [ChatMessage("user", "hello")]: the
    # provider iterated m.role / m.content to build exactly this prompt.
    assert api.generated() == [{"model": MODEL, "prompt": "user: hello"}]

    reply = cp.chat("hello", "tiny:tiny-1", system="be brief")
    assert reply.content == "SYSTEM: BE BRIEF\nUSER: HELLO"
    assert api.generated()[-1] == {"model": MODEL, "prompt": "system: be brief\nuser: hello"}


# -- d. cp.compare ---------------------------------------------------------------------------


def test_cp_compare(api, manager):
    register(manager, api)
    result = cp.compare(["a", "b"], ["tiny:tiny-1"])
    df = result.df
    assert len(df) == 2 and df.ok.all(), df[["target", "ok", "error"]].to_string()
    assert list(df.target) == ["tiny:tiny-1", "tiny:tiny-1"]
    assert list(df.prompt) == ["a", "b"]
    assert list(df.response) == ["USER: A", "USER: B"]
    assert (df.latency_ms > 0).all()
    assert sorted(b["prompt"] for b in api.generated()) == ["user: a", "user: b"]


# -- e. cp.benchmark ---------------------------------------------------------------------------


def test_cp_benchmark(api, manager, tmp_path):
    register(manager, api)
    run = cp.benchmark(
        ["p1", "p2"], ["tiny:tiny-1"], trials=2, warmup=0, store=str(tmp_path / "runs.sqlite"), progress=False
    )
    try:
        df = run.df
        assert len(df) == 4 and df.ok.all(), df[["target", "ok", "error"]].to_string()
        assert sorted(df.response) == ["USER: P1", "USER: P1", "USER: P2", "USER: P2"]
        assert (df.latency_ms > 0).all()
        summary = run.summary()
        assert "tiny:tiny-1" in summary.index
        assert summary.loc["tiny:tiny-1", "n"] == 4 and summary.loc["tiny:tiny-1", "n_ok"] == 4
        assert len(api.generated()) == 4
    finally:
        run.store.close()


# -- f. models and health ------------------------------------------------------------------------


def test_models_and_health(api, manager):
    register(manager, api)
    register(manager, api, name="sick", base_url=f"{api.url}/sick")  # /sick/health is a 404

    models = cp.models()
    assert models[models.provider == "tiny"].model.tolist() == [MODEL]
    assert _runner.run(manager.list_all_models())["tiny"] == [MODEL]

    api.reset()
    health = cp.health().set_index("provider")
    assert bool(health.loc["tiny", "ok"]) is True, health.to_string()
    assert bool(health.loc["sick", "ok"]) is False, health.to_string()
    assert health.loc["sick", "status"] != "ok"
    # Each probe was the provider's own health_check(): a GET of its /health.
    probed = [r["path"] for r in api.seen() if r["method"] == "GET"]
    assert "/health" in probed and "/sick/health" in probed, probed
    assert api.generated() == [], "a health probe must not generate"


# -- g. the comparison widget ---------------------------------------------------------------------


def test_comparison_widget(api, manager):
    import ipywidgets as w

    from closedpaw_nb.widgets import ComparisonPanel

    register(manager, api)
    try:
        panel = ComparisonPanel(manager)
        assert "tiny:tiny-1" in panel.targets.options
        panel.prompt.value = "hello widget"
        panel.targets.value = ("tiny:tiny-1",)
        panel.run_button.click()
        panel.wait()
        assert panel.error == "", panel.error
        df = panel.results
        assert len(df) == 1 and bool(df.ok.iloc[0]), df[["target", "ok", "error"]].to_string()
        assert df.target.iloc[0] == "tiny:tiny-1"
        assert df.response.iloc[0] == "USER: HELLO WIDGET"
        assert api.generated() == [{"model": MODEL, "prompt": "user: hello widget"}]
    finally:
        w.Widget.close_all()


# -- h. the HTTP API ----------------------------------------------------------------------------------


async def test_http_api(api):
    from closedpaw_nb.server import create_app

    mgr = ProviderManager()
    mgr.register_provider(tiny_config(api), provider_class=TinyProvider)
    app = create_app(mgr, token=TOKEN)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://127.0.0.1",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as client:
            listed = await client.get("/api/providers")
            assert listed.status_code == 200, listed.text
            providers = listed.json()["providers"]
            assert "tiny" in providers and providers["tiny"]["provider_type"] == "custom"

            models = await client.get("/api/providers/tiny/models")
            assert models.status_code == 200, models.text
            ids = [m["id"] if isinstance(m, dict) else m for m in models.json()["models"]]
            assert ids == [MODEL]

            reply = await client.post(
                "/api/chat", json={"provider": "tiny", "messages": [{"role": "user", "content": "hi"}]}
            )
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert body["content"] == "USER: HI" and body["provider"] == "tiny" and body["model"] == MODEL
            assert api.generated() == [{"model": MODEL, "prompt": "user: hi"}]

            missing = await client.post(
                "/api/chat",
                json={"provider": "tiny", "model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]},
            )
            # The provider's 404 (no such model) is a 404 naming the error class and the upstream status.
            assert missing.status_code == 404, missing.text
            error = missing.json()["error"]
            assert error["type"] == "NotFoundError" and error["upstream_status"] == 404, error
    finally:
        await mgr.close_all()


# -- i. the contract check --------------------------------------------------------------------------


def test_check_provider_passes(api, manager):
    provider = register(manager, api)
    report = check_provider(provider, model=MODEL, missing_model="no-such-model")
    assert report.passed, str(report)
    names = " | ".join(c.name for c in report.checks)
    for part in ("chat", "stream", "list_models", "health", "error"):
        assert part in names, f"no {part!r} check in: {names}"
    assert any(b.get("model") == "no-such-model" for b in api.generated()), "the missing model was not tried"


def test_unknown_model_is_not_found(api, manager):
    register(manager, api)
    with pytest.raises(NotFoundError) as info:
        cp.chat("hello", "tiny:no-such-model")
    assert info.value.status_code == 404 and info.value.provider == "tiny"
    assert "127.0.0.1" not in str(info.value), "the URL must not leak into the message"


# -- j. the mistakes a guide-following author makes are explained ---------------------------------------


def test_chat_returning_a_dict_says_to_return_a_chat_response(api, manager):
    register(manager, api, name="dicty", cls=DictProvider)
    with pytest.raises(ProviderImplementationError) as info:
        cp.chat("hello", "dicty")
    assert isinstance(info.value, ProviderError)
    message = str(info.value)
    assert "ChatResponse" in message and "dict" in message, message
    assert len(api.generated()) == 1, "the request was sent once (a contract error is not retried)"


def test_check_provider_reports_a_dict_returning_chat(api, manager):
    provider = register(manager, api, name="dicty", cls=DictProvider)
    report = check_provider(provider, model=MODEL, missing_model="no-such-model", raise_on_failure=False)
    assert not report.passed
    assert any("ChatResponse" in c.detail for c in report.failures), str(report)


def test_bare_exception_on_an_http_error_points_to_raise_for_status(api, manager):
    register(manager, api, name="bare", cls=BareErrorProvider)
    with pytest.raises(ProviderImplementationError) as info:
        cp.chat("hello", "bare:no-such-model")
    assert isinstance(info.value, ProviderError)
    message = str(info.value)
    assert "raise_for_status" in message and "404" in message, message
    assert len(api.generated()) == 1


def test_forgotten_super_init_is_refused_at_registration(api, manager):
    before = list(manager.names)
    with pytest.raises(ConfigError) as info:
        register(manager, api, name="nosuper", cls=NoSuperProvider)
    assert "super().__init__(config)" in str(info.value), str(info.value)
    assert "nosuper" not in manager and manager.names == before
    assert api.seen() == []
