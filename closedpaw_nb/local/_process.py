"""Child-process plumbing behind `LocalModel`: the bootstrap script the server child runs,
the set of live servers (stopped by an `atexit` hook when Python exits) and picking a
free port.
"""

from __future__ import annotations

import atexit
import socket
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._server import LocalModel


# Run in the child instead of a bare `-m llama_cpp.server`, to add two things:
# - its settings are pydantic BaseSettings, so any environment variable named like one of
#   its fields (PORT, HOST, API_KEY, MODEL, VERBOSE, ...) would silently change the server;
#   those are removed, leaving only the command line;
# - a watchdog thread exits the server when the parent process is gone (a killed kernel);
# - llama.cpp's extra CPU buffer types (AMX tiles, weight repacking) are turned off: a CPU
#   may report AMX while its kernel or hypervisor does not grant the tile state, and the
#   first matrix product then dies with SIGILL (seen on this project's CI machines); for a
#   135M model the plain kernels cost nothing that matters.
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
import llama_cpp.llama_cpp as bindings
default_model_params = bindings.llama_model_default_params
def model_params():
    params = default_model_params()
    params.use_extra_bufts = False
    return params
bindings.llama_model_default_params = model_params
from llama_cpp.server.settings import Settings
for name in list(os.environ):
    if name.lower() in Settings.model_fields or name == "CONFIG_FILE":
        del os.environ[name]
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""

_LIVE: set[LocalModel] = set()
_LIVE_LOCK = threading.Lock()


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
