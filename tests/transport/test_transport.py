"""Acceptance tests of the transport: `HTTPClient` against misbehaving loopback servers.

The servers (servers.py) speak HTTP/1.1 by hand, so each test can misbehave precisely.
Nothing in the client is mocked; the only patch is `loop.create_connection` made slow,
for the timing origin. The tests judge what a caller and a server can see (errors,
bytes, connections opened and hung up), so they hold whatever library is under the
client.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import ssl
import time
import zlib
from collections.abc import Callable

import pytest

from closedpaw_nb.errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigError,
    ResponseParseError,
    StreamInterruptedError,
)
from closedpaw_nb.transport.client import HTTPClient
from closedpaw_nb.transport.message import decode_json, encode_json

from .servers import Conn, Server, answer_all, closed_port, make_tls_files, never_answer, response, server_context

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def clients():
    """`clients(base_url, timeout=2.0, **options)`: HTTPClients closed after the test."""
    made: list[HTTPClient] = []

    def factory(base_url: str, timeout: float = 2.0, headers=None, **options) -> HTTPClient:
        headers = {"x-api-key": "secret"} if headers is None else headers
        made.append(HTTPClient(base_url, headers, timeout, provider="x", **options))
        return made[-1]

    yield factory
    for client in made:
        await client.aclose()
    await asyncio.sleep(0)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (a correctness bound, not a performance one) until `predicate()` holds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.002)


async def streaming_forever(conn: Conn) -> None:
    """Answer with a chunked body that never ends (until the client hangs up)."""
    if await conn.read_request() is None:
        return
    await conn.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
    await conn.wait_for_hangup()


def raw(data: bytes) -> Callable[[Conn], object]:
    """A handler that reads one request, sends `data` as is, then waits for the hang-up."""

    async def handler(conn: Conn) -> None:
        if await conn.read_request() is not None:
            await conn.send(data)
            await conn.wait_for_hangup()

    return handler


# -- keep-alive and connection reuse -----------------------------------------------------------


async def test_sequential_requests_reuse_one_connection(clients):
    async with Server(answer_all) as server:
        client = clients(server.url)
        for i in range(5):
            assert (await client.request("GET", f"/{i}")).content == b"ok /%d" % i
        assert server.connections == 1


async def test_concurrent_requests_open_several_connections_and_are_reused(clients):
    """Eight calls at once open at most eight connections; a second wave reuses them."""
    async with Server(answer_all) as server:
        client = clients(server.url)
        for _ in range(2):
            results = await asyncio.gather(*(client.request("GET", f"/{i}") for i in range(8)))
            assert [r.content for r in results] == [b"ok /%d" % i for i in range(8)]
        assert 1 <= server.connections <= 8 and len(server.requests) == 16


async def test_server_closing_an_idle_connection_is_seen_and_a_new_one_used(clients):
    async def handler(conn: Conn) -> None:
        if await conn.read_request() is not None:
            await conn.respond(b"once")  # then close: the client's idle connection is dead

    async with Server(handler) as server:
        client = clients(server.url)
        assert (await client.request("GET", "/a")).content == b"once"
        await until(lambda: server.active == 0)
        assert (await client.request("GET", "/b")).content == b"once"
        assert server.connections == 2


async def test_connection_close_response_is_not_reused(clients):
    async def handler(conn: Conn) -> None:
        if await conn.read_request() is not None:
            await conn.respond(b"bye", headers=(b"connection: close",))
            await conn.wait_for_hangup()

    async with Server(handler) as server:
        client = clients(server.url)
        assert (await client.request("GET", "/1")).content == b"bye"
        assert (await client.request("GET", "/2")).content == b"bye"
        assert server.connections == 2


async def test_close_delimited_http10_body_is_read_to_the_end(clients):
    async def handler(conn: Conn) -> None:
        if await conn.read_request() is not None:
            await conn.send(b"HTTP/1.0 200 OK\r\n\r\nall of ")
            await conn.send(b"the body")
            conn.writer.close()

    async with Server(handler) as server:
        assert (await clients(server.url).request("GET", "/")).content == b"all of the body"


async def test_chunked_response_body_is_decoded_and_connection_reused(clients):
    async def handler(conn: Conn) -> None:
        while await conn.read_request() is not None:
            await conn.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")

    async with Server(handler) as server:
        client = clients(server.url)
        assert (await client.request("GET", "/1")).content == b"abcde"
        assert (await client.request("GET", "/2")).content == b"abcde"
        assert server.connections == 1


async def test_large_bodies_both_ways_arrive_intact(clients):
    """A 3 MB request body to a slow reader and a 3 MB response body arrive byte for byte."""
    data = os.urandom(3 * 1024 * 1024).hex()[: 3 * 1024 * 1024]

    async def handler(conn: Conn) -> None:
        head = await conn.read_head()
        assert head is not None
        received = bytearray()
        size = int(head.headers[b"content-length"])
        while len(received) < size:
            received += await conn.reader.read(65536)
            await asyncio.sleep(0.001)
        await conn.respond(bytes(received))

    async with Server(handler) as server:
        result = await clients(server.url, timeout=10).request("POST", "/echo", json=data)
        assert hashlib.sha256(result.content).digest() == hashlib.sha256(json.dumps(data).encode()).digest()


async def test_informational_responses_before_the_answer_are_skipped(clients):
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + b"HTTP/1.1 102 Processing\r\n\r\n" * 3 + response(b"final")
    async with Server(raw(data)) as server:
        assert (await clients(server.url).request("GET", "/")).content == b"final"


async def test_head_response_ends_at_its_headers_and_keeps_the_connection(clients):
    async def handler(conn: Conn) -> None:
        while (request := await conn.read_request()) is not None:
            if request.method == b"HEAD":
                await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
            else:
                await conn.respond(b"after")

    async with Server(handler) as server:
        client = clients(server.url)
        assert (await client.request("HEAD", "/")).content == b""
        assert (await client.request("GET", "/")).content == b"after"
        assert server.connections == 1


async def test_bytes_after_a_response_never_answer_the_next_request(clients):
    """A server that sends two responses to one request: the surplus one must not be
    taken as the answer to the next request."""

    sent: list[bool] = []

    async def handler(conn: Conn) -> None:
        while (request := await conn.read_request()) is not None:
            if not sent:
                await conn.send(response(b"one") + response(b"UNREQUESTED"))
                sent.append(True)
            else:
                await conn.respond(b"ok " + request.target)

    async with Server(handler) as server:
        client = clients(server.url)
        assert (await client.request("GET", "/1")).content == b"one"
        assert (await client.request("GET", "/2")).content == b"ok /2"


async def test_client_survives_bytes_on_an_idle_connection(clients):
    first_done = asyncio.Event()

    async def handler(conn: Conn) -> None:
        if conn.index == 1:
            await conn.read_request()
            await conn.respond(b"first")
            await first_done.wait()
            await conn.send(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n")
            await conn.wait_for_hangup()
            return
        await answer_all(conn)

    async with Server(handler) as server:
        client = clients(server.url)
        assert (await client.request("GET", "/a")).content == b"first"
        first_done.set()
        await asyncio.sleep(0.05)
        result = await client.request("GET", "/b")
        assert (result.status_code, result.content) == (200, b"ok /b")


# -- framing: what a client must refuse (or read the one safe way) -----------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nx-a: a\x00b\r\ncontent-length: 2\r\n\r\nok",
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\nonly this",
    ],
    ids=["cl-and-te", "duplicate-cl", "bad-chunk", "nul-in-header", "garbage", "truncated"],
)
async def test_framing_errors_are_refused(clients, data):
    async with Server(raw(data)) as server:
        with pytest.raises(APIConnectionError) as caught:
            await clients(server.url, timeout=1).request("GET", "/")
        assert str(server.port) not in str(caught.value)


async def test_an_obs_folded_header_is_unfolded_never_a_new_header(clients):
    """RFC 9112 5.2: a user agent replaces obs-fold by spaces; the fold must never start a
    header of its own."""
    data = b"HTTP/1.1 200 OK\r\nx-a: 1\r\n retry-after: 99\r\ncontent-length: 2\r\n\r\nok"
    async with Server(raw(data)) as server:
        result = await clients(server.url).request("GET", "/")
        assert "retry-after" not in {k.lower() for k in result.headers}


async def test_chunked_trailers_never_become_headers(clients):
    """Trailers that arrive in the same packet as the head stay out of the headers
    (a trailer could otherwise set retry-after or x-should-retry)."""
    data = (
        b"HTTP/1.1 429 Too Many\r\ntransfer-encoding: chunked\r\ntrailer: retry-after\r\n\r\n"
        b"2\r\nno\r\n0\r\nretry-after: 99\r\nx-should-retry: true\r\n\r\n"
    )
    async with Server(raw(data)) as server:
        result = await clients(server.url).request("GET", "/")
        assert result.status_code == 429 and result.content == b"no"
        assert not {"retry-after", "x-should-retry"} & {k.lower() for k in result.headers}


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\nzzzz",
        b"HTTP/1.1 099 Odd\r\ncontent-length: 2\r\n\r\nok",
    ],
    ids=["101", "099"],
)
async def test_a_status_that_is_not_a_final_answer_is_a_protocol_error(clients, data):
    """101 (no upgrade was asked for) and a status below 100 are not answers: a typed
    APIConnectionError, never the wrong type or a crash inside the protocol."""
    async with Server(raw(data)) as server:
        with pytest.raises(APIConnectionError, match="not a final HTTP response"):
            await clients(server.url).request("GET", "/")


# -- timeouts and failures -----------------------------------------------------------------------


async def _stall_after_half(conn: Conn) -> None:
    await conn.read_request()
    await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf.")
    await conn.wait_for_hangup()


async def _reset_after_half(conn: Conn) -> None:
    await conn.read_request()
    await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf.")
    await asyncio.sleep(0.02)
    conn.reset()


async def _close_without_answer(conn: Conn) -> None:
    await conn.read_request()


@pytest.mark.parametrize(
    "handler, error",
    [
        (None, APIConnectionError),  # connection refused
        (never_answer, APITimeoutError),
        (_stall_after_half, APITimeoutError),
        (_reset_after_half, APIConnectionError),
        (raw(b"NOT HTTP AT ALL\r\n\r\n"), APIConnectionError),
        (_close_without_answer, APIConnectionError),
    ],
    ids=["refused", "no-answer", "stalled-body", "reset-body", "garbage", "closed"],
)
async def test_client_errors_map_and_never_name_the_url(clients, handler, error):
    """Each transport failure becomes closedpaw's error, whose text names neither the URL,
    host nor port, and which chains nothing that might."""
    if handler is None:
        port = closed_port()
        caught = await _client_error(clients(f"http://127.0.0.1:{port}/v1", timeout=0.3))
    else:
        async with Server(handler) as server:
            port = server.port
            caught = await _client_error(clients(f"{server.url}/v1", timeout=0.3))
    assert isinstance(caught, error), caught
    text = str(caught)
    assert "127.0.0.1" not in text and str(port) not in text and "/v1" not in text and "secret" not in text
    assert caught.__cause__ is None and caught.__suppress_context__


async def _client_error(client: HTTPClient) -> Exception:
    try:
        await client.request("POST", "/chat?key=abc", json={"q": 1})
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc
    raise AssertionError("the request succeeded")


async def _drip(conn: Conn, pieces: int, gap: float) -> None:
    """Answer each request with a body sent one byte every `gap` seconds."""
    while await conn.read_request() is not None:
        await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % pieces)
        for _ in range(pieces):
            await asyncio.sleep(gap)
            await conn.send(b"x")


async def test_read_idle_is_silence_not_total_time(clients):
    """A body whose bytes keep coming within the read-idle limit is read whole, however long
    it takes; the same limit ends a silence (the limit is checked again as bytes arrive)."""
    async with Server(lambda conn: _drip(conn, 8, 0.1)) as server:
        client = clients(server.url, timeout=0.3)
        started = time.perf_counter()
        reply = await client.request("GET", "/")
        assert reply.content == b"x" * 8 and time.perf_counter() - started >= 0.8
    async with Server(lambda conn: _drip(conn, 3, 0.6)) as server:
        with pytest.raises(APITimeoutError, match="read timeout"):
            await clients(server.url, timeout=0.3).request("GET", "/")


async def test_a_shorter_read_idle_limit_on_a_reused_connection_holds(clients):
    """A connection's idle timer, left running after a call with a long limit, does not
    delay a later call's shorter one (a health probe after a chat call)."""
    calls = 0

    async def second_call_stalls(conn: Conn) -> None:
        nonlocal calls
        while await conn.read_request() is not None:
            calls += 1
            if calls == 1:
                await conn.respond(b"first")
        await conn.wait_for_hangup()

    async with Server(second_call_stalls) as server:
        client = clients(server.url, timeout=20.0)
        assert (await client.request("GET", "/")).content == b"first"
        started = time.perf_counter()
        with pytest.raises(APITimeoutError, match="read timeout"):
            await client.request("GET", "/", timeout=0.3)
        assert time.perf_counter() - started < 5  # the 0.3 s limit, not the first call's 20 s
        assert server.connections == 1


