"""`python -m closedpaw_nb serve`: defaults, the token banner, warnings, --simulator."""

from __future__ import annotations

import httpx
import pytest

from closedpaw_nb.server.cli import parser, prepare, serve

from .sse import parse_sse

STRONG = "env-token-0123456789abcdef"


def prepared(argv, environ=None):
    return prepare(parser().parse_args(["--port", "0", *argv]), environ=environ or {})


def test_defaults_are_loopback_and_the_token_variable():
    args = parser().parse_args([])
    assert args.host == "127.0.0.1"
    assert args.token_env == "CLOSEDPAW_API_TOKEN"
    assert not args.allow_local and not args.simulator and args.cors_origin == []


def test_generated_token_is_printed_once_and_required():
    p = prepared([])
    try:
        token = p.app.state.token
        banner = "\n".join(p.lines)
        assert banner.count(token) == 1
        assert p.sock.getsockname()[0] == "127.0.0.1"
        assert p.warnings == []
        assert "ollama" in banner  # the seed's default entry
    finally:
        p.close()
    other = prepared([])
    other.close()
    assert other.app.state.token != token


def test_token_from_the_environment_is_not_printed():
    p = prepared(["--token-env", "MY_TOKEN"], environ={"MY_TOKEN": STRONG})
    p.close()
    assert p.app.state.token == STRONG
    assert STRONG not in "\n".join(p.lines)
    assert "$MY_TOKEN" in "\n".join(p.lines)


def test_weak_token_in_the_environment_is_an_error(monkeypatch, capsys):
    monkeypatch.setenv("CLOSEDPAW_API_TOKEN", "short")
    assert serve(["--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "$CLOSEDPAW_API_TOKEN" in err and "16" in err and "Traceback" not in err


def test_bind_failure_is_an_error(capsys):
    assert serve(["--host", "203.0.113.7", "--port", "0"]) == 2  # not an address of this machine
    assert "error:" in capsys.readouterr().err


def test_non_loopback_bind_warns():
    p = prepared(["--host", "0.0.0.0"])
    p.close()
    assert len(p.warnings) == 1 and "reachable from other machines" in p.warnings[0]


async def test_simulator_mode_is_usable_without_keys():
    p = prepared(["--simulator", "--allow-local"])
    token = p.app.state.token
    try:
        assert "SIMULATED" in "\n".join(p.lines)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(p.app),
            base_url="http://127.0.0.1",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            providers = (await client.get("/api/providers")).json()
            assert set(providers["providers"]) == {
                f"sim-{t}" for t in ("openai", "anthropic", "google", "mistral", "ollama")
            }
            async with client.stream(
                "POST",
                "/api/chat",
                json={"provider": "sim-google", "messages": [{"role": "user", "content": "hi"}], "stream": True},
            ) as r:
                events = parse_sse([line async for line in r.aiter_lines()])
            assert events[-1][0] == "done"
        await p.app.state.manager.close_all()
    finally:
        p.close()


@pytest.mark.parametrize("option", [["--cors-origin", "*"]])
def test_unsafe_options_are_errors(option, capsys):
    assert serve(["--port", "0", *option]) == 2
    assert "exact origins" in capsys.readouterr().err
