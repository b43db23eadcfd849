"""Fixtures for the HTTP API tests: a simulator-backed manager, the app, clients, a fake DNS."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from closedpaw_nb import ProviderManager
from closedpaw_nb.server import create_app
from conftest import sim_config

TOKEN = "test-token-9f3a6c1e7b2d4058a1c3"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE = "http://127.0.0.1"


class FakeDNS:
    """Stands in for `socket.getaddrinfo`: names in `records` resolve to the listed
    addresses, IP literals and localhost go to the real resolver, anything else fails."""

    def __init__(self, real: Callable[..., list]) -> None:
        self.real = real
        self.records: dict[str, list[str]] = {}
        self.asked: list[str] = []

    def __call__(self, host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in self.records:
            self.asked.append(name)
            return [_info(addr, port) for addr in self.records[name]]
        if name == "localhost" or _is_ip(name):
            return self.real(host, port, *args, **kwargs)
        self.asked.append(name)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _info(addr: str, port: int | str | None) -> tuple:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sockaddr = (addr, int(port or 0), 0, 0) if family == socket.AF_INET6 else (addr, int(port or 0))
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    """A fake resolver installed as socket.getaddrinfo for the test."""
    fake = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@pytest.fixture
async def manager(sim, canary) -> AsyncIterator[ProviderManager]:
    """A manager with an OpenAI-protocol provider named "openai" on the simulator whose
    key is the canary; its connections are closed after the test."""
    mgr = ProviderManager()
    mgr.register_provider(sim_config(sim, "openai", key=canary, settings={"max_retries": 0}))
    yield mgr
    await mgr.close_all()


@pytest.fixture
def make_app(manager, dns):
    """Build an app around the test's manager (loopback base URLs allowed unless told)."""

    def build(**options):
        options.setdefault("token", TOKEN)
        options.setdefault("allow_local_base_urls", True)
        return create_app(manager, **options)

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client talking to the app through httpx's ASGI transport."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE, headers=AUTH) as c:
        yield c


@pytest.fixture
async def anon(app) -> AsyncIterator[httpx.AsyncClient]:
    """A client without the token."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as c:
        yield c


def error_of(response: httpx.Response) -> dict:
    """The `error` object of an error response, after checking the envelope's shape."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["type"], str) and body["error"]["type"]
    assert isinstance(body["error"]["message"], str) and len(body["error"]["message"]) > 10
    return body["error"]