async def test_idle_timers_leave_the_event_loop_with_their_connections(clients):
    """Connections closed by the client take their read-idle timers with them."""

    def idle_timers() -> int:
        scheduled = asyncio.get_running_loop()._scheduled  # type: ignore[attr-defined]
        return sum(1 for h in scheduled if not h.cancelled() and "_check_idle" in repr(h))

    async with Server(answer_all) as server:
        client = clients(server.url, timeout=30.0)
        await asyncio.gather(*(client.request("GET", "/") for _ in range(5)))
        assert idle_timers() >= 1
        await client.aclose()
        await asyncio.sleep(0)
        assert idle_timers() == 0


def test_aiohttp_still_has_the_protocol_hooks_the_idle_timer_overrides():
    """`_IdleTimedHandler` overrides private methods of aiohttp's ResponseHandler and is
    installed through the connector's `_factory`: an aiohttp that renames them must fail here,
    not silently fall back to its own timer (correct, but slower) or lose the limit."""
    import aiohttp
    from aiohttp.client_proto import ResponseHandler

    from closedpaw_nb.transport.client import _Connector, _IdleTimedHandler

    for name in ("_reschedule_timeout", "_drop_timeout", "_on_read_timeout", "start_timeout", "data_received"):
        assert callable(getattr(ResponseHandler, name, None)), name
    # is_connected() is what the pool asks before reusing a connection (see test_client_survives_bytes...)
    assert callable(ResponseHandler.is_connected) and isinstance(ResponseHandler.should_close, property)

    async def factory_in_use() -> None:
        connector = _Connector(limit=1)
        try:
            made = connector._factory()
            assert isinstance(made, _IdleTimedHandler) and hasattr(made, "_read_timeout_handle")
        finally:
            await connector.close()

    asyncio.run(factory_in_use())
    assert issubclass(_Connector, aiohttp.TCPConnector)


