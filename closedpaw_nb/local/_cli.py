"""The command line: `python -m closedpaw_nb local` (or `python -m closedpaw_nb.local`)
starts the server, prints its base URL and a sample chat, and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..manager import ProviderManager
from ._discovery import MODEL_ID, _unavailable_message, is_available, model_path
from ._errors import LocalModelError
from ._server import LocalModel


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m closedpaw_nb local`: serve the local model until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m closedpaw_nb local", description=f"Serve {MODEL_ID} with llama.cpp's OpenAI-compatible server."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default: a free one)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: CPUs - 1, 1 to 4)")
    parser.add_argument("--ctx", type=int, default=2048, help="context window in tokens (default 2048)")
    parser.add_argument(
        "--prompt",
        default="In one sentence, what is a language model?",
        help="the sample chat sent once the server is up",
    )
    parser.add_argument("--no-sample", action="store_true", help="skip the sample chat")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not is_available():
        print(_unavailable_message(), file=sys.stderr)
        return 2
    model = LocalModel(host=args.host, port=args.port, n_threads=args.threads, n_ctx=args.ctx)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        started = time.perf_counter()
        model.start()
        threads = f"{model.n_threads} thread{'s' if model.n_threads != 1 else ''}"
        print(f"{MODEL_ID} (llama.cpp, {threads}) is up after {time.perf_counter() - started:.1f} s")
        print(f"OpenAI-compatible base URL: {model.base_url}   model id: {MODEL_ID}")
        print(f"weights: {model.model_file or model_path()}")
        if not args.no_sample:
            _sample_chat(model, args.prompt)
        print(
            "\nFrom Python:\n  import closedpaw_nb as cp\n"
            f"  cp.register('custom', name='local', base_url='{model.base_url}', default_model='{MODEL_ID}')\n"
            "  cp.chat('Hello!', 'local')\n\nServing until Ctrl-C.",
            flush=True,
        )
        while model.running:
            time.sleep(0.5)
        print(f"the server stopped by itself:\n{model.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…")
        return 0
    except LocalModelError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        model.stop()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _sample_chat(model: LocalModel, prompt: str) -> None:
    from .. import _runner

    manager = ProviderManager()
    model.register(manager)
    try:
        reply = _runner.run(manager.chat(prompt, model.name, max_tokens=48, temperature=0.0))
    finally:
        model.unregister()
        _runner.run(manager.close_all())
    print(
        f"\nSample chat: {prompt}\n  → {reply.content.strip()}\n"
        f"  ({reply.latency_ms:.0f} ms, {reply.completion_tokens} completion tokens)"
    )
