"""Instructions per call, counted by valgrind: `python -m benchmarks.instructions [arm ...]`.

Wall-clock ratios on a shared machine move by about 10% from run to run; an instruction
count moves by about 2% (valgrind's callgrind counts what the CPU executes, whatever else the
machine is doing; what still moves it is how the stub's answers line up with the event loop,
which changes how many loop turns a call takes). Each arm runs twice under callgrind, with
`few` and then `many` calls after the same warm-up, in a child process with
`PYTHONHASHSEED=0`; (count(many) - count(few)) / (many - few) is the cost of one call, with
start-up and imports cancelled out.

Arms (concurrency 1, non-streaming, the zero-delay stub endpoint in its own process, which
valgrind does not count):

- `raw`: a raw aiohttp POST and `json.loads` (G1's baseline);
- `raw-read-idle`: the same with aiohttp's read-idle timeout (`sock_read`) set, as ours is;
- `transport`: closedpaw_nb's `HTTPClient.request` with an idempotency key, and `json.loads`;
- `provider`: the OpenAI provider's `chat()` (mapping, parsing, `ChatResponse`);
- `manager`: `ProviderManager.chat`, the whole stack (G1's "ours");
- `row`: one benchmark row (`run_benchmark` at concurrency 64, SQLite store included) with
  the HTTP exchange replaced by a canned answer, so that only our own code is counted. Its
  count is not repeatable like the others' (284-377k in four runs): how many rows share a
  SQLite transaction depends on timing.

Needs valgrind (Linux). About a minute per arm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from . import _clients
from ._common import REPO, stub_server

ARMS = ("raw", "raw-read-idle", "transport", "provider", "manager", "row")
WARMUP = 50
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.split("\n")[0])
    parser.add_argument("arms", nargs="*", metavar="arm", help=f"any of {', '.join(ARMS)} (default: all)")
    parser.add_argument("--few", type=int, default=100, help="calls in the short run (default 100)")
    parser.add_argument("--many", type=int, default=300, help="calls in the long run (default 300)")
    parser.add_argument("--child", nargs=2, metavar=("ARM", "CALLS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _run_child(args.child[0], int(args.child[1]))
        return 0
    unknown = sorted(set(args.arms) - set(ARMS))
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; choose from {', '.join(ARMS)}")
    if args.many <= args.few:
        parser.error("--many must be larger than --few")
    print(f"| arm | instructions per call ({args.few} vs {args.many} calls) |\n|---|---|")
    for arm in args.arms or ARMS:
        per_call = (_count(arm, args.many) - _count(arm, args.few)) / (args.many - args.few)
        print(f"| {arm} | {per_call:,.0f} |", flush=True)
    return 0


def _count(arm: str, calls: int) -> int:
    """Instructions of one child run, as callgrind reports them."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--child",
        arm,
        str(calls),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"valgrind run of {arm!r} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def _run_child(arm: str, calls: int) -> None:
    if arm == "row":
        asyncio.run(_rows(calls))
        return
    with stub_server() as server:
        asyncio.run(_calls(arm, server.base_url("fast"), calls))


async def _calls(arm: str, base_url: str, calls: int) -> None:
    session = _clients.aiohttp_session(read_idle=60.0 if arm == "raw-read-idle" else None)
    manager = _clients.ours_manager({"bench": base_url})
    call = _arm(arm, session, manager, base_url)
    try:
        for _ in range(WARMUP + calls):
            await call()
    finally:
        await session.close()
        await manager.close_all()


def _arm(arm: str, session: Any, manager: Any, base_url: str) -> Callable[[], Awaitable[Any]]:
    provider = manager.get_provider("bench")
    body = {"model": _clients.MODEL, "messages": _clients.MESSAGES}

    async def transport() -> str:
        reply = await provider.http.request("POST", "/chat/completions", json=body, idempotency_key="k" * 32)
        return str(json.loads(reply.content)["choices"][0]["message"]["content"])

    async def provider_chat() -> str:
        return str((await provider.chat(_clients.MESSAGES, None, idempotency_key="k" * 32)).content)

    arms: dict[str, Callable[[], Awaitable[Any]]] = {
        "raw": _clients.aiohttp_arm(session, base_url),
        "raw-read-idle": _clients.aiohttp_arm(session, base_url),
        "transport": transport,
        "provider": provider_chat,
        "manager": _clients.ours_arm(manager, "bench"),
    }
    return arms[arm]


async def _rows(calls: int) -> None:
    """`run_benchmark` rows whose HTTP exchange is a canned answer (`calls` rows after a warm-up)."""
    from closedpaw_nb import RunStore
    from closedpaw_nb.bench.run import new_run_id, run_benchmark

    manager = _clients.ours_manager({"canned": "http://127.0.0.1:9/v1"})
    provider = manager.get_provider("canned")
    provider._http_client = _CannedHTTP()
    provider._http_loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="closedpaw-instructions-") as tmp:
        store = RunStore(Path(tmp) / "runs.sqlite")
        for count in (WARMUP, calls):
            prompts = {f"q{i:04d}": f"Question {i}: say hello." for i in range(count)}
            await run_benchmark(
                manager,
                prompts,
                [f"canned:{_clients.MODEL}"],
                store=store,
                run_id=new_run_id(),
                trials=1,
                warmup=0,
                concurrency=64,
                stream=False,
            )
        store.close()


class _CannedHTTP:
    """Stands in for a provider's `HTTPClient`: every request gets the same OpenAI answer."""

    is_closed = False

    def __init__(self) -> None:
        from multidict import CIMultiDict, CIMultiDictProxy

        from closedpaw_nb.transport.message import HTTPResponse

        answer = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": _clients.MODEL,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hello there."}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16},
        }
        content = json.dumps(answer).encode()
        headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))
        self._response = HTTPResponse(200, headers, content, 1.0)

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._response

    async def aclose(self) -> None:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