async def test_client_stream_broken_mid_body_is_stream_interrupted(clients):
    head_seen = asyncio.Event()

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf.")
        await head_seen.wait()
        conn.reset()

    async with Server(handler) as server:
        client = clients(server.url)
        received = []
        with pytest.raises(StreamInterruptedError) as caught:
            async with client.stream("POST", "/stream", json={}) as response_:
                assert response_.status_code == 200
                head_seen.set()
                async for chunk in response_.aiter_bytes():
                    received.append(chunk)
        assert received == [b"half."]
        assert str(server.port) not in str(caught.value)


async def test_client_stream_left_early_closes_the_connection(clients):
    async with Server(streaming_forever) as server:
        client = clients(server.url)
        async with client.stream("GET", "/stream") as response_:
            async for chunk in response_.aiter_bytes():
                assert chunk == b"first"
                break
        await until(lambda: server.hangups == 1)
        server.handler = answer_all
        assert (await client.request("GET", "/ok")).content == b"ok /ok"
        assert server.connections == 2


async def test_fifty_abandoned_streams_leave_no_connection_open(clients):
    async with Server(streaming_forever) as server:
        client = clients(server.url)
        for _ in range(50):
            async with client.stream("GET", "/") as response_:
                async for _chunk in response_.aiter_bytes():
                    break
        await until(lambda: server.active == 0)
        assert server.hangups == 50


