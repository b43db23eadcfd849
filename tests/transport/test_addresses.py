"""One definition of "this machine" for benchmarks (cost 0.0), widgets and the server."""

from __future__ import annotations

import pytest

from closedpaw_nb.transport.addresses import is_loopback_host


@pytest.mark.parametrize(
    "host, expected",
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("api.localhost", True),
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("192.168.1.2", False),
        ("api.openai.com", False),
        ("127.example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_hosts(host, expected):
    assert is_loopback_host(host) is expected
