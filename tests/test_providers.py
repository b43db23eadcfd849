"""Every built-in provider against the simulator: the contract, health, wire mapping and errors."""

from __future__ import annotations

import socket

import pytest

from closedpaw_nb import errors as E
from closedpaw_nb.sim import Fault
from closedpaw_nb.testing import acheck_provider
from closedpaw_nb.types import HealthState
from conftest import PROVIDER_TYPES

MOUNT = {"custom": "openai"}


def mount(provider_type: str) -> str:
    return MOUNT.get(provider_type, provider_type)


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_builtin_provider_passes_the_contract(sim, provider_type, build):
    provider = build(provider_type)
    # Ollama needs no key, so a bad key cannot fail; the simulator can require one.
    bad = None if provider_type == "ollama" else build(provider_type, key="invalid-key-0123456789")
    report = await acheck_provider(provider, bad_key_provider=bad, missing_model="missing-model")
    assert report.passed, str(report)
    assert {c.name for c in report.checks} >= {
        "constructed with super().__init__(config)",
        "chat returns a ChatResponse",
        "stream equals chat",
        "list_models returns model ids",
        "health",
        "errors are ProviderErrors (unknown model)",
        "error mapping: invalid key",
    } - ({"error mapping: invalid key"} if bad is None else set())


async def test_ollama_bad_key_when_the_server_requires_one(sim, build):
    sim.simulator.ollama_requires_key = True
    try:
        bad = build("ollama", key="invalid-key-0123456789")
        with pytest.raises(E.AuthenticationError):
            await bad.chat("hi")
        assert (await bad.check_health()).status is HealthState.AUTH_FAILED
    finally:
        sim.simulator.ollama_requires_key = False


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_health_is_not_running_on_a_closed_local_port(sim, provider_type, build):
    url = f"http://127.0.0.1:{closed_port()}" + ("/v1" if provider_type in ("openai", "custom") else "")
    provider = build(provider_type, base_url=url)
    status = await provider.check_health()
    # a loopback server that nothing answers for is not running (grey), not an unreachable cloud API
    assert status.status is HealthState.NOT_RUNNING and not await provider.health_check()
    assert status.detail == "nothing answers: is the server started?"
    assert "127.0.0.1" not in status.detail or "://" not in status.detail
    with pytest.raises(E.APIConnectionError):
        await provider.chat("hi")


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_health_probe_never_bills(sim, provider_type, build):
    await build(provider_type).check_health()
    paths = [r.path for r in sim.simulator.requests]
    assert paths and not any(
        p.endswith(("/chat/completions", "/messages", "/api/chat")) or "generateContent" in p for p in paths
    )


SYSTEM = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi there"}]


