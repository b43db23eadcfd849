"""Arena charts: pairwise win-rate matrices -> matplotlib Figures. Pure: no I/O, no pyplot.

Built like `closedpaw_nb.bench.charts` (whose canvas helpers it reuses): a
`matplotlib.figure.Figure` made directly, so it is safe in threads and under Agg and renders
inline in Jupyter.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from ..bench.charts import _canvas, _no_data

__all__ = ["win_matrix_heatmap"]

_NEVER_MET = "#e6e6e6"  # cells with no battles (NaN) and the diagonal


def win_matrix_heatmap(
    matrix: pd.DataFrame, *, title: str | None = None, annotate: bool = True, ax: Axes | None = None
) -> Figure:
    """Heatmap of the rate at which each row target beats each column target.

    Blue above 50%, red below, white at 50%; NaN cells (a pair that never met, the
    diagonal) are light grey and left blank. Rows and columns keep the matrix's order, so
    pass one of `bradley_terry.win_matrix`'s frames (best first) as is.

    Args:
        matrix: Square DataFrame of rates in [0, 1], index = row target, columns = opponent.
        title: Overrides the default title.
        annotate: Write each rate (as a percentage) in its cell.
        ax: Draw into this Axes instead of a new Figure.

    Returns:
        The Figure (the one holding `ax`, if given).

    Raises:
        ValueError: If `matrix` is not square or holds values outside [0, 1].
    """
    values = matrix.to_numpy(dtype=float)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(f"the win matrix must be square (targets x targets), not shape {values.shape}")
    if np.any((values < 0) | (values > 1)):  # NaN compares False: allowed
        raise ValueError("the win matrix holds rates outside [0, 1]; pass a win_matrix() frame")
    n = values.shape[0]
    fig, ax = _canvas(ax, (2.8 + 0.75 * max(n, 2), 1.8 + 0.6 * max(n, 2)))
    ax.set_title(title or "Win rate: row beats column")
    if n == 0:
        return _no_data(fig, ax)
    cmap = matplotlib.colormaps["RdBu"].with_extremes(bad=_NEVER_MET)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    fig.colorbar(image, ax=ax, format=PercentFormatter(xmax=1.0), label="win rate (ties count half)")
    rows, columns = [str(t) for t in matrix.index], [str(t) for t in matrix.columns]
    long_names = max(len(c) for c in columns) > 8
    ax.set_xticks(np.arange(n), columns, rotation=30 if long_names else 0, ha="right" if long_names else "center")
    ax.set_yticks(np.arange(n), rows)
    ax.set_xlabel("opponent")
    ax.set_ylabel("target")
    if annotate:
        _annotate(ax, values)
    return fig


def _annotate(ax: Axes, values: np.ndarray) -> None:
    for (i, j), rate in np.ndenumerate(values):
        if np.isfinite(rate):
            # the colour map is dark at both ends: white text there, black near 50%
            colour = "white" if abs(rate - 0.5) > 0.3 else "black"
            ax.text(j, i, f"{rate:.0%}", ha="center", va="center", fontsize="small", color=colour)
