"""Durations as people write them: `90`, `90s`, `5m`, `1h30m`, `2m30s`, `1.5h`.

`parse_duration` reads them (`--time-budget`); `format_duration` writes seconds back in that
form, so what a run prints can be typed again. A progress bar's running clock (elapsed and
ETA as `0:05:03`) is another job, and cli/ui.py's.
"""

from __future__ import annotations

import re

UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([hms])")
NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def parse_duration(text: str) -> float:
    """Seconds in `text`; a bare number is seconds. ValueError for anything else."""
    cleaned = text.strip().lower().replace(" ", "")
    if NUMBER.fullmatch(cleaned):
        seconds = float(cleaned)
    else:
        parts = PART.findall(cleaned)
        units = [unit for _, unit in parts]
        in_order = units == sorted(set(units), key="hms".index)  # 1h30m, not 30m1h or 1h1h
        if not parts or "".join(number + unit for number, unit in parts) != cleaned or not in_order:
            raise ValueError(f"{text!r} is not a duration; write e.g. 90s, 5m or 1h30m")
        seconds = sum(float(number) * UNITS[unit] for number, unit in parts)
    if not 1 <= seconds <= 30 * 24 * 3600:
        raise ValueError(f"{text!r} is not a duration between 1 second and 30 days")
    return seconds


def format_duration(seconds: float) -> str:
    """Whole seconds in the form `parse_duration` reads: `42s`, `5m03s`, `1h05m03s`."""
    seconds = round(seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{seconds:02d}s"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
