"""HealthDashboard: concurrent checks, coloured table, history, chart, auto-refresh."""

from __future__ import annotations

import base64

import pytest

from closedpaw_nb.config import ProviderConfig
from closedpaw_nb.widgets import HealthDashboard
from closedpaw_nb.widgets import health as health_module
from closedpaw_nb.widgets._views import STATUS_COLOURS

from ._helpers import KEY, wait_until


def test_check_shows_each_status_in_colour(sim_manager):
    sim_manager.register_provider(ProviderConfig("custom", name="gone", base_url="http://127.0.0.1:9/v1"))
    board = HealthDashboard(sim_manager, timeout=5)
    board.check_button.click()
    board.wait()
    latest = board.latest.set_index("provider")
    assert latest.status.to_dict() == {
        "s-openai": "ok",
        "s-anthropic": "ok",
        "bad": "auth_failed",
        "gone": "not_running",
    }
    assert latest.loc["s-openai", "model_count"] == 2 and latest.loc["s-openai", "latency_ms"] > 0
    table = board.table.value
    for status in ("ok", "auth_failed", "not_running"):
        assert STATUS_COLOURS[status] in table
    assert "2/4 ok; not ok: bad, gone" in board.status and board.error == ""
    assert not board.check_button.disabled


def test_history_grows_and_is_charted(sim_manager):
    board = HealthDashboard(sim_manager)
    for _ in range(2):
        board.check_button.click()
        board.wait()
    history = board.history
    assert list(history.columns) == ["provider", "checked_at", "status", "ok", "latency_ms", "model_count", "detail"]
    assert len(history) == 6 and history.checked_at.dt.tz is not None
    assert (history.groupby("provider").size() == 2).all()
    png = base64.b64decode(board.chart.outputs[0]["data"]["image/png"])
    assert png.startswith(b"\x89PNG")
    assert "50% of 2" not in board.table.value and "100% of 2" in board.table.value  # uptime column
    assert "check #2" in board.status and board.board.checks == 2


def test_no_providers(manager):
    board = HealthDashboard(manager)
    board.check_button.click()
    board.wait()
    assert board.latest.empty and board.history.empty and "0/0 ok" in board.status


def test_listeners_get_every_check(sim_manager):
    board = HealthDashboard(sim_manager)
    got = []
    board.on_check(lambda statuses: got.append(sorted(statuses)))
    board.check()
    board.wait()
    assert got == [["bad", "s-anthropic", "s-openai"]]


@pytest.fixture
def quick_refresh(monkeypatch):
    """Lets auto-refresh run every 0.2 s (the panel's floor is 1 s: see test_interval_has_a_floor)."""
    monkeypatch.setattr(health_module, "MIN_INTERVAL", 0.2)
    return 0.2


def test_auto_refresh_runs_until_unticked(sim_manager, quick_refresh):
    board = HealthDashboard(sim_manager, interval=quick_refresh)
    board.auto_refresh.value = True
    assert board.refreshing
    wait_until(lambda: board.board.checks >= 2, timeout=10, what="two automatic checks")
    board.auto_refresh.value = False
    wait_until(lambda: not board.refreshing, timeout=5, what="auto-refresh to stop")
    count = len(board.history)
    board.refresher.wait(1)
    assert len(board.history) == count


def test_auto_refresh_can_be_ticked_again_at_once(manager, quick_refresh):
    board = HealthDashboard(manager, interval=quick_refresh)
    for value in (True, False, True):
        board.auto_refresh.value = value
    wait_until(lambda: board.board.checks >= 2, timeout=5, what="the restarted loop to keep checking")
    board.close()
    wait_until(lambda: not board.refreshing, timeout=5, what="auto-refresh to stop after close")


def test_closing_the_dashboard_stops_auto_refresh(sim, manager, quick_refresh):
    manager.register_provider(ProviderConfig("openai", name="s", api_key=KEY, base_url=sim.base_url("openai")))
    board = HealthDashboard(manager, interval=quick_refresh)
    board.auto_refresh.value = True
    wait_until(lambda: len(board.history) >= 1, what="the first automatic check")
    board.close()
    wait_until(lambda: not board.refreshing, timeout=5, what="auto-refresh to stop after close")
    assert board.comm is None


def test_interval_has_a_floor(manager):
    board = HealthDashboard(manager, interval=0.01)
    assert board.board.interval == 1.0
    board.interval.value = 0.2
    assert board.interval.value == 1.0 and board.board.interval == 1.0
