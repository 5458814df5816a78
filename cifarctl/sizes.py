"""Byte counts as people read them, in SI units as pip and download pages write them: 512 B, 1.5 kB."""

from __future__ import annotations


def size_text(count: float | None) -> str:
    """512 B, 1.5 kB, 31.0 MB, 2.1 GB."""
    value = float(count or 0)
    for suffix in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} {suffix}" if suffix == "B" else f"{value:.1f} {suffix}"
        value /= 1000
    return f"{value:.1f} GB"
