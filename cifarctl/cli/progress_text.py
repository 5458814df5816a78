"""Progress as plain text: amounts done (1.2 MB / 3.4 MB, 50/200 steps), rates and clock times."""

from __future__ import annotations

from cifarctl.sizes import size_text


def amount_text(completed: float, total: float | None, unit: str) -> str:
    if unit == "bytes":
        done = size_text(completed)
        return f"{done} / {size_text(total)}" if total else done
    if total:
        return f"{int(completed):,}/{int(total):,} {unit} ({100 * completed / total:.0f}%)"
    return f"{int(completed):,} {unit}"


def rate_text(rate: float, unit: str) -> str:
    return f"{size_text(rate)}/s" if unit == "bytes" else f"{rate:,.0f} {unit}/s"


def clock_text(seconds: float) -> str:
    """Elapsed time and ETA as a progress bar shows them, H:MM:SS (a duration a user types, or reads
    back to type again, is cifarctl.durations.format_duration's)."""
    seconds = round(seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"
