"""Small view helpers shared by the panels: messages, figures as outputs, layouts.

Everything that puts provider text into HTML escapes it here, so an answer or an error
message can never inject markup into the page.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
from collections.abc import Iterator
from typing import Any

import ipywidgets as w

from ..bench.store import RunStore
from ._jobs import Job
from ._shared import target_options

__all__ = [
    "LABEL_STYLE",
    "STATUS_COLOURS",
    "button",
    "chip",
    "figure_output",
    "holding",
    "message",
    "cancel_button",
    "close_children",
    "close_tree",
    "note",
    "row",
    "set_figure",
    "shortened",
]

LABEL_STYLE = {"description_width": "130px"}
# Readable on light and dark JupyterLab themes: tinted backgrounds with dark text.
STATUS_COLOURS = {
    "ok": "#b7e4c7",
    "auth_failed": "#d0bdf4",
    "unreachable": "#f5b7b1",
    "not_running": "#e5e8e8",  # grey, not red: a local server that is not started is not an error
    "timeout": "#fad7a0",
    "rate_limited": "#f9e79f",
    "error": "#f1948a",
    "disabled": "#d5d8dc",
    "checking": "#d6eaf8",
}
_KINDS = {"info": "#1f4e79", "ok": "#1e6b34", "error": "#a4161a", "warn": "#8a5a00"}


SHORT_TEXT = 300  # characters of a message or error shown before "show all"


def message(text: str, kind: str = "info") -> str:
    """`text` as escaped HTML in the colour of `kind` (info, ok, error, warn); '' stays ''.
    A long text shows its start, with the whole of it one click away."""
    if not text:
        return ""
    style = f"color:{_KINDS.get(kind, _KINDS['info'])};white-space:pre-wrap;line-height:1.35;max-width:640px"
    return f'<div style="{style}">{shortened(text)}</div>'


def shortened(text: str, limit: int = SHORT_TEXT) -> str:
    """Escaped `text`; past `limit` characters, its start and a "show all" toggle with the rest."""
    if len(text) <= limit:
        return html.escape(text)
    cut = text.rfind(" ", 0, limit) if " " in text[limit // 2 : limit] else limit
    return (
        f"{html.escape(text[:cut])}… <details style='display:inline'><summary style='cursor:pointer;"
        f"display:inline;text-decoration:underline'>show all</summary>{html.escape(text)}</details>"
    )


def note(text: str) -> str:
    """`text` as a small grey note ('' stays '')."""
    return f'<div style="font-size:85%;opacity:0.75;line-height:1.3">{html.escape(text)}</div>' if text else ""


def chip(status: str) -> str:
    """A coloured badge for a health status."""
    colour = STATUS_COLOURS.get(status, "#e5e8e8")
    return (
        f'<span style="background:{colour};color:#1b1b1b;border-radius:4px;padding:1px 6px">'
        f"{html.escape(status)}</span>"
    )


def button(description: str, style: str = "", icon: str = "", tooltip: str = "", cls: str = "") -> w.Button:
    """A Button with a stable CSS class (`cls`) that browser tests can select."""
    b = w.Button(description=description, button_style=style, icon=icon, tooltip=tooltip or description)
    if cls:
        b.add_class(cls)
    return b


def cancel_button(cls: str) -> w.Button:
    """A Cancel button that looks disabled (grey) while nothing runs and warns (orange) while
    something does."""
    b = button("Cancel", "", "stop", cls=cls)
    b.observe(lambda change: setattr(b, "button_style", "" if change["new"] else "warning"), names="disabled")
    b.disabled = True
    return b


def close_tree(widget: w.Widget) -> None:
    """Close `widget` and every widget inside it (a Box does not close its children)."""
    close_children(widget)
    widget.close()


def close_children(widget: w.Widget) -> None:
    """Close every widget inside `widget`, not `widget` itself."""
    for child in getattr(widget, "children", ()):
        close_tree(child)


def row(*children: w.Widget, gap: str = "8px") -> w.HBox:
    """Children side by side, vertically centred."""
    return w.HBox(list(children), layout=w.Layout(align_items="center", grid_gap=gap))


@contextlib.contextmanager
def holding(*widgets: w.Widget) -> Iterator[None]:
    """Batch the state changes of several widgets into one message each."""
    with contextlib.ExitStack() as stack:
        for widget in widgets:
            stack.enter_context(widget.hold_sync())
        yield


def figure_output(fig: Any, alt: str = "chart") -> dict[str, Any]:
    """A matplotlib Figure as an Output widget item (PNG), rendered without pyplot or IPython."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    png = base64.b64encode(buf.getvalue()).decode("ascii")
    return {"output_type": "display_data", "metadata": {}, "data": {"image/png": png, "text/plain": f"<{alt}>"}}


def set_figure(out: w.Output, fig: Any, alt: str = "chart") -> None:
    """Replace what `out` shows with `fig`: one trait assignment, safe from any thread
    (never `with out:`, which captures whatever the kernel thread prints meanwhile)."""
    out.outputs = (figure_output(fig, alt),)


class JobPanel(w.VBox):  # type: ignore[misc]  # ipywidgets ships no types
    """A panel that runs its background work through one `Job` (`self.job`)."""

    job: Job

    def cancel(self) -> None:
        """Stop the running work; what already finished is kept."""
        self.job.cancel()

    def wait(self, timeout: float | None = 60.0) -> None:
        """Block until the running work (and its last UI update) has finished."""
        self.job.wait(timeout)

    def close(self) -> None:
        """Cancel running work, then close the panel and every widget in it."""
        self.job.cancel()
        close_children(self)
        super().close()


class RunPanel(JobPanel):
    """A JobPanel that runs targets into a run store (the benchmark and leaderboard panels).

    Subclasses set `manager`, `targets` (a SelectMultiple), `_store` and `_store_path`.
    """

    _store: RunStore | None
    _store_path: Any

    @property
    def store(self) -> RunStore:
        """The run store (opened on first use)."""
        if self._store is None:
            self._store = RunStore(self._store_path)
        return self._store

    def refresh_targets(self) -> None:
        """Offer every registered provider's models as targets, keeping the selection."""
        options = target_options(self.manager)
        keep = tuple(v for v in self.targets.value if v in options)
        with holding(self.targets):
            self.targets.options, self.targets.value = options, keep


def render_progress(progress: w.IntProgress, counts: w.HTML, form: Any) -> None:
    """Show a run's done/total and ok/error counts (`form` has total, done, ok, errors)."""
    with holding(progress, counts):
        progress.max, progress.value = max(form.total, 1), form.done
        progress.description = f"{form.done}/{form.total}"
        done = form.total and form.done == form.total
        progress.bar_style = "danger" if form.errors else ("success" if done else "")
        counts.value = (
            f"<span style='color:#1e6b34'>ok {form.ok}</span> · <span style='color:#a4161a'>errors {form.errors}</span>"
        )


def exported_list(paths: Any, css_class: str) -> str:
    """The written files as an HTML list ('' when there are none)."""
    items = "".join(f"<li style='line-height:1.5'><code>{html.escape(p)}</code></li>" for p in paths)
    return f"<ul class='{css_class}'>{items}</ul>" if items else ""
