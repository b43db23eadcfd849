"""The API served by real uvicorn on a loopback port, driven over TCP."""

from __future__ import annotations

import socket

import httpx
import pytest

from closedpaw_nb import ProviderManager
from closedpaw_nb.server import create_app, start_server
from conftest import sim_config

from .conftest import AUTH, TOKEN
from .sse import parse_sse

HI = [{"role": "user", "content": "Tell me about rivers."}]


@pytest.fixture
def served(sim, canary):
    """uvicorn in a thread on 127.0.0.1:<free port>; the manager's pools live on its loop."""
    manager = ProviderManager()
    manager.register_provider(sim_config(sim, "anthropic", key=canary))
    server = start_server(create_app(manager, token=TOKEN, allow_local_base_urls=True))
    yield server
    server.stop()


def test_binds_loopback_with_nodelay(served):
    host, port = served.sock.getsockname()
    assert host == "127.0.0.1" and port > 0
    assert served.url == f"http://127.0.0.1:{port}"
    assert served.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_over_tcp(served, sim, canary):
    with httpx.Client(base_url=served.url, timeout=10) as anon:
        assert anon.get("/healthz").json() == {"status": "ok"}
        assert anon.get("/api/providers").status_code == 401
        assert anon.get("/healthz", headers={"Host": "evil.example"}).status_code == 400
    with httpx.Client(base_url=served.url, headers=AUTH, timeout=10) as client:
        status = client.get("/api/providers")
        assert status.status_code == 200 and canary not in status.text
        assert status.json()["providers"]["anthropic"]["has_key"] is True
        body = {
            "provider_type": "custom",
            "name": "local",
            "base_url": sim.base_url("custom"),
            "api_key": "sk-test-local-0123456789",
            "default_model": "sim-small",
        }
        assert client.post("/api/providers/register", json=body).status_code == 201
        assert client.get("/api/providers/health").json()["healthy"] == 2
        answer = client.post("/api/chat", json={"provider": "local", "messages": HI})
        assert answer.status_code == 200 and answer.json()["content"]


def test_streamed_chat_over_tcp(served, canary):
    with (
        httpx.Client(base_url=served.url, headers=AUTH, timeout=10) as client,
        client.stream("POST", "/api/chat", json={"messages": HI, "stream": True}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(response.iter_lines())
    names = [name for name, _ in events]
    assert names.count("delta") >= 2 and names[-1] == "done"
    done = events[-1][1]
    assert done["content"] == "".join(d["text"] for n, d in events if n == "delta")
    assert done["provider"] == "anthropic" and done["completion_tokens"] > 0
    assert canary not in str(events)


def test_client_leaving_mid_stream_does_not_hurt_the_server(served):
    with httpx.Client(base_url=served.url, headers=AUTH, timeout=10) as client:
        with client.stream("POST", "/api/chat", json={"messages": HI, "stream": True}) as response:
            next(response.iter_lines())  # read a little, then hang up
        again = client.post("/api/chat", json={"messages": HI})
        assert again.status_code == 200
