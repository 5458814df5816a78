"""A series of numbers as one line of text: unicode blocks in a terminal, plain ASCII elsewhere."""

from __future__ import annotations

import itertools
import os

from rich.console import Console

BLOCKS = "▁▂▃▄▅▆▇█"
ASCII_LEVELS = "_.-~^"
DEFAULT_WIDTH = 40


def sparkline(values: list[float] | tuple[float, ...], width: int = DEFAULT_WIDTH, unicode: bool = True) -> str:
    """At most `width` characters; longer series are averaged in equal buckets first."""
    levels = BLOCKS if unicode else ASCII_LEVELS
    points = _buckets(list(values), width)
    if not points:
        return ""
    low, high = min(points), max(points)
    if high == low:
        return levels[len(levels) // 2] * len(points)
    top = len(levels) - 1
    return "".join(levels[round((value - low) / (high - low) * top)] for value in points)


def can_draw_unicode(console: Console) -> bool:
    """Blocks only for a person at a terminal that can show them; logs and pipes get ASCII."""
    dumb = os.environ.get("TERM", "") in ("dumb", "unknown")
    return console.is_terminal and not dumb and console.encoding.lower().replace("-", "").startswith("utf")


def _buckets(values: list[float], width: int) -> list[float]:
    if len(values) <= width:
        return values
    edges = [round(index * len(values) / width) for index in range(width + 1)]
    return [sum(values[start:end]) / (end - start) for start, end in itertools.pairwise(edges)]
