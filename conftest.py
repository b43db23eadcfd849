"""Marks the notebook cells nbval collects from notebooks/ as `slow` (each notebook runs in a
kernel of its own), so that `python -m pytest -m "not slow"` leaves them out.

It lives at the root because tests/conftest.py is not loaded for notebooks/ when only
notebooks are collected, and a notebooks/conftest.py would take over the module name
`conftest` that tests import their shared helpers from.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
