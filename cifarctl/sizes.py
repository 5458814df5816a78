"""Byte counts as people read them: 512 bytes, 3.5 KB, 1.2 GB."""

from __future__ import annotations


def size_text(count: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"
