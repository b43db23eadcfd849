"""Command line: `python -m closedpaw_nb sim|serve|demo|local ...` (each sub-command has --help)."""

from __future__ import annotations

import argparse
import sys

COMMANDS = {
    "sim": "run the protocol-faithful simulator on 127.0.0.1",
    "demo": "compare the simulated providers on one prompt, print a table and write a chart PNG",
    "serve": "run the ClosedPaw HTTP API on 127.0.0.1 (needs the server extra)",
    "local": "serve SmolLM2-135M with llama.cpp on 127.0.0.1 (needs the local extra)",
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a sub-command; each parses its own options."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m closedpaw_nb", description="closedpaw_nb tools")
    parser.add_argument("command", choices=sorted(COMMANDS), help="; ".join(f"{k}: {v}" for k, v in COMMANDS.items()))
    args, rest = parser.parse_known_args(argv[:1])
    if args.command == "sim":
        from .sim import main as sim_main

        return int(sim_main(argv[1:]) or 0)
    if args.command == "serve":
        return _serve(argv[1:])
    if args.command == "demo":
        from .demo import main as demo_main

        return int(demo_main(argv[1:]) or 0)
    if args.command == "local":
        from .local import main as local_main

        return int(local_main(argv[1:]) or 0)
    return 2


def _serve(argv: list[str]) -> int:
    try:
        from .server.cli import serve
    except ImportError as exc:  # the message names: pip install "closedpaw_nb[server]"
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return serve(argv)


if __name__ == "__main__":
    sys.exit(main())
