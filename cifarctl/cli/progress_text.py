"""Progress as plain text: amounts done (1.2 MB / 3.4 MB, 50/200 steps), rates and clock times."""

from __future__ import annotations


def amount_text(completed: float, total: float | None, unit: str) -> str:
    if unit == "bytes":
        done = bytes_text(completed)
        return f"{done} / {bytes_text(total)}" if total else done
    if total:
        return f"{int(completed):,}/{int(total):,} {unit} ({100 * completed / total:.0f}%)"
    return f"{int(completed):,} {unit}"


def rate_text(rate: float, unit: str) -> str:
    return f"{bytes_text(rate)}/s" if unit == "bytes" else f"{rate:,.0f} {unit}/s"


def bytes_text(count: float | None) -> str:
    value = float(count or 0)
    for suffix in ("B", "kB", "MB", "GB"):
        if value < 1000 or suffix == "GB":
            return f"{value:.0f} {suffix}" if suffix == "B" else f"{value:.1f} {suffix}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover


def clock_text(seconds: float) -> str:
    seconds = round(seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"
