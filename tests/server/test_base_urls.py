"""Registration refuses unsafe base URLs (OWASP SSRF rules), checking every DNS record."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closedpaw_nb.server import UnsafeBaseURLError, check_base_url
from closedpaw_nb.server.urlcheck import Reach, classify_ip, parse_ipv4_number
from closedpaw_nb.types import ProviderType

from .conftest import error_of

PUBLIC = "93.184.216.34"

# Refused for every provider type and setting.
ALWAYS_UNSAFE = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://0.0.0.0:11434/",
    "http://[::]:11434/",
    "http://224.0.0.1/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://017700000001/",
    "http://127.0.0.01/",
    "http://1.2.3.4.5/",
    "http://0xzz.1/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/_x",
    "ftp://example.com/",
    "javascript:alert(1)",
    "http://user:pw@example.com/v1",
    "http://user@example.com/v1",
    "http://example.com@127.0.0.1/",
    "http://exa mple.com/",
    "http://example.com\\@127.0.0.1/",
    "http://[::1%25lo]/",
    "http://%31%32%37.0.0.1/",
    "http://meta.example/",  # DNS: 169.254.169.254
    "http://nxdomain.example/",  # DNS: no answer
    "http:///v1",
    "http://example.com:99999/",
]

# Refused unless the provider is ollama/custom AND the server allows local addresses.
LOCAL = [
    "http://127.0.0.1:8080/v1",
    "http://localhost:11434",
    "http://api.localhost/",
    "http://10.0.0.5/v1",
    "http://192.168.1.20:8080/v1",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://[::1]:8080/",
    "http://[fc00::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[2002:7f00:1::]/",  # 6to4 wrapping 127.0.0.1
    "http://rebind.example/",  # DNS: one public and one loopback record
    "http://v6only.example/",  # DNS: ::1
    "http://127.0.0.1.nip.io/",  # DNS: 127.0.0.1
]


@pytest.fixture(autouse=True)
def records(dns):
    dns.records.update(
        {
            "meta.example": ["169.254.169.254"],
            "rebind.example": [PUBLIC, "127.0.0.1"],
            "v6only.example": ["::1"],
            "127.0.0.1.nip.io": ["127.0.0.1"],
            "public.example": [PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"],
        }
    )
    return dns


async def register(client, ptype, url, key="sk-test-fresh-0123456789", name="target"):
    body = {"provider_type": ptype, "name": name, "base_url": url, "default_model": "m"}
    if key:
        body["api_key"] = key
    return await client.post("/api/providers/register", json=body)


def assert_refused(response, url):
    assert response.status_code == 422, (url, response.text)
    assert error_of(response)["type"] in ("unsafe_base_url", "config_error"), (url, response.text)


@pytest.mark.parametrize("url", ALWAYS_UNSAFE)
@pytest.mark.parametrize("ptype", ["custom", "ollama", "openai"])
async def test_always_unsafe(client, url, ptype):
    response = await register(client, ptype, url)
    assert_refused(response, url)
    assert "target" not in (await client.get("/api/providers")).json()["providers"]


@pytest.mark.parametrize("url", LOCAL)
async def test_local_refused_without_the_setting(make_app, url):
    import httpx

    from .conftest import AUTH, BASE

    app = make_app(allow_local_base_urls=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE, headers=AUTH) as c:
        for ptype in ("custom", "ollama"):
            response = await register(c, ptype, url)
            assert_refused(response, url)
            assert "--allow-local" in response.json()["error"]["message"]


@pytest.mark.parametrize("url", LOCAL)
async def test_local_refused_for_cloud_types_even_with_the_setting(client, url):
    for ptype in ("openai", "anthropic", "google", "mistral"):
        response = await register(client, ptype, url)
        assert_refused(response, url)
        assert "only ollama and custom" in response.json()["error"]["message"]


@pytest.mark.filterwarnings("ignore::closedpaw_nb.manager.BaseURLWarning")  # Ollama at .../v1: advice, not the point
@pytest.mark.parametrize("url", LOCAL)
async def test_local_allowed_for_ollama_and_custom_with_the_setting(client, url):
    response = await register(client, "custom", url)
    assert response.status_code == 201, response.text
    assert (await client.delete("/api/providers/target")).status_code == 200
    assert (await register(client, "ollama", url)).status_code == 201


async def test_public_hosts_are_allowed(client, records):
    response = await register(client, "openai", "https://public.example/v1")
    assert response.status_code == 201, response.text
    assert "public.example" in records.asked
    await client.delete("/api/providers/target")
    assert (await register(client, "custom", f"http://{PUBLIC}:8080/v1")).status_code == 201


async def test_ollama_official_endpoint_needs_no_setting(make_app, monkeypatch):
    import httpx

    from .conftest import AUTH, BASE

    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    app = make_app(allow_local_base_urls=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE, headers=AUTH) as c:
        # Omitted or spelled out, Ollama's own default (OLLAMA_HOST) is the operator's choice.
        assert (await c.post("/api/providers/register", json={"provider_type": "ollama"})).status_code == 201
        response = await register(c, "ollama", "http://127.0.0.1:11434/", key=None)
        assert response.status_code == 201, response.text
        assert_refused(await register(c, "ollama", "http://127.0.0.1:11435/", key=None, name="t2"), "other port")


async def test_official_origin_is_not_resolved(client, records):
    response = await register(client, "openai", "https://api.openai.com/v1")
    assert response.status_code == 201, response.text
    assert records.asked == []


async def test_every_dns_record_is_checked(client, records):
    response = await register(client, "custom", "http://rebind.example/v1")
    assert response.status_code == 201  # allowed here (custom + setting), but classified local:
    await client.delete("/api/providers/target")
    refused = await register(client, "openai", "http://rebind.example/v1")
    assert_refused(refused, "rebind")
    assert "loopback or private" in refused.json()["error"]["message"]


# -- the checker on its own -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reach"),
    [
        ("8.8.8.8", Reach.PUBLIC),
        ("2606:4700:4700::1111", Reach.PUBLIC),
        ("127.0.0.1", Reach.LOCAL),
        ("10.1.2.3", Reach.LOCAL),
        ("::1", Reach.LOCAL),
        ("fd12::1", Reach.LOCAL),
        ("::ffff:127.0.0.1", Reach.LOCAL),
        ("64:ff9b::a00:1", Reach.LOCAL),
        ("::127.0.0.1", Reach.LOCAL),
        ("::ffff:0:7f00:1", Reach.LOCAL),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Reach.LOCAL),
        ("169.254.169.254", Reach.FORBIDDEN),
        ("fe80::1", Reach.FORBIDDEN),
        ("0.0.0.0", Reach.FORBIDDEN),
        ("::ffff:169.254.169.254", Reach.FORBIDDEN),
        ("2002:a9fe:a9fe::", Reach.FORBIDDEN),
        ("168.63.129.16", Reach.FORBIDDEN),
        ("ff02::1", Reach.FORBIDDEN),
        ("255.255.255.255", Reach.FORBIDDEN),
    ],
)
def test_classify_ip(address, reach):
    assert classify_ip(ipaddress.ip_address(address)) is reach


def spellings(value: int) -> st.SearchStrategy[str]:
    """Ways inet_aton accepts to write the IPv4 address `value`."""
    b = value.to_bytes(4, "big")

    def part(n: int, style: str) -> str:
        return {"dec": str(n), "hex": hex(n), "oct": "0" + oct(n)[2:]}[style]

    styles = st.sampled_from(["dec", "hex", "oct"])
    one = styles.map(lambda s: part(value, s))
    two = st.tuples(styles, styles).map(lambda s: f"{part(b[0], s[0])}.{part(value & 0xFFFFFF, s[1])}")
    three = st.tuples(styles, styles, styles).map(
        lambda s: f"{part(b[0], s[0])}.{part(b[1], s[1])}.{part(value & 0xFFFF, s[2])}"
    )
    four = st.tuples(styles, styles, styles, styles).map(
        lambda s: ".".join(part(n, x) for n, x in zip(b, s, strict=False))
    )
    return st.one_of(one, two, three, four)


@pytest.mark.slow  # a property-based sweep: 300 examples
@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1).flatmap(lambda v: st.tuples(st.just(v), spellings(v))))
def test_ipv4_spellings_read_like_inet_aton(case):
    value, text = case
    assert parse_ipv4_number(text) == ipaddress.IPv4Address(value)
    assert socket.inet_aton(text) == value.to_bytes(4, "big")  # the C library agrees


async def fail_resolve(host, port):
    raise AssertionError(f"no lookup expected for {host}")


@pytest.mark.slow  # a property-based sweep: 300 examples
@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.from_regex(r"\Ahttps?://[0-9a-fx.:\[\]@%]{0,30}(/[a-z]*)?\Z"))
async def test_checker_only_ever_refuses_cleanly(text):
    async def resolve(host, port):
        return ["127.0.0.1"]

    try:
        url = await check_base_url(text, ProviderType.OPENAI, resolve=resolve)
    except UnsafeBaseURLError as exc:
        assert str(exc)
    else:  # names resolve to loopback here, so only a public address literal may pass
        parts = urlsplit(url)
        assert parts.scheme in ("http", "https") and parts.username is None
        assert classify_ip(ipaddress.ip_address(parts.hostname)) is Reach.PUBLIC