async def test_system_prompt_goes_where_each_api_wants_it(sim, build):
    for provider_type in PROVIDER_TYPES:
        await build(provider_type).chat(SYSTEM)
    by = {r.provider: r.json for r in sim.simulator.requests}
    assert by["anthropic"]["system"] == "Be terse." and all(m["role"] != "system" for m in by["anthropic"]["messages"])
    assert by["google"]["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
    assert [c["role"] for c in by["google"]["contents"]] == ["user"]
    for name in ("openai", "mistral", "ollama"):
        assert by[name]["messages"][0] == {"role": "system", "content": "Be terse."}


async def test_common_knobs_map_to_each_api_s_own_names(sim, build):
    knobs = dict(temperature=0.2, top_p=0.9, max_tokens=12, stop=["\n\n"], seed=7)
    for provider_type in ("openai", "anthropic", "google", "mistral", "ollama"):
        await build(provider_type).chat("Hi", **knobs)
    by = {r.provider: r.json for r in sim.simulator.requests}
    assert {k: by["openai"][k] for k in ("temperature", "top_p", "max_completion_tokens", "stop", "seed")} == {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_completion_tokens": 12,
        "stop": ["\n\n"],
        "seed": 7,
    }
    assert {k: by["anthropic"][k] for k in ("temperature", "top_p", "max_tokens", "stop_sequences")} == {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 12,
        "stop_sequences": ["\n\n"],
    }
    assert "seed" not in by["anthropic"]
    assert by["google"]["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 12,
        "stopSequences": ["\n\n"],
        "seed": 7,
    }
    assert {k: by["mistral"][k] for k in ("max_tokens", "random_seed")} == {"max_tokens": 12, "random_seed": 7}
    assert by["ollama"]["options"] == {"temperature": 0.2, "top_p": 0.9, "num_predict": 12, "stop": ["\n\n"], "seed": 7}


async def test_anthropic_always_sends_max_tokens_and_version(sim, build):
    await build("anthropic").chat("Hi")
    request = sim.simulator.requests[-1]
    assert request.json["max_tokens"] == 1024 and request.headers["anthropic-version"] == "2023-06-01"


async def test_stream_requests_usage_where_the_api_needs_asking(sim, build):
    for provider_type in ("openai", "mistral", "custom"):
        stream = build(provider_type).stream("Hi")
        response = await stream.get_response()
        assert response.completion_tokens and response.completion_tokens > 0
    by = [(r.provider, r.json) for r in sim.simulator.requests]
    assert by[0][1]["stream_options"] == {"include_usage": True}
    assert "stream_options" not in by[1][1]  # Mistral rejects unknown fields with 422


async def test_gemini_key_travels_only_in_the_header(sim, canary, build):
    provider = build("google", key=canary)
    await provider.chat("Hi")
    await provider.stream("Hi").get_response()
    await provider.list_models()
    for request in sim.simulator.requests:
        assert not request.key_in_query and canary not in request.path + request.query
        assert request.headers["x-goog-api-key"] == canary


async def test_unknown_chat_option_is_a_clear_error_before_sending(sim, build):
    with pytest.raises(E.ConfigError, match="unknown chat option"):
        await build("openai").chat("Hi", temprature=0.1)
    assert sim.simulator.requests == []


STATUS_CASES = [
    (400, E.BadRequestError),
    (401, E.AuthenticationError),
    (403, E.PermissionDeniedError),
    (404, E.NotFoundError),
    (409, E.ConflictError),
    (422, E.UnprocessableEntityError),
    (429, E.RateLimitError),
    (500, E.InternalServerError),
    (503, E.InternalServerError),
]


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
@pytest.mark.parametrize("status, error", STATUS_CASES)
async def test_error_statuses_map_to_the_error_tree(sim, provider_type, status, error, build):
    provider = build(provider_type)
    sim.simulator.add_fault(Fault("status", provider=mount(provider_type), status=status, times=2))
    with pytest.raises(error) as info:
        await provider.chat("Hi")
    assert info.value.status_code == status and info.value.provider == provider_type
    with pytest.raises(error):
        await provider.stream("Hi").get_response()


@pytest.mark.parametrize(
    "provider_type, fault, error",
    [
        ("anthropic", Fault("status", provider="anthropic", status=529), E.OverloadedError),
        ("openai", Fault("status", provider="openai", status=429, code="insufficient_quota"), E.QuotaExhaustedError),
        ("google", Fault("status", provider="google", status=429, quota="day"), E.QuotaExhaustedError),
    ],
)
async def test_provider_specific_error_kinds(sim, provider_type, fault, error, build):
    sim.simulator.add_fault(fault)
    with pytest.raises(error):
        await build(provider_type).chat("Hi")


async def test_retry_after_sources_are_read(sim, build):
    sim.simulator.add_fault(
        Fault("status", provider="openai", status=429, headers={"retry-after-ms": "1500", "retry-after": "10"})
    )
    sim.simulator.add_fault(Fault("status", provider="google", status=429, retry_delay="45.837906927s"))
    sim.simulator.add_fault(Fault("status", provider="anthropic", status=503, headers={"x-should-retry": "false"}))
    sim.simulator.add_fault(Fault("status", provider="mistral", status=400, headers={"x-should-retry": "true"}))
    errors = {}
    for provider_type in ("openai", "google", "anthropic", "mistral"):
        with pytest.raises(E.ProviderError) as info:
            await build(provider_type).chat("Hi")
        errors[provider_type] = info.value
    assert errors["openai"].retry_after == 1.5
    assert errors["google"].retry_after == pytest.approx(45.837906927)
    assert errors["anthropic"].retryable is False and errors["mistral"].retryable is True


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_cut_stream_keeps_partial_text(sim, provider_type, build):
    provider = build(provider_type)
    sim.simulator.add_fault(Fault("cut_stream", provider=mount(provider_type), after=3))
    stream = provider.stream("Hi")
    seen = []
    with pytest.raises(E.StreamInterruptedError) as info:
        async for delta in stream:
            seen.append(delta)
    assert len(seen) == 3 and info.value.partial_text == "".join(seen)


@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_in_stream_error_event_is_typed_and_keeps_partial_text(sim, provider_type, build):
    provider = build(provider_type)
    sim.simulator.add_fault(Fault("stream_error", provider=mount(provider_type), after=2))
    seen = []
    with pytest.raises(E.ProviderError) as info:
        async for delta in provider.stream("Hi"):
            seen.append(delta)
    assert not isinstance(info.value, E.ResponseParseError)
    assert len(seen) == 2 and info.value.partial_text == "".join(seen) and info.value.retryable is False
    if provider_type == "anthropic":
        assert isinstance(info.value, E.OverloadedError)


@pytest.mark.parametrize("variant", ["truncated", "not_json", "html"])
@pytest.mark.parametrize("provider_type", PROVIDER_TYPES)
async def test_malformed_bodies_are_parse_errors(sim, provider_type, variant, build):
    sim.simulator.add_fault(Fault("malformed", provider=mount(provider_type), variant=variant))
    expected = E.InternalServerError if variant == "html" else E.ResponseParseError
    with pytest.raises(expected) as info:
        await build(provider_type).chat("Hi")
    assert len(str(info.value)) < 700


async def test_hang_before_headers_is_a_timeout(sim, build):
    provider = build("openai", timeout=0.3)
    sim.simulator.add_fault(Fault("hang", provider="openai"))
    with pytest.raises(E.APITimeoutError):
        await provider.chat("Hi")


async def test_connection_reset_is_a_connection_error(sim, build):
    sim.simulator.add_fault(Fault("reset", provider="anthropic"))
    with pytest.raises(E.APIConnectionError):
        await build("anthropic").chat("Hi")


async def test_redirects_are_not_followed(sim, build):
    sim.simulator.add_fault(Fault("redirect", provider="openai", location="http://127.0.0.1:9/steal"))
    with pytest.raises(E.ProviderError) as info:
        await build("openai").chat("Hi")
    assert info.value.status_code == 307


@pytest.mark.parametrize("same_origin", [True, False])
async def test_a_followed_redirect_keeps_key_headers_only_within_the_origin(same_origin):
    """With follow_redirects on, a redirect within the origin (written with another host
    spelling of the same origin) keeps the key; to another origin, neither Authorization
    nor a key put in extra_headers goes along."""
    from transport.servers import Server, response

    from closedpaw_nb import ProviderConfig
    from closedpaw_nb.providers.openai import OpenAIProvider

    async def handler(conn):
        while (request := await conn.read_request()) is not None:
            if request.target == b"/v1/models":
                host = "127.0.0.1" if same_origin else "localhost"
                await conn.send(response(b"", 307, (b"location: http://%s:%d/v2/models" % (host.encode(), port),)))
            else:
                await conn.respond(b'{"object": "list", "data": [{"id": "m"}]}')

    async with Server(handler) as server:
        port = server.port
        provider = OpenAIProvider(
            ProviderConfig(
                "openai",
                api_key="sk-test-redirect-0123456789",
                base_url=f"http://127.0.0.1:{port}/v1",
                settings={"follow_redirects": True, "extra_headers": {"X-Api-Key": "xk-extra-0123456789"}},
            )
        )
        await provider.fetch_models()
        await provider.close()
    first, second = server.requests
    assert first.headers[b"authorization"] == b"Bearer sk-test-redirect-0123456789"
    kept = {b"authorization", b"x-api-key"} & set(second.headers)
    assert kept == ({b"authorization", b"x-api-key"} if same_origin else set())


@pytest.fixture(scope="module")
def crowded_sim():
    """A simulator listing 1,105 models: more than one page even at the APIs' largest page size."""
    from closedpaw_nb.sim import LatencyProfile, Simulator, serve_in_thread

    profiles = {
        f"sim-extra-{i:04d}": LatencyProfile(ttft_ms=1.0, tokens_per_s=100.0, output_tokens=4) for i in range(1103)
    }
    with serve_in_thread(simulator=Simulator(profiles=profiles, time_scale=0)) as server:
        yield server


@pytest.mark.parametrize("provider_type, page_param", [("anthropic", "after_id"), ("google", "pageToken")])
async def test_model_lists_follow_every_page(crowded_sim, provider_type, page_param):
    """Paging parameters reach the server, so a long model list is fetched in full, once."""
    from closedpaw_nb import ProviderManager
    from conftest import sim_config

    manager = ProviderManager()
    manager.register_provider(sim_config(crowded_sim, provider_type))
    try:
        models = await manager.get_provider(provider_type).fetch_models()
    finally:
        await manager.close_all()
    assert len({m.id for m in models}) == 1105
    listed = [
        r
        for r in crowded_sim.simulator.requests
        if r.provider == provider_type and r.method == "GET" and r.path.endswith("/models")
    ]
    assert len(listed) == 2 and page_param in listed[1].query


@pytest.mark.parametrize(
    "provider_type, header",
    [
        ("openai", "authorization"),
        ("anthropic", "x-api-key"),
        ("google", "x-goog-api-key"),
        ("mistral", "authorization"),
    ],
)
def test_each_provider_names_the_header_that_carries_its_key(sim, provider_type, header, build):
    provider = build(provider_type)
    assert header in provider.secret_headers
    assert header in {h.lower() for h in provider.auth_headers()}


def test_provider_facts_are_answered_by_the_provider(monkeypatch, build):
    from closedpaw_nb.providers import provider_class
    from closedpaw_nb.types import ProviderType

    monkeypatch.setenv("OLLAMA_HOST", "10.1.2.3:4567")
    assert provider_class(ProviderType.OLLAMA).official_base_url() == "http://10.1.2.3:4567"
    assert provider_class(ProviderType.OPENAI).official_base_url() == "https://api.openai.com/v1"
    assert provider_class(ProviderType.CUSTOM).official_base_url() is None
    local = build("openai")
    assert local.is_local and not local.simulated
    simulated = build("anthropic", settings={"simulated": True})
    assert simulated.simulated
