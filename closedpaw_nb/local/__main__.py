"""`python -m closedpaw_nb.local`: the same as `python -m closedpaw_nb local`."""

import sys

from ._cli import main

sys.exit(main())
