"""Matplotlib figures drawn off-screen and saved as PNG files atomically.

Figures are built with matplotlib's object API on the Agg canvas, never through pyplot, so
plotting works on a server with no display and leaves no global state behind.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cifarctl.atomic_writes import atomic_write

DPI = 100
STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


@contextlib.contextmanager
def house_style() -> Iterator[None]:
    """Readable font sizes and a light grid; matplotlib reads them as each artist is made."""
    with matplotlib.rc_context(STYLE):
        yield


def new_figure(width_inches: float, height_inches: float) -> Figure:
    figure = Figure(figsize=(width_inches, height_inches), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: Path) -> None:
    with atomic_write(Path(path)) as handle, warnings.catch_warnings():
        # A class name in a script the font lacks (日本) is drawn as boxes: no warning per glyph.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        figure.savefig(handle, format="png", dpi=DPI, facecolor="white")
