"""The canary key appears nowhere: reprs, logs at DEBUG (ours, httpx, httpcore), errors, tracebacks.

Every provider is registered with the canary and driven through every kind of fault the
simulator can script.
"""

from __future__ import annotations

import logging
import traceback

import pytest

from closedpaw_nb import ProviderManager
from closedpaw_nb.errors import ProviderError
from closedpaw_nb.sim import Fault
from conftest import PROVIDER_TYPES, sim_config

MOUNT = {"custom": "openai"}

FAULTS = [
    None,
    dict(kind="status", status=401),
    dict(kind="status", status=429, headers={"retry-after": "0.01"}),
    dict(kind="status", status=500),
    dict(kind="reset"),
    dict(kind="hang"),
    dict(kind="cut_stream", after=2),
    dict(kind="stream_error", after=2),
    dict(kind="malformed", variant="truncated"),
    dict(kind="malformed", variant="html"),
    dict(kind="slow_drip", chunk_size=64, delay_ms=1),
    dict(kind="redirect", location="http://127.0.0.1:9/elsewhere"),
]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(repr(record.args))


@pytest.fixture
def log_lines():
    handler = Collect()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    names = ["", "httpx", "httpcore", "closedpaw_nb"]
    old = {n: logging.getLogger(n).level for n in names}
    root.addHandler(handler)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield handler.lines
    root.removeHandler(handler)
    for name, level in old.items():
        logging.getLogger(name).setLevel(level)


def error_texts(exc: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(exc)), str(exc), repr(exc)]
    for attr in ("partial_text", "message", "request_id"):
        texts.append(str(getattr(exc, attr, "")))
    return texts


# The whole sweep (every provider x every fault, streamed and not) is `slow`; one protocol
# stays in the inner loop (python -m pytest -m "not slow").
@pytest.mark.parametrize(
    "provider_type", [pytest.param(p, marks=[] if p == "openai" else [pytest.mark.slow]) for p in PROVIDER_TYPES]
)
async def test_canary_never_leaks(sim, provider_type, canary, log_lines, capsys):
    seen: list[str] = []
    for fault in FAULTS:
        # A fresh manager per fault: after a 401 the manager refuses to send the key again.
        manager = ProviderManager()
        # A hang ends at the read timeout, whatever it is: keep that short, and wait it out once
        # (retries after an error are covered by the 429, 500 and reset faults).
        hang = bool(fault) and fault["kind"] == "hang"
        provider = manager.register_provider(
            sim_config(
                sim,
                provider_type,
                key=canary,
                timeout=0.1 if hang else 0.3,
                settings={"max_retries": 0 if hang else 1, "retry_initial_delay": 0.01, "organization": "org-1"},
            )
        )
        seen += [repr(manager), repr(provider), str(manager.get_status()), repr(provider.config)]
        for streaming in (False, True):
            if fault:
                sim.simulator.add_fault(Fault(provider=MOUNT.get(provider_type, provider_type), times=2, **fault))
            try:
                if streaming:
                    stream = manager.stream("Hi", provider=provider_type)
                    response = await stream.get_response()
                else:
                    response = await manager.chat("Hi", provider=provider_type)
                seen += [repr(response), str(response.to_dict())]
            except ProviderError as exc:
                seen += error_texts(exc)
            sim.simulator.clear_faults()
        seen.append(str(await provider.check_health()))
        seen.append(str(await manager.list_all_models()))
        await manager.close_all()
    captured = capsys.readouterr()
    everything = "\n".join(seen + log_lines + [captured.out, captured.err])
    assert log_lines, "the DEBUG logs were not captured, so this test would prove nothing"
    assert canary not in everything
    # The key did reach the server, in the header its API expects, so it was really in play.
    assert any(canary in str(r.headers) for r in sim.simulator.requests)
    if provider_type == "google":
        assert not any(r.key_in_query for r in sim.simulator.requests)


def test_redaction_filter_scrubs_httpx_style_args(canary):
    from closedpaw_nb.config import Secret
    from closedpaw_nb.transport.redact import SecretFilter

    Secret(canary)
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        'HTTP Request: %s %s "%s"',
        ("POST", f"https://x/v1?key={canary}", "HTTP/1.1 200 OK"),
        None,
    )
    SecretFilter().filter(record)
    assert canary not in record.getMessage()
    assert "key=***" in record.getMessage()
