"""A throwaway JupyterLab server for the browser test: loopback, a token, isolated dirs.

Widget state saving is switched on in its settings, so the saved notebook holds every
widget's state: the strictest place to look for a leaked key.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {
    # Save the widget state into the .ipynb on save: then the test can prove it holds no key.
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
    # No news or update checks: the machine has no network besides loopback.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"checkForUpdates": False, "fetchNews": "false"},
}


@dataclass
class Lab:
    """A running JupyterLab: its URL, token, notebook directory and log file."""

    url: str
    token: str
    root: Path
    log: Path
    process: subprocess.Popen

    def page(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_settings(settings_dir: Path) -> None:
    for name, values in SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _environment(base: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),  # the kernel imports this checkout
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        XDG_DATA_HOME=str(base / "data"),  # the benchmark run store's default home
        OLLAMA_HOST="127.0.0.1:9",  # the seed's Ollama entry: nothing listens there
    )
    return env


@contextmanager
def running_lab(base: Path, timeout: float = 60.0) -> Iterator[Lab]:
    """Start JupyterLab serving `base / "work"`; stop it (and its kernels) on exit, always."""
    root = base / "work"
    root.mkdir(parents=True, exist_ok=True)
    _write_settings(base / "settings")
    port, token, log = _free_port(), secrets.token_hex(16), base / "lab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.extension_manager=readonly",
    ]  # no PyPI look-ups from the extension manager
    if os.geteuid() == 0:  # CI and these machines run as root
        command.append("--ServerApp.allow_root=True")
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=_environment(base), start_new_session=True, cwd=root
        )
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log, process)
    try:
        _wait_ready(lab, timeout)
        yield lab
    finally:
        _stop(lab)


def _wait_ready(lab: Lab, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early:\n{lab.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status?token={lab.token}", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"JupyterLab did not answer within {timeout} s:\n{lab.log.read_text()[-3000:]}")


def _stop(lab: Lab) -> None:
    """Ask the server to shut down (it stops its kernels); kill whatever is left."""
    kernels = _descendants(lab.process.pid)
    try:
        request = urllib.request.Request(f"{lab.url}/api/shutdown?token={lab.token}", method="POST")
        urllib.request.urlopen(request, timeout=5).close()
        lab.process.wait(15)
    except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
        _kill_group(lab.process.pid)
        lab.process.wait(5)
    for pid in kernels:  # kernels run in their own sessions: end them one by one
        _kill_group(pid)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _descendants(pid: int) -> list[int]:
    """Child processes of `pid` (Linux /proc), found before the parent goes away."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            children += [child, *_descendants(child)]
    return children
