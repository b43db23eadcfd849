"""Is a user-supplied base_url safe to send requests (and an API key) to?

Following the OWASP SSRF cheat sheet: a built-in provider's official origin is on an
allow-list; anything else must be http(s) without credentials, and every address its
host stands for (the literal, or *all* A/AAAA records after resolution) is classified:

- forbidden always: link-local (169.254/16, fe80::/10), cloud metadata addresses,
  unspecified (0.0.0.0, ::), multicast, reserved;
- local (loopback, private, shared, site-local): only for Ollama and custom providers,
  and only when the server was started with `allow_local_base_urls` (`--allow-local`);
- public: allowed.

IPv4 written as one number (`http://2130706433`) or with hex, octal or missing parts
(`http://0x7f.1`, `http://0177.0.0.1`) is refused outright, since parsers disagree on
it; IPv4 embedded in IPv6 (`[::ffff:127.0.0.1]`, 6to4, NAT64, Teredo) is classified
by the address it carries.

The check runs at registration, and again at connect time: a provider registered over
the API carries `registration.address_check` (settings["address_check"]), which the HTTP
client applies to every address a host name resolves to before connecting to it, so
a DNS answer that changes after registration (rebinding) meets the same rule.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from enum import IntEnum
from urllib.parse import SplitResult, urlsplit

from ..types import ProviderType
from .errors import UnsafeBaseURLError

__all__ = ["Reach", "check_base_url", "classify_ip", "origin", "parse_ipv4_number", "refusal"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

LOCAL_OK_TYPES = frozenset({ProviderType.OLLAMA, ProviderType.CUSTOM})
RESOLVE_TIMEOUT = 5.0
# Cloud instance-metadata and host-agent endpoints that are not all link-local.
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "168.63.129.16", "fd00:ec2::254")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


class Reach(IntEnum):
    """How far an address reaches, ordered so that the strictest of several wins."""

    PUBLIC = 0
    LOCAL = 1
    FORBIDDEN = 2


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, with the scheme's default port filled in."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme.lower(), (parts.hostname or "").rstrip("."), port


def parse_ipv4_number(host: str) -> ipaddress.IPv4Address | None:
    """Read `host` as IPv4 in any form inet_aton accepts, or None if it is a name.

    Raises:
        ValueError: The host ends in a number but is not a valid address (e.g. `1.2.3.4.5`),
            which a browser would also refuse rather than look up.
    """
    labels = host.lower().removesuffix(".").split(".")
    if not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    if len(labels) > 4:
        raise ValueError(f"{host!r} looks like an IP address with too many parts")
    numbers = [_ipv4_part(label, host) for label in labels]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise ValueError(f"{host!r} looks like an IP address but a part is out of range")
    value = last + sum(n << (8 * (3 - i)) for i, n in enumerate(head))
    return ipaddress.IPv4Address(value)


def _ipv4_part(label: str, host: str) -> int:
    try:
        if label.startswith("0x"):
            return int(label[2:] or "0", 16)
        if len(label) > 1 and label.startswith("0"):
            return int(label, 8)
        return int(label, 10)
    except ValueError:
        raise ValueError(f"{host!r} looks like an IP address but {label!r} is not a number") from None


def _unwrap(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address merely re-spells (mapped, compatible, translated, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or ip in _V4_TRANSLATED or (int(ip) >> 32 == 0 and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify_ip(ip: IPAddress) -> Reach:
    """The reach of one address, looking through IPv6 forms that carry an IPv4 address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _reach(ip)
    inner = _unwrap(ip)
    if inner is not None:
        return _reach(inner)
    # Tunnels (6to4, Teredo) lead to the IPv4 host they embed: the stricter reach wins.
    tunnelled = [a for a in (ip.sixtofour, ip.teredo[1] if ip.teredo else None) if a is not None]
    candidates: list[IPAddress] = [ip, *tunnelled]
    return max(_reach(a) for a in candidates)


def _reach(ip: IPAddress) -> Reach:
    if ip in METADATA or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return Reach.FORBIDDEN
    if ip.is_loopback:
        return Reach.LOCAL
    if ip.is_reserved:
        return Reach.FORBIDDEN
    site_local = isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local
    if ip.is_private or site_local or not ip.is_global:
        return Reach.LOCAL
    return Reach.PUBLIC


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, via `socket.getaddrinfo` in a worker thread."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT)
    return [str(info[4][0]) for info in infos]


