"""The transport against a hostile server: every input a server controls is bounded.

Each test here failed on the hand-written pool this transport replaced (see issue 17):
unbounded heads, quadratic and uncapped stream lines, no total time limit, a model
name leaving its path, a DNS answer never checked at connect time, caches that grow
with every distinct path, and keys echoed back in short or JSON-escaped form.
"""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path

import pytest

import closedpaw_nb
from closedpaw_nb import ProviderConfig
from closedpaw_nb.errors import APIConnectionError, APITimeoutError, ConfigError, ResponseParseError
from closedpaw_nb.providers.openai import OpenAIProvider
from closedpaw_nb.transport.client import HTTPClient
from closedpaw_nb.transport.redact import redact, register_secret
from closedpaw_nb.transport.streams import NDJSONDecoder, SSEDecoder, StreamLineTooLong

from .servers import Conn, Server, answer_all

pytestmark = pytest.mark.timeout(30)


def head_with(lines: list[bytes]) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + b"".join(line + b"\r\n" for line in lines) + b"content-length: 2\r\n\r\nok"


def sending(data: bytes):
    async def handler(conn: Conn) -> None:
        if await conn.read_request() is not None:
            await conn.send(data)
            await conn.wait_for_hangup()

    return handler


# -- 1. the response head is capped --------------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [
        [b"x-h%d: v" % i for i in range(150)],  # too many fields
        [b"x-h%d: %s" % (i, b"b" * 4000) for i in range(20)],  # 80 KB in 20 fields
        [b"x-big: " + b"a" * 100_000],  # one huge value
    ],
    ids=["150-fields", "80-KB", "one-100-KB-value"],
)
async def test_an_oversized_response_head_is_a_typed_error(lines):
    async with Server(sending(head_with(lines))) as server:
        client = HTTPClient(server.url, {}, 2.0, provider="x")
        try:
            with pytest.raises(ResponseParseError, match="header section"):
                await client.request("GET", "/")
        finally:
            await client.aclose()


async def test_a_head_within_the_limits_is_read():
    lines = [b"x-h%d: %s" % (i, b"b" * 500) for i in range(90)]  # 90 fields, 45 KB
    async with Server(sending(head_with(lines))) as server:
        client = HTTPClient(server.url, {}, 2.0, provider="x")
        try:
            assert (await client.request("GET", "/")).content == b"ok"
        finally:
            await client.aclose()


# -- 2. stream lines and whole streams are capped; decoding is linear -----------------------------


@pytest.mark.parametrize("decoder", [SSEDecoder, NDJSONDecoder])
def test_a_line_longer_than_the_cap_raises(decoder):
    parser = decoder(max_line=1000)
    parser.feed(b"data: " + b"x" * 900)
    with pytest.raises(StreamLineTooLong):
        parser.feed(b"x" * 200)