async def test_client_body_over_the_cap_is_response_parse_error_and_not_reused(clients):
    big = bytes(16 * 1024 * 1024)  # well past the cap: the rest is unread when the cap trips

    async def handler(conn: Conn) -> None:
        while (request := await conn.read_request()) is not None:
            await conn.respond(big if request.target == b"/big" else b"small")

    async with Server(handler) as server:
        client = clients(server.url)
        with pytest.raises(ResponseParseError):
            await client.request("GET", "/big")
        assert (await client.request("GET", "/small")).content == b"small"
        assert server.connections == 2


async def test_aclose_closes_connections_and_later_calls_fail(clients):
    async with Server(answer_all) as server:
        client = clients(server.url)
        await client.request("GET", "/")
        await client.aclose()
        await until(lambda: server.hangups == 1)
        assert client.is_closed
        with pytest.raises(APIConnectionError, match="closed"):
            await client.request("GET", "/")


# -- what the client sends ---------------------------------------------------------------------


async def test_client_elapsed_ms_runs_from_when_the_request_was_sent(clients, monkeypatch):
    """Connecting is made slow in-process: the latency origin (`sent_at`) comes after the
    connection was made, so time spent connecting is never charged to the server."""
    loop = asyncio.get_running_loop()
    real_connect = loop.create_connection
    connected: list[float] = []

    async def slow_connect(*args, **kwargs):
        await asyncio.sleep(0.05)
        result = await real_connect(*args, **kwargs)
        connected.append(time.perf_counter())
        return result

    monkeypatch.setattr(loop, "create_connection", slow_connect)
    async with Server(answer_all) as server:
        client = clients(server.url)
        async with client.stream("POST", "/v1/chat", json={"q": 1}) as response_:
            assert connected and response_.sent_at >= connected[0]
            await response_.aread()
        assert server.requests[0].headers[b"x-api-key"] == b"secret"


