"""`python -m closedpaw_nb serve`: run the ClosedPaw HTTP API on 127.0.0.1.

    python -m closedpaw_nb serve [--host 127.0.0.1] [--port 8766] [--token-env CLOSEDPAW_API_TOKEN]
                                 [--allow-local] [--simulator] [--allowed-host NAME] [--cors-origin URL]

The token comes from the named environment variable when it is set, else a random
one is made and printed once. Binding anything but loopback prints a warning.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI

from ..config import ProviderConfig
from ..manager import ProviderManager
from .app import create_app, default_manager
from .limits import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_HEADER_BYTES
from .runner import bind, is_loopback, url_of, uvicorn_config
from .security import DEFAULT_ALLOWED_HOSTS, check_token, new_token

__all__ = ["Prepared", "main", "parser", "prepare", "serve"]

DEFAULT_PORT = 8766
TOKEN_ENV = "CLOSEDPAW_API_TOKEN"
SIM_TYPES = ("openai", "anthropic", "google", "mistral", "ollama")


def parser() -> argparse.ArgumentParser:
    """The `serve` command's options."""
    p = argparse.ArgumentParser(
        prog="python -m closedpaw_nb serve", description="Serve the ClosedPaw HTTP API (provider management and chat)."
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, this machine only)")
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port, 0 for any free one (default: {DEFAULT_PORT})"
    )
    p.add_argument(
        "--token-env",
        default=TOKEN_ENV,
        metavar="VAR",
        help=f"environment variable holding the API token (default: {TOKEN_ENV}); "
        "when unset, a random token is printed at start",
    )
    p.add_argument(
        "--allow-local",
        action="store_true",
        help="let ollama/custom providers be registered at loopback or private addresses",
    )
    p.add_argument(
        "--simulator",
        action="store_true",
        help="start the built-in simulator and register its providers (no keys needed)",
    )
    p.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another Host header value to accept (repeatable), e.g. the machine's name",
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="URL",
        help="a browser origin allowed to call the API (repeatable; none by default)",
    )
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"largest request body accepted, larger is a 413 (default: {DEFAULT_MAX_BODY_BYTES})",
    )
    p.add_argument(
        "--max-header-bytes",
        type=int,
        default=DEFAULT_MAX_HEADER_BYTES,
        help=f"largest request head (request line and headers) accepted (default: {DEFAULT_MAX_HEADER_BYTES})",
    )
    return p


@dataclass
class Prepared:
    """Everything `serve` needs, built but not yet serving (so it can be tested).

    Attributes:
        app: The FastAPI app.
        sock: The bound listening socket.
        lines: The start-up banner for stdout (holds the token when it was generated).
        warnings: Lines for stderr.
        simulator: The simulator server when --simulator was given.
    """

    app: FastAPI
    sock: socket.socket
    lines: list[str]
    warnings: list[str] = field(default_factory=list)
    simulator: Any = None

    def close(self) -> None:
        """Release the socket and stop the simulator."""
        self.sock.close()
        if self.simulator is not None:
            self.simulator.stop()


def _token(var: str, environ: Mapping[str, str]) -> tuple[str, bool]:
    """(token, taken from the environment)."""
    value = environ.get(var, "").strip()
    if not value:
        return new_token(), False
    try:
        return check_token(value), True
    except ValueError as exc:
        raise ValueError(f"${var}: {exc}") from None


def _simulated(manager: ProviderManager) -> Any:
    """Start the simulator and register one provider per wire protocol on `manager`."""
    from ..sim import start_server

    sim = start_server()
    for ptype in SIM_TYPES:
        manager.register_provider(
            ProviderConfig(
                ptype,
                name=f"sim-{ptype}",
                api_key="sim-key",
                base_url=sim.base_url(ptype),
                models=["sim-small", "sim-large"],
                default_model="sim-small",
                settings={"simulated": True},
            )
        )
    return sim


def _allowed_hosts(args: argparse.Namespace) -> list[str]:
    hosts = [*DEFAULT_ALLOWED_HOSTS, *args.allowed_host]
    if args.host not in ("0.0.0.0", "::"):
        hosts.append(args.host)
    return hosts


def prepare(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Prepared:
    """Build the app, bind the socket and compose the banner.

    Raises:
        ValueError: The token in the environment is too weak, or an option is invalid.
        OSError: The address could not be bound.
    """
    token, from_env = _token(args.token_env, os.environ if environ is None else environ)
    manager = ProviderManager() if args.simulator else default_manager()
    simulator = _simulated(manager) if args.simulator else None
    try:
        app = create_app(
            manager,
            token=token,
            allowed_hosts=_allowed_hosts(args),
            cors_origins=args.cors_origin,
            allow_local_base_urls=args.allow_local,
            max_body_bytes=args.max_body_bytes,
        )
        sock = bind(args.host, args.port)
    except BaseException:
        if simulator is not None:
            simulator.stop()
        raise
    lines = _banner(url_of(sock), token, from_env, args, manager)
    warnings = [] if is_loopback(args.host) else [_exposed_warning(args.host)]
    return Prepared(app, sock, lines, warnings, simulator)


def _exposed_warning(host: str) -> str:
    return (
        f"warning: listening on {host}: the API is reachable from other machines, and anyone with "
        "the token can spend your provider keys. Prefer 127.0.0.1 (an SSH tunnel works for remote use); "
        "add --allowed-host NAME for the name clients connect with."
    )


def _banner(url: str, token: str, from_env: bool, args: argparse.Namespace, manager: ProviderManager) -> list[str]:
    shown = (
        f"${args.token_env} (not shown)" if from_env else f"{token}   (shown once; set ${args.token_env} to choose one)"
    )
    lines = [
        f"ClosedPaw HTTP API listening on {url}",
        f"  token:     {shown}",
        f"  docs:      {url}/docs (send the token as 'Authorization: Bearer ...')",
        f"  providers: {', '.join(manager.names) or 'none yet'} (default: {manager.default})",
    ]
    if args.simulator:
        lines.append("  simulator: sim-* providers answer with SIMULATED text, not a real model")
    return lines


def serve(argv: Sequence[str] | None = None) -> int:
    """Run the `serve` command until Ctrl-C.

    Args:
        argv: Arguments after `serve` (default: `sys.argv[1:]`).

    Returns:
        The process exit code (2 for a bad option, token or address).
    """
    args = parser().parse_args(argv)
    try:
        prepared = prepare(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(prepared.lines), flush=True)
    for line in prepared.warnings:
        print(line, file=sys.stderr, flush=True)
    try:
        config = uvicorn_config(prepared.app, args.log_level, args.max_header_bytes)
        uvicorn.Server(config).run(sockets=[prepared.sock])
    except KeyboardInterrupt:
        pass
    finally:
        prepared.close()
    return 0


main = serve
