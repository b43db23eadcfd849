"""Running the simulator: uvicorn in a background thread, and the ``sim`` CLI command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn

from .._background_server import BackgroundServer, bind, serve_in_background, url_of
from ..transport.addresses import is_loopback_host
from ._app import Simulator, create_app

__all__ = ["PROVIDER_PATHS", "SimServer", "main", "serve_in_thread", "start_server"]

#: Base URL path a client of closedpaw_nb uses for each provider type.
PROVIDER_PATHS = {
    "openai": "/openai/v1",
    "custom": "/openai/v1",
    "anthropic": "/anthropic",
    "google": "/google",
    "mistral": "/mistral",
    "ollama": "/ollama",
}


@dataclass
class SimServer:
    """A simulator being served in a background thread.

    Attributes:
        url: Root URL, e.g. ``http://127.0.0.1:54321``.
        simulator: The shared state: add faults, read recorded requests.
    """

    url: str
    simulator: Simulator
    _served: BackgroundServer = field(repr=False)

    def base_url(self, provider: str) -> str:
        """The base URL a closedpaw_nb client of ``provider`` should use.

        Args:
            provider: ``openai``, ``anthropic``, ``google``, ``mistral``, ``ollama`` or ``custom``.

        Returns:
            e.g. ``{url}/openai/v1`` for openai/custom, ``{url}/anthropic`` for anthropic.
        """
        try:
            return self.url + PROVIDER_PATHS[str(provider).lower()]
        except KeyError:
            raise ValueError(f"unknown provider {provider!r}; expected one of {sorted(PROVIDER_PATHS)}") from None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: hanging requests end, open streams get ``timeout`` seconds to finish."""
        self._served.stop(timeout)


def _config(simulator: Simulator, host: str) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(simulator),
        host=host,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # Bounded, so a stop() never waits long for a slow stream.
        timeout_graceful_shutdown=2,
    )


def start_server(host: str = "127.0.0.1", port: int = 0, simulator: Simulator | None = None) -> SimServer:
    """Start a simulator in a daemon thread and return once it accepts connections.

    Prefer :func:`serve_in_thread` in tests; this form suits a notebook that keeps the server
    for the whole session (call ``.stop()`` when done).

    Args:
        host: Interface to bind; loopback by default.
        port: TCP port; 0 picks a free one.
        simulator: Shared state; a fresh ``Simulator()`` when omitted.

    Returns:
        The running server.

    Raises:
        RuntimeError: When uvicorn did not start within 10 seconds.
    """
    simulator = simulator or Simulator()
    simulator._closing.clear()
    served = serve_in_background(
        _config(simulator, host), host=host, port=port, name="closedpaw-sim", before_stop=simulator._closing.set
    )
    return SimServer(served.url, simulator, served)


@contextmanager
def serve_in_thread(host: str = "127.0.0.1", port: int = 0, simulator: Simulator | None = None) -> Iterator[SimServer]:
    """Serve a simulator in a background thread for the duration of a ``with`` block.

    Example:
        >>> with serve_in_thread() as sim:  # doctest: +SKIP
        ...     client = openai.OpenAI(base_url=sim.base_url("openai"), api_key="sk-test")

    Args:
        host: Interface to bind; loopback by default.
        port: TCP port; 0 picks a free one.
        simulator: Shared state; a fresh ``Simulator()`` when omitted.

    Yields:
        The running :class:`SimServer`; it is stopped on exit.
    """
    server = start_server(host, port, simulator)
    try:
        yield server
    finally:
        server.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m closedpaw_nb sim",
        description="Serve simulated OpenAI, Anthropic, Gemini, Mistral and Ollama APIs on one port.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port, 0 for any free one (default: 8765)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiply all latencies (0: no waiting)")
    parser.add_argument("--ollama-requires-key", action="store_true", help="make /ollama demand a Bearer key")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sim`` command: print the base URLs, then serve until Ctrl-C.

    Args:
        argv: Arguments after ``sim`` (default: ``sys.argv[1:]``).

    Returns:
        The process exit code.
    """
    args = _parser().parse_args(argv)
    simulator = Simulator(time_scale=args.time_scale, ollama_requires_key=args.ollama_requires_key, max_recorded=1000)
    sock = bind(args.host, args.port)
    url = url_of(sock)
    print(f"closedpaw_nb simulator listening on {url}")
    for provider, path in PROVIDER_PATHS.items():
        print(f"  {provider:<9} base_url = {url}{path}")
    print("All output is SIMULATED: deterministic filler text, not from any real model.")
    print("Any API key works except ones starting with 'invalid'. Press Ctrl-C to stop.")
    if not is_loopback_host(args.host):
        print(f"warning: listening on {args.host}, reachable from other machines", file=sys.stderr)
    sys.stdout.flush()
    try:
        uvicorn.Server(_config(simulator, args.host)).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
