"""The HTTP API against hostile input: request smuggling headers, oversized heads and
bodies, DNS rebinding after registration, its own 401 message, and its access log."""

from __future__ import annotations

import asyncio
import logging
import socket

import httpx
import pytest

from closedpaw_nb.server import create_app, start_server

from .conftest import AUTH, BASE, TOKEN, error_of

PUBLIC = "93.184.216.34"
HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "name",
    ["Host", "Transfer-Encoding", "Content-Length", "Connection", "Expect", "TE", "Upgrade", "Proxy-Authorization"],
)
async def test_framing_and_hop_by_hop_extra_headers_are_refused(client, name):
    body = {"provider_type": "openai", "name": "x", "api_key": "sk-test-0123456789", "settings": {}}
    body["settings"]["extra_headers"] = {name: "1"}
    response = await client.post("/api/providers/register", json=body)
    assert response.status_code == 422
    assert "hop-by-hop" in error_of(response)["message"]


async def test_the_401_message_shows_how_to_send_the_token(anon):
    """Redaction masks secrets, not the server's own instructions."""
    response = await anon.get("/api/providers")
    assert response.status_code == 401
    assert "Authorization: Bearer <token>" in error_of(response)["message"]


async def test_a_body_over_the_limit_is_a_413_json_error(make_app):
    app = make_app(max_body_bytes=2000)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE, headers=AUTH) as c:
        big = [{"role": "user", "content": "x" * 5000}]
        response = await c.post("/api/chat", json={"provider": "openai", "messages": big})
        assert response.status_code == 413
        assert error_of(response)["type"] == "payload_too_large"

        async def chunks():
            yield b'{"provider": "openai", "messages": [{"role": "user", "content": "'
            for _ in range(10):
                yield b"x" * 500
            yield b'"}]}'

        streamed = await c.post("/api/chat", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413 and error_of(streamed)["type"] == "payload_too_large"
        small = await c.post("/api/chat", json={"provider": "openai", "messages": HI})
        assert small.status_code == 200


def test_an_oversized_request_head_is_refused_before_the_token_check(manager):
    """A request with 200 KB of headers and no token: refused by the server's parser (not
    read to the end and answered 401)."""
    server = start_server(create_app(manager, token=TOKEN), max_header_bytes=16 * 1024)
    try:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"GET /api/providers HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            try:
                for i in range(200):
                    sock.sendall(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000))
                sock.sendall(b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server hung up mid-head: refused
            answer = b""
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
            except ConnectionResetError:
                pass
        assert not answer.startswith(b"HTTP/1.1 401"), answer[:100]
        assert answer == b"" or answer.split(b" ")[1] in (b"400", b"431")
    finally:
        server.stop()


class _Lines(logging.Handler):
    """Formats each record with uvicorn's own access formatter, as its console would."""

    def __init__(self) -> None:
        from uvicorn.logging import AccessFormatter

        super().__init__()
        self.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # raises (failing the test) if the record lost its shape


def test_uvicorn_access_log_works_with_the_secret_filter(manager, canary):
    handler = _Lines()
    access = logging.getLogger("uvicorn.access")
    server = start_server(create_app(manager, token=TOKEN), log_level="info")
    access.addHandler(handler)
    try:
        with httpx.Client(base_url=server.url, headers=AUTH) as c:
            assert c.get("/api/providers").status_code == 200
            c.get(f"/api/providers?key={canary}")
            c.get("/api/health/live")
    finally:
        server.stop()
        access.removeHandler(handler)
    assert len(handler.lines) == 3, handler.lines
    assert '"GET /api/providers HTTP/1.1" 200' in handler.lines[0]
    assert all(canary not in line for line in handler.lines)


async def test_a_name_that_rebinds_to_a_local_address_after_registration_is_refused(make_app, dns, sim):
    """Registration sees a public address; at call time the same name resolves to the
    loopback simulator. The connection is refused: the address is checked when connecting."""
    dns.records["rebind.test"] = [PUBLIC]
    app = make_app(allow_local_base_urls=False)
    url = sim.base_url("custom").replace("127.0.0.1", "rebind.test")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE, headers=AUTH) as c:
        body = {"provider_type": "custom", "name": "rebind", "base_url": url, "api_key": "sk-test-0123456789"}
        body.update(default_model="sim-small", settings={"max_retries": 0})
        assert (await c.post("/api/providers/register", json=body)).status_code == 201
        dns.records["rebind.test"] = ["127.0.0.1"]
        before = len(sim.simulator.requests)
        response = await c.post("/api/chat", json={"provider": "rebind", "messages": HI})
        await asyncio.sleep(0)
    assert response.status_code >= 400
    assert "refused to connect" in error_of(response)["message"]
    assert len(sim.simulator.requests) == before
