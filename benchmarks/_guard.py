"""A network guard for the suite: connections and name lookups stay on this machine.

An audit hook refuses (by raising) any `socket.connect` to, or `getaddrinfo` of, an
address outside the loopback range. It protects against a compared library that
phones home (LiteLLM fetches a price list at import unless told not to), and makes
the suite's promise checkable: all of its traffic is loopback traffic.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any

__all__ = ["install", "is_local"]

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}
_installed = False


def is_local(host: Any) -> bool:
    """True for loopback addresses and localhost names (and for non-IP socket families)."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").lower()
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect":
        sock, address = args[0], args[1]
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_local(address[0]):
            raise PermissionError(f"benchmarks: refused a connection to {address[0]!r} (loopback only)")
    elif event == "socket.getaddrinfo" and not is_local(args[0]):
        raise PermissionError(f"benchmarks: refused a lookup of {args[0]!r} (loopback only)")


def install() -> None:
    """Install the guard once for this process (audit hooks cannot be removed)."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
