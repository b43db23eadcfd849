"""Who may call the API: token on every route but liveness, Host check, CORS off by default."""

from __future__ import annotations

import secrets

import httpx
import pytest

from closedpaw_nb.server import create_app
from closedpaw_nb.server.security import PUBLIC_PATHS

from .conftest import AUTH, BASE, TOKEN, error_of

EVIL = "http://evil.example"


def every_route(app) -> list[tuple[str, str]]:
    """(method, path) of every operation in the OpenAPI schema, plus the docs themselves."""
    routes = [("GET", "/docs"), ("GET", "/openapi.json"), ("GET", "/redoc"), ("GET", "/no/such/route")]
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            routes.append((method.upper(), path.replace("{provider_name}", "openai")))
    return routes


async def test_liveness_needs_no_token(anon):
    response = await anon.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_every_other_route_needs_the_token(app, anon):
    routes = [r for r in every_route(app) if r[1] not in PUBLIC_PATHS]
    assert len(routes) >= 12  # the schema's 9 operations + docs; guards against an empty list
    for method, path in routes:
        response = await anon.request(method, path, json={} if method == "POST" else None)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "missing bearer token" in error_of(response)["message"]


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN[:-1]}",  # a prefix
        f"Bearer {TOKEN}x",  # an extension
        f"Bearer {TOKEN.upper()}",
        "Bearer " + "x" * len(TOKEN),
        f"Basic {TOKEN}",  # right secret, wrong scheme
        TOKEN,  # no scheme at all
        "Bearer ",
        "Bearer café".encode(),  # non-ASCII bytes must not crash the comparison
    ],
)
async def test_wrong_token_is_refused(anon, header):
    response = await anon.get("/api/providers", headers={"Authorization": header})
    assert response.status_code == 401
    error = error_of(response)
    assert error["type"] == "unauthorized"
    assert TOKEN not in response.text


async def test_right_token_is_accepted_with_any_scheme_case(anon):
    for scheme in ("Bearer", "bearer", "BEARER"):
        response = await anon.get("/api/providers", headers={"Authorization": f"{scheme} {TOKEN}"})
        assert response.status_code == 200, scheme


async def test_two_authorization_headers_are_refused(app):
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        headers = httpx.Headers([("Authorization", f"Bearer {TOKEN}"), ("Authorization", "Bearer nope")])
        response = await c.get("/api/providers", headers=headers)
    assert response.status_code == 401


async def test_token_is_compared_in_constant_time(anon, monkeypatch):
    calls = []
    real = secrets.compare_digest

    def spy(a, b):
        calls.append((type(a), type(b)))
        return real(a, b)

    monkeypatch.setattr(secrets, "compare_digest", spy)
    assert (await anon.get("/api/providers", headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (await anon.get("/api/providers", headers=AUTH)).status_code == 200
    assert calls == [(bytes, bytes), (bytes, bytes)]


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8766",
        "127.0.0.1.evil.example",
        "localhost.evil.example",
        "[::2]:8766",
        "10.0.0.5",
        "",
        "0.0.0.0:8766",
    ],
)
async def test_foreign_host_header_is_refused(client, host):
    for path in ("/api/providers", "/healthz"):
        response = await client.get(path, headers={"Host": host})
        assert response.status_code == 400, (host, path)
        error = error_of(response)
        assert error["type"] == "invalid_host"
        assert "--allowed-host" in error["message"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8766", "localhost:8766", "LOCALHOST", "[::1]:8766", "[::1]"])
async def test_loopback_host_headers_are_accepted(client, host):
    response = await client.get("/api/providers", headers={"Host": host})
    assert response.status_code == 200, host


async def test_extra_allowed_host(make_app):
    app = make_app(allowed_hosts=["gateway.lan"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://gateway.lan:8766", headers=AUTH
    ) as c:
        assert (await c.get("/api/providers")).status_code == 200
        assert (await c.get("/api/providers", headers={"Host": "127.0.0.1"})).status_code == 400


async def test_no_cors_by_default(client, anon):
    preflight = {
        "Origin": EVIL,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    response = await anon.options("/api/providers/register", headers=preflight)
    assert response.status_code == 401  # nothing answers preflights: it meets the token check
    assert "access-control-allow-origin" not in response.headers
    response = await client.get("/api/providers", headers={"Origin": EVIL})
    assert response.status_code == 200
    assert not any(h.startswith("access-control-") for h in response.headers)


async def test_cors_only_for_listed_origins(make_app):
    good = "http://localhost:8888"
    app = make_app(cors_origins=[good])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as c:
        ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        ok = await c.options("/api/providers/register", headers={"Origin": good, **ask})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == good
        assert "access-control-allow-credentials" not in ok.headers
        bad = await c.options("/api/providers/register", headers={"Origin": EVIL, **ask})
        assert bad.status_code == 400
        assert error_of(bad)["type"] == "cors_rejected"
        assert "access-control-allow-origin" not in bad.headers
        simple = await c.get("/api/providers", headers={"Origin": EVIL, **AUTH})
        assert "access-control-allow-origin" not in simple.headers


def test_unsafe_settings_are_refused(manager):
    with pytest.raises(ValueError, match="exact origins"):
        create_app(manager, token=TOKEN, cors_origins=["*"])
    with pytest.raises(ValueError, match="at least 16"):
        create_app(manager, token="short")
    with pytest.raises(ValueError, match="allowed_hosts"):
        create_app(manager, token=TOKEN, allowed_hosts=[])


def test_default_token_is_random_and_long(manager):
    first, second = create_app(manager).state.token, create_app(manager).state.token
    assert first != second
    assert len(first) >= 40


async def test_docs_and_schema_with_the_token(client):
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert set(schema["paths"]) == {
        "/healthz",
        "/api/providers",
        "/api/providers/health",
        "/api/providers/models",
        "/api/providers/register",
        "/api/providers/{provider_name}/models",
        "/api/providers/{provider_name}/default",
        "/api/providers/{provider_name}",
        "/api/chat",
    }
