"""Command line: `python -m closedpaw_nb sim [--port N]` and `python -m closedpaw_nb demo`."""

from __future__ import annotations

import argparse
import sys

COMMANDS = {
    "sim": "run the protocol-faithful simulator on 127.0.0.1",
    "demo": "compare the simulated providers on one prompt and print a table",
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
    if args.command == "demo":
        from .demo import run_demo

        run_demo()
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