def test_a_long_line_in_small_chunks_decodes_in_linear_time():
    """8 MB without a newline, in 64-byte chunks (131,072 feeds): rescanning the buffer on
    each chunk would take hours; the pytest timeout catches that."""
    parser = SSEDecoder(max_line=16 * 1024 * 1024)
    chunk = b"x" * 64
    parser.feed(b"data: ")
    for _ in range(8 * 1024 * 1024 // 64):
        assert parser.feed(chunk) == []
    (event,) = parser.feed(b"\n\n")
    assert len(event.data) == 8 * 1024 * 1024


def sse_server(body_parts: list[bytes]):
    async def handler(conn: Conn) -> None:
        if await conn.read_request() is None:
            return
        await conn.send(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        for part in body_parts:
            await conn.send(b"%x\r\n%s\r\n" % (len(part), part))
        await conn.wait_for_hangup()

    return handler


def provider_at(url: str, **settings) -> OpenAIProvider:
    return OpenAIProvider(
        ProviderConfig("openai", api_key="sk-test-0123456789", base_url=url, default_model="m", settings=settings)
    )


async def test_a_stream_line_over_the_cap_is_a_parse_error():
    async with Server(sse_server([b"data: " + b"x" * 60_000] * 5)) as server:
        provider = provider_at(server.url, max_stream_line_bytes=100_000)
        try:
            with pytest.raises(ResponseParseError, match="max_stream_line_bytes"):
                async for _ in provider.stream("hi"):
                    pass
        finally:
            await provider.close()


async def test_a_stream_over_its_total_cap_is_a_parse_error():
    event = b'data: {"id":"1","choices":[{"index":0,"delta":{"content":"ab"}}]}\n\n'
    async with Server(sse_server([event * 100] * 50)) as server:
        provider = provider_at(server.url, max_stream_bytes=100_000)
        try:
            with pytest.raises(ResponseParseError, match="max_stream_bytes"):
                async for _ in provider.stream("hi"):
                    pass
        finally:
            await provider.close()


# -- 12. a total time limit per exchange ----------------------------------------------------------


async def test_a_body_dripping_within_the_read_timeout_hits_the_total_limit():
    async def drip(conn: Conn) -> None:
        if await conn.read_request() is None:
            return
        await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
        for _ in range(1000):
            await conn.send(b"x")
            await asyncio.sleep(0.05)

    async with Server(drip) as server:
        client = HTTPClient(server.url, {}, 1.0, provider="x", total_timeout=0.5)
        try:
            with pytest.raises(APITimeoutError, match="total"):
                await client.request("GET", "/")
        finally:
            await client.aclose()


async def test_endless_102_processing_hits_the_total_limit():
    async def processing(conn: Conn) -> None:
        if await conn.read_request() is None:
            return
        for _ in range(1000):
            await conn.send(b"HTTP/1.1 102 Processing\r\n\r\n")
            await asyncio.sleep(0.05)

    async with Server(processing) as server:
        client = HTTPClient(server.url, {}, 1.0, provider="x", total_timeout=0.5)
        try:
            with pytest.raises(APITimeoutError):
                await client.request("GET", "/")
        finally:
            await client.aclose()


def test_a_provider_passes_its_total_timeout_to_the_client():
    async def scenario() -> float | None:
        provider = provider_at("http://127.0.0.1:9", total_timeout=7.5)
        try:
            return provider.http._timeout.total
        finally:
            await provider.close()

    assert asyncio.run(scenario()) == 7.5


# -- 6. addresses are checked at connect time ---------------------------------------------------


async def test_an_address_check_refuses_what_a_name_resolves_to():
    """`localhost` resolves (for real) to loopback; a check refusing loopback stops the
    connection before any byte is sent, naming the reason."""
    refused: list[str] = []

    def no_loopback(address: str) -> str | None:
        refused.append(address)
        return "loopback addresses are not allowed here"

    async with Server(answer_all) as server:
        client = HTTPClient(f"http://localhost:{server.port}", {}, 2.0, provider="x", address_check=no_loopback)
        try:
            with pytest.raises(APIConnectionError, match="refused to connect: loopback"):
                await client.request("GET", "/")
        finally:
            await client.aclose()
        assert server.connections == 0 and refused


def test_an_address_check_refuses_an_ip_literal_too():
    with pytest.raises(APIConnectionError, match="refused"):
        HTTPClient("http://127.0.0.1:9", {}, 2.0, provider="x", address_check=lambda a: "no")


# -- 7. model names never leave their path -------------------------------------------------------


@pytest.mark.parametrize("model", ["sim-small/../../../../../admin/x", "..", "a/b", "m?x=1", "m#f", "m%2e%2e"])
async def test_a_google_model_name_cannot_leave_its_path(sim, build, model):
    provider = build("google")
    before = len(sim.simulator.requests)
    with pytest.raises(ConfigError, match="not a Gemini model id"):
        await provider.chat("hi", model=model)
    assert len(sim.simulator.requests) == before


async def test_a_google_model_with_the_models_prefix_still_works(build):
    assert (await build("google").chat("hi", model="models/sim-small")).content


@pytest.mark.parametrize("path", ["/v1/../admin", "/v1/%2e%2e/admin", "/v1/a b", "/v1/x\r\nHost: evil"])
async def test_the_client_refuses_a_path_that_could_leave_the_base_path(path):
    async with Server(answer_all) as server:
        client = HTTPClient(server.url, {}, 2.0, provider="x")
        try:
            with pytest.raises(ConfigError):
                await client.request("GET", path)
        finally:
            await client.aclose()
        assert server.connections == 0


# -- 10. no unbounded per-client state -------------------------------------------------------------


def _sizes(obj: object, depth: int = 3, seen: set[int] | None = None) -> int:
    """Items held in dicts, lists and sets reachable from `obj`'s attributes (a few levels)."""
    seen = seen if seen is not None else set()
    if id(obj) in seen or depth < 0:
        return 0
    seen.add(id(obj))
    total = 0
    if isinstance(obj, (dict, list, set, tuple)):
        items = list(obj.values()) if isinstance(obj, dict) else list(obj)
        total += len(items)
        for item in items:
            total += _sizes(item, depth - 1, seen)
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("closedpaw_nb"):
        total += _sizes(vars(obj), depth - 1, seen)
    return total


async def test_distinct_paths_leave_nothing_behind_in_the_client():
    async with Server(answer_all) as server:
        client = HTTPClient(server.url, {}, 2.0, provider="x")
        try:
            await client.request("GET", "/m/0")
            baseline = _sizes(client)
            for i in range(1, 3000):
                await client.request("GET", f"/m/{i}")
            assert _sizes(client) <= baseline + 5
        finally:
            await client.aclose()


# -- 11. redaction ---------------------------------------------------------------------------------


def test_a_short_key_is_never_echoed_standing_alone():
    register_secret("k3y9")
    assert redact("invalid key: k3y9.") == "invalid key: ***."
    assert redact('{"key": "k3y9"}') == '{"key": "***"}'
    assert redact("bk3y9x stays") == "bk3y9x stays"  # inside another word it is not the key


def test_a_key_with_quotes_or_backslashes_is_scrubbed_in_json_too():
    key = 'sk-"quoted"\\back-0123456789'
    register_secret(key)
    echoed = json.dumps({"error": f"bad key {key}"})
    assert "quoted" not in redact(echoed) and "back-0123456789" not in redact(echoed)


def test_repr_of_a_config_masks_credential_headers():
    config = ProviderConfig(
        "openai",
        api_key="sk-test-0123456789",
        settings={"extra_headers": {"X-Api-Key": "xk-very-secret-1", "Authorization": "tok", "X-Trace": "visible"}},
    )
    text = repr(config)
    assert "xk-very-secret-1" not in text and "tok'" not in text and "visible" in text
    assert "xk-very-secret-1" not in redact("echo xk-very-secret-1")


# -- one module imports aiohttp ------------------------------------------------------------------


def test_only_the_transport_client_imports_aiohttp():
    root = Path(closedpaw_nb.__file__).parent
    importers = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "aiohttp" or n.startswith("aiohttp.") for n in names):
                importers.add(path.relative_to(root).as_posix())
    assert importers == {"transport/client.py"}


async def test_a_short_key_echoed_by_a_server_never_reaches_the_health_detail():
    async def echo_key(conn: Conn) -> None:
        while (request := await conn.read_request()) is not None:
            key = request.headers[b"authorization"].split()[-1]
            body = b'{"error": {"message": "Incorrect API key provided: %s"}}' % key
            await conn.respond(body, 401, (b"content-type: application/json",))

    async with Server(echo_key) as server:
        provider = OpenAIProvider(ProviderConfig("openai", api_key="q7w", base_url=server.url, default_model="m"))
        try:
            health = await provider.check_health()
        finally:
            await provider.close()
    assert health.status == "auth_failed" and "Incorrect API key" in health.detail
    assert "q7w" not in health.detail