async def test_client_sends_base_path_headers_and_json(clients):
    async with Server(answer_all) as server:
        client = clients(f"{server.url}/v1")
        result = await client.request("POST", "/chat", json={"text": "héllo"}, headers={"X-API-KEY": "mine"})
        assert result.content == b"ok /v1/chat"
        (request,) = server.requests
        assert request.headers[b"host"] == b"127.0.0.1:%d" % server.port
        assert request.headers[b"x-api-key"] == b"mine"
        assert request.headers[b"content-type"] == b"application/json"
        assert int(request.headers[b"content-length"]) == len(request.body)
        assert json.loads(request.body) == {"text": "héllo"}
        assert b"gzip" in request.headers[b"accept-encoding"]


@pytest.mark.parametrize(
    "value, wire",
    [
        ({"text": "héllo", "n": [1, 2.5, None, True]}, '{"text":"héllo","n":[1,2.5,null,true]}'),
        ({"big": 2**70}, '{"big":1180591620717411303424}'),  # past orjson's 64 bits: the stdlib's way
        ({1: "a"}, '{"1":"a"}'),  # a non-str key, as the standard library writes it
        ({"t": float("nan"), "u": float("inf")}, '{"t":null,"u":null}'),  # not JSON: null
    ],
    ids=["plain", "big-int", "int-key", "nan"],
)
def test_json_bodies_are_compact_utf8_whatever_the_values(value, wire):
    assert encode_json(value) == wire.encode()