def _split(url: str) -> SplitResult:
    """Parse and check the URL's shape; UnsafeBaseURLError says what is wrong."""
    if _BAD_URL_CHARS.search(url):
        raise UnsafeBaseURLError("base_url must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise UnsafeBaseURLError(f"base_url is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeBaseURLError(f"base_url must start with http:// or https://, not {parts.scheme or 'nothing'!r}")
    if "@" in parts.netloc or parts.username is not None:
        raise UnsafeBaseURLError("base_url must not contain credentials (user:password@); pass api_key instead")
    if not parts.hostname or "%" in parts.netloc:
        raise UnsafeBaseURLError("base_url needs a plain host name or IP address, e.g. https://api.example.com/v1")
    return parts


def _literal(host: str) -> IPAddress | None:
    """The address `host` spells, or None for a name; odd IPv4 spellings are refused."""
    try:
        if ":" in host:
            return ipaddress.ip_address(host)
        number = parse_ipv4_number(host)
    except ValueError as exc:
        raise UnsafeBaseURLError(f"base_url host is not a valid address: {exc}") from None
    if number is not None and host.removesuffix(".") != str(number):
        # One number, hex, octal or short forms are read differently by different
        # parsers (inet_aton, browsers, httpx); only the canonical form is unambiguous.
        raise UnsafeBaseURLError(
            f"base_url host {host!r} is an unusual spelling of the address {number}; "
            f"write it as {number} (dotted decimal without leading zeros)"
        )
    return number


async def _addresses(host: str, port: int, resolve: Resolver) -> list[IPAddress]:
    """The literal address `host` denotes, or every address it resolves to."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    if host == "localhost" or host.endswith(".localhost"):
        return [ipaddress.ip_address("127.0.0.1")]  # RFC 6761: never sent to DNS
    try:
        found = await resolve(host, port)
        return [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
    except (TimeoutError, OSError, UnicodeError, ValueError):
        raise UnsafeBaseURLError(
            f"base_url host {host!r} could not be resolved; check the spelling or use an IP address"
        ) from None


def refusal(host: str, reach: Reach, provider_type: ProviderType, allow_local: bool) -> str | None:
    """Why `host` (of the given reach) may not be used by `provider_type`, or None."""
    if reach is Reach.FORBIDDEN:
        return (
            f"base_url host {host!r} is a link-local, metadata, multicast or reserved address; "
            "the server never sends requests there"
        )
    if reach is Reach.LOCAL and provider_type not in LOCAL_OK_TYPES:
        return (
            f"base_url host {host!r} is a loopback or private address; only ollama and custom "
            f"providers may use one, not {provider_type.value}"
        )
    if reach is Reach.LOCAL and not allow_local:
        return (
            f"base_url host {host!r} is a loopback or private address; start the server with "
            "--allow-local (allow_local_base_urls=True) to register local endpoints"
        )
    return None


async def check_base_url(
    url: str,
    provider_type: ProviderType,
    *,
    allow_local: bool = False,
    official: str | None = None,
    resolve: Resolver = system_resolve,
) -> str:
    """Return `url` if requests may be sent to it, else raise UnsafeBaseURLError.

    Args:
        url: The base_url from the request.
        provider_type: Decides whether local addresses may be allowed at all.
        allow_local: The server setting that lets Ollama/custom use local addresses.
        official: The provider type's default base URL; its exact origin is allowed as is.
        resolve: Host -> addresses lookup (tests pass a fake one).

    Raises:
        UnsafeBaseURLError: With the reason and what to do instead.
    """
    parts = _split(url)
    if official is not None and origin(url) == origin(official):
        return url
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    addresses = await _addresses(host, port, resolve)
    if not addresses:
        raise UnsafeBaseURLError(f"base_url host {host!r} resolved to no address")
    reach = max(classify_ip(a) for a in addresses)
    problem = refusal(host, reach, provider_type, allow_local)
    if problem:
        raise UnsafeBaseURLError(problem)
    return url
