"""``python -m closedpaw_nb.sim``: the same as ``python -m closedpaw_nb sim``."""

from __future__ import annotations

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