def test_a_value_json_cannot_carry_is_a_type_error():
    with pytest.raises(TypeError):
        encode_json({"x": object()})


@pytest.mark.parametrize(
    "text, value",
    [
        (b'{"a": [1, "\\u00e9"]}', {"a": [1, "é"]}),
        ('{"a": 1}', {"a": 1}),  # a stream event's str
        (b'{"big": 1180591620717411303424}', {"big": 2**70}),
        (b'{"n": NaN}', None),  # the standard library reads it; orjson refuses it
    ],
    ids=["bytes", "str", "big-int", "nan"],
)
def test_answers_decode_as_the_standard_library_reads_them(text, value):
    decoded = decode_json(text)
    if value is None:
        assert decoded["n"] != decoded["n"]
    else:
        assert decoded == value


@pytest.mark.parametrize("text", [b"", b"{", b"<html>", b"\xff\xfe"])
def test_what_is_not_json_is_a_value_error(text):
    with pytest.raises(ValueError):
        decode_json(text)


async def test_client_sends_query_params(clients):
    async with Server(answer_all) as server:
        client = clients(f"{server.url}/v1")
        first = await client.request("GET", "/models", params={"limit": 1000, "after_id": "m 2"})
        second = await client.request("GET", "/models?x=1", params={"pageToken": "t"})
        assert first.content in (b"ok /v1/models?limit=1000&after_id=m+2", b"ok /v1/models?limit=1000&after_id=m%202")
        assert second.content == b"ok /v1/models?x=1&pageToken=t"


async def test_client_keeps_a_query_on_the_base_url(clients):
    async with Server(answer_all) as server:
        client = clients(f"{server.url}/openai/deployments/d?api-version=2024-10-21")
        result = await client.request("POST", "/chat/completions", json={}, params={"x": "1"})
        assert result.content == b"ok /openai/deployments/d/chat/completions?api-version=2024-10-21&x=1"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_bodies_are_decompressed(clients, encoding):
    payload = json.dumps({"text": "x" * 5000}).encode()
    body = gzip.compress(payload) if encoding == "gzip" else zlib.compress(payload)

    async def handler(conn: Conn) -> None:
        while await conn.read_request() is not None:
            await conn.respond(body, headers=(b"content-encoding: " + encoding.encode(),))

    async with Server(handler) as server:
        assert (await clients(server.url).request("GET", "/")).json() == {"text": "x" * 5000}


def test_an_unsupported_scheme_is_a_config_error_without_the_url():
    with pytest.raises(ConfigError) as caught:
        HTTPClient("ftp://127.0.0.1:2121", {}, 1.0, provider="x")
    assert "2121" not in str(caught.value)


async def test_a_header_http_cannot_carry_is_named_not_shown(clients):
    with pytest.raises(ConfigError, match="'Authorization'") as caught:
        HTTPClient("http://127.0.0.1:9/v1", {"Authorization": "Bearer sk-secret\u2019"}, 2.0, provider="x")
    assert "sk-secret" not in str(caught.value)
    client = clients("http://127.0.0.1:9/v1")
    with pytest.raises(APIConnectionError, match="'X-Note'") as caught:
        await client.request("GET", "/models", headers={"X-Note": "caf\u00e9 \u2603 private"})
    assert "private" not in str(caught.value)


