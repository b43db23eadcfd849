"""Shareable reports: one self-contained HTML file per result (compare, benchmark, evaluation)
that opens in any browser without Jupyter: tables, charts embedded as PNG data URLs, the
run's manifest, and a note when output came from the simulator.

The manifest holds no key material (configs go through `ProviderConfig.public_dict`), and
everything shown is escaped, so a report is safe to send around.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["figure_html", "write_report"]

_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1b1b1b;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:0.9em;margin:0.5em 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
td.cpnb-text{white-space:pre-wrap}.note{background:#fff4d6;padding:6px 10px;border-radius:4px}
pre{background:#f6f8fa;padding:8px;overflow-x:auto;font-size:0.85em}img{max-width:100%}"""


def figure_html(fig: Figure, alt: str) -> str:
    """A matplotlib figure as an <img> with the PNG inside (no file beside the report)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def write_report(
    path: str | Path,
    title: str,
    sections: Sequence[tuple[str, str]],
    *,
    manifest: Mapping[str, Any] | None = None,
    simulated: Sequence[str] = (),
) -> Path:
    """Write `sections` ((heading, HTML already escaped)) as one HTML file; returns its path."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f"<p>closedpaw_nb {html.escape(__version__)} · written {stamp}</p>")
    if simulated:
        names = html.escape(", ".join(simulated))
        parts.append(f'<p class="note">Simulated output ({names}): closedpaw_nb\'s simulator, not a real model.</p>')
    parts += [f"<h2>{html.escape(heading)}</h2>{body}" for heading, body in sections]
    if manifest:
        text = json.dumps(manifest, indent=1, default=str)
        parts.append(f"<h2>Manifest</h2><pre>{html.escape(text)}</pre>")
    document = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>"
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(document, encoding="utf-8")
    return target
