"""Property-based run over the OpenAPI schema (schemathesis): no 5xx, no canary, ever.

The real server runs on a loopback port with a provider whose key is the canary.
Generated registrations may succeed (a public address literal with a key); each one is
removed again right away, so every case meets the same server and the run is bounded.
"""

from __future__ import annotations

import socket

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from closedpaw_nb import ProviderManager
from closedpaw_nb.server import create_app, start_server
from conftest import sim_config

from .conftest import AUTH, TOKEN, FakeDNS

pytestmark = pytest.mark.slow  # property-based: hundreds of requests

EXAMPLES = 120
TARGET = "sim-canary"
NEGATIVE_REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]


def aim(case) -> None:
    """Point schema-valid cases at the registered provider, so that they get past the 404
    for an unknown name and exercise the simulator (never DELETE it: every case needs it)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if case.path == "/api/chat" and isinstance(case.body, dict):
        case.body["provider"] = TARGET
    elif case.method != "DELETE" and "provider_name" in (case.path_parameters or {}):
        case.path_parameters["provider_name"] = TARGET


@pytest.fixture(scope="module")
def fuzz_server(sim_server, canary_key):
    manager = ProviderManager()
    manager.register_provider(
        sim_config(sim_server, "openai", name=TARGET, key=canary_key, settings={"max_retries": 0})
    )
    app = create_app(manager, token=TOKEN)
    with pytest.MonkeyPatch.context() as patch:
        # Generated host names must not reach real DNS: every name is unknown here.
        patch.setattr(socket, "getaddrinfo", FakeDNS(socket.getaddrinfo))
        server = start_server(app)
        yield server, app
        server.stop()


@pytest.fixture(scope="module")
def canary_key():
    from conftest import CANARY

    return CANARY


@pytest.fixture(scope="module")
def api_schema(fuzz_server):
    _, app = fuzz_server
    # A generated body over the server's size cap (several strings past their maxLength)
    # is turned down with a 413 before validation: that is a rejection too.
    config = schemathesis.config.SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": [*NEGATIVE_REJECTIONS, "413"]}}}
    )
    return schemathesis.openapi.from_dict(app.openapi(), config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
def test_no_server_error_and_no_canary(case, fuzz_server, canary_key):
    server, _ = fuzz_server
    # The generated Authorization value is replaced by the real token; a case that leaves
    # the header out on purpose (a negative case) is sent without one and must get a 401.
    aim(case)
    auth = AUTH if "Authorization" in (case.headers or {}) else None
    response = case.call(base_url=server.url, headers=auth)
    # A schema cannot say "resolves to a public address" or "no key is stored under this
    # name": registration turns down some schema-valid bodies with a 422 on purpose.
    lenient = [schemathesis.checks.positive_data_acceptance] if case.path == "/api/providers/register" else []
    case.validate_response(response, excluded_checks=lenient, headers=auth)
    assert response.status_code < 500, (case.method, case.path, response.text)
    assert canary_key not in response.text
    assert canary_key not in str(response.headers)
    if case.path == "/api/providers/register" and response.status_code == 201:
        name = response.json()["name"]
        httpx.delete(f"{server.url}/api/providers/{name}", headers=AUTH).raise_for_status()