async def test_a_header_that_would_smuggle_a_line_is_refused_before_connecting(clients):
    async with Server(answer_all) as server:
        client = clients(server.url)
        with pytest.raises(APIConnectionError):
            await client.request("GET", "/", headers={"X-A": "1\r\nHost: evil"})
        assert server.connections == 0


async def test_the_idempotency_key_is_sent_as_its_header_and_a_bad_one_never_leaves(clients):
    async with Server(answer_all) as server:
        client = clients(server.url)
        await client.request("POST", "/chat", json={}, idempotency_key="k-123")
        assert server.requests[0].headers[b"idempotency-key"] == b"k-123"
        assert server.requests[0].headers[b"content-type"] == b"application/json"
        for bad in ("k\r\nHost: evil", "two words", "x" * 256):
            with pytest.raises(APIConnectionError, match="idempotency key"):
                await client.request("POST", "/chat", json={}, idempotency_key=bad)
        assert len(server.requests) == 1


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_tls_with_ssl_cert_file_succeeds_and_reuses_the_connection(clients, tls_files, monkeypatch, host):
    """SSL_CERT_FILE names the roots to trust (as for OpenSSL, httpx and requests)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files / "ca.pem"))
    async with Server(answer_all, tls=server_context(tls_files)) as server:
        client = clients(f"https://{host}:{server.port}")
        assert (await client.request("GET", "/1")).content == b"ok /1"
        assert (await client.request("GET", "/2")).content == b"ok /2"
        assert server.connections == 1


async def test_tls_with_a_context_of_ones_own(clients, tls_files):
    context = ssl.create_default_context(cafile=str(tls_files / "ca.pem"))
    async with Server(answer_all, tls=server_context(tls_files)) as server:
        client = clients(server.url, ssl_context=context)
        assert (await client.request("GET", "/")).content == b"ok /"


async def test_tls_with_an_untrusted_ca_fails_naming_the_certificate(clients, tls_files):
    async with Server(answer_all, tls=server_context(tls_files)) as server:
        with pytest.raises(APIConnectionError, match="certificate") as caught:
            await clients(server.url).request("GET", "/")
        assert "127.0.0.1" not in str(caught.value) and str(server.port) not in str(caught.value)


# -- proxies -----------------------------------------------------------------------------------


async def _proxy_answer(conn: Conn) -> None:
    while (request := await conn.read_request()) is not None:
        await conn.respond(b"via proxy " + request.target)


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY", "http_proxy"])
async def test_a_proxy_from_the_environment_carries_the_request(clients, monkeypatch, variable):
    async with Server(_proxy_answer) as proxy:
        monkeypatch.setenv(variable, proxy.url)
        client = clients("http://api.example.invalid/v1")
        result = await client.request("GET", "/models")
        assert result.content == b"via proxy http://api.example.invalid/v1/models"


async def test_no_proxy_sends_the_request_direct(clients, monkeypatch):
    async with Server(_proxy_answer) as proxy, Server(answer_all) as direct:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert (await clients(direct.url).request("GET", "/x")).content == b"ok /x"
        assert proxy.connections == 0


async def test_a_proxy_per_provider_wins_over_the_environment(clients, monkeypatch):
    async with Server(_proxy_answer) as proxy:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        client = clients("http://api.example.invalid", proxy=proxy.url)
        assert (await client.request("GET", "/m")).content == b"via proxy http://api.example.invalid/m"


def test_a_socks_proxy_in_the_environment_is_a_clear_config_error(monkeypatch):
    from closedpaw_nb.transport.network import env_proxy

    monkeypatch.setenv("ALL_PROXY", "socks5://user:pw@127.0.0.1:1080")
    with pytest.raises(ConfigError, match="socks5") as caught:
        env_proxy("https", "api.example.com")
    assert "pw" not in str(caught.value)
