"""The table of registered providers: type, base URL, default model, health, key present.

It reads `ProviderManager.get_status()`, which never contains a key, so nothing here can
show one: only "yes"/"no" for whether a key is set.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as w
import pandas as pd

from ..manager import ProviderManager
from ._views import STATUS_COLOURS, button, chip, close_tree

__all__ = ["ProvidersTable", "health_text", "provider_rows"]

COLUMNS = ("name", "type", "base_url", "default_model", "health", "key", "default")
_HEADERS = ("name", "type", "base URL", "default model", "health", "key", "")
GRID_COLUMNS = "minmax(90px,auto) 80px minmax(200px,1.6fr) minmax(100px,0.6fr) minmax(120px,1fr) 40px 190px"


def provider_rows(manager: ProviderManager, health: Mapping[str, str]) -> pd.DataFrame:
    """One row per registered provider, with `COLUMNS` (never a key, only whether one is set)."""
    status = manager.get_status()
    rows = [
        {
            "name": name,
            "type": cfg["provider_type"],
            "base_url": cfg["base_url"] or "",
            "default_model": cfg["default_model"] or "",
            "health": health.get(name, "not checked"),
            "key": "yes" if cfg["has_key"] else "no",
            "default": name == status["default"],
        }
        for name, cfg in status["providers"].items()
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


class ProvidersTable(w.GridBox):  # type: ignore[misc]  # ipywidgets ships no types
    """A grid of the registered providers with "set default" and "remove" buttons per row.

    Args:
        on_default: Called with a provider name when its "default" button is clicked.
        on_remove: Called with a provider name when its "remove" button is clicked.
    """

    children: Sequence[w.Widget]  # the ipywidgets trait (a tuple; a list is accepted)

    def __init__(self, on_default: Callable[[str], object], on_remove: Callable[[str], object]) -> None:
        super().__init__(
            layout=w.Layout(grid_template_columns=GRID_COLUMNS, grid_gap="4px 10px", align_items="center", width="100%")
        )
        self.add_class("cpnb-providers")
        self._on_default, self._on_remove = on_default, on_remove
        self.rows = pd.DataFrame(columns=list(COLUMNS))
        self._health_cells: dict[str, w.HTML] = {}

    def refresh(self, manager: ProviderManager, health: Mapping[str, str]) -> None:
        """Show the manager's current providers (only the health cells change if nothing else did)."""
        rows, before = provider_rows(manager, health), self.rows
        self.rows = rows
        if self.children and rows.drop(columns="health").equals(before.drop(columns="health")):
            # A health check every few seconds must not rebuild the buttons under the user's mouse.
            for name, text in zip(rows.name, rows.health, strict=False):
                self._health_cells[name].value = _health_html(text)
            return
        self._health_cells = {}
        cells: list[w.Widget] = [w.HTML(f"<b>{h}</b>") for h in _HEADERS]
        for record in rows.to_dict("records"):
            cells += self._cells(record)
        if rows.empty:
            cells.append(w.HTML("<i>no providers registered yet</i>"))
        old = list(self.children)
        self.children = cells
        for widget in old:  # buttons and labels of the previous build would otherwise live on
            close_tree(widget)

    def _cells(self, r: dict[str, Any]) -> list[w.Widget]:
        star = " ★" if r["default"] else ""
        self._health_cells[r["name"]] = health = w.HTML(_health_html(r["health"]))
        default = button(
            "default", icon="star", tooltip=f"make {r['name']} the default provider", cls="cpnb-set-default"
        )
        default.disabled = bool(r["default"])
        remove = button("remove", style="danger", icon="trash", tooltip=f"unregister {r['name']}", cls="cpnb-remove")
        default.on_click(lambda _b, name=r["name"]: self._on_default(name))
        remove.on_click(lambda _b, name=r["name"]: self._on_remove(name))
        for b in (default, remove):
            b.layout = w.Layout(width="90px")
        return [
            w.HTML(f"<b style='white-space:nowrap'>{html.escape(r['name'])}</b>{star}"),
            w.HTML(html.escape(r["type"])),
            w.HTML(f"<code style='word-break:break-all;line-height:1.3'>{html.escape(r['base_url'])}</code>"),
            w.HTML(html.escape(r["default_model"] or "—")),
            health,
            w.HTML(r["key"]),
            w.HBox([default, remove]),
        ]


def _health_html(text: str) -> str:
    state = text.split(" ", 1)[0].rstrip(":")
    if state not in STATUS_COLOURS:
        return html.escape(text)
    return f"<span style='line-height:1.3'>{chip(state)}{html.escape(text[len(state) :])}</span>"


def health_text(status: Any) -> str:
    """ "ok (12 ms)" or "auth_failed: detail" for a HealthStatus."""
    if status.ok:
        return f"ok ({status.latency_ms:.0f} ms, {status.model_count} models)"
    return f"{status.status}: {status.detail}"[:160]
