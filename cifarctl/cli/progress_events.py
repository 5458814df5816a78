"""The Events the core reports to, drawn on stderr: a live progress bar, plain lines, or warnings alone."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from cifarctl.cli.progress_text import amount_text, clock_text, rate_text
from cifarctl.events import Events

if TYPE_CHECKING:
    from cifarctl.cli.ui import UI

PLAIN_PROGRESS_INTERVAL_S = 5.0


class QuietEvents(Events):
    def __init__(self, ui: UI) -> None:
        self.ui = ui

    def warning(self, text: str) -> None:
        self.ui.warning(text)


class PlainEvents(Events):
    """Progress as occasional plain lines: start, every few seconds, and the end."""

    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self.description = ""
        self.total: float | None = None
        self.unit = "steps"
        self.completed = 0.0
        self.start_completed = 0.0
        self.status = ""
        self.started_at = 0.0
        self.last_line_at = 0.0

    def task_started(self, description: str, total: float | None, unit: str = "steps", completed: float = 0) -> None:
        self.description, self.total, self.unit = description, total, unit
        self.completed, self.start_completed, self.status = completed, completed, ""
        self.started_at = self.last_line_at = time.monotonic()
        self.ui.info(f"{description} ...")

    def task_advanced(self, completed: float, status: str = "") -> None:
        self.completed, self.status = completed, status
        now = time.monotonic()
        if now - self.last_line_at >= PLAIN_PROGRESS_INTERVAL_S:
            self.last_line_at = now
            self.ui.info(self._line(now))

    def task_finished(self) -> None:
        self.ui.info(self._line(time.monotonic(), done=True))

    def message(self, text: str) -> None:
        self.ui.info(text)

    def warning(self, text: str) -> None:
        self.ui.warning(text)

    def _line(self, now: float, done: bool = False) -> str:
        elapsed = max(now - self.started_at, 1e-9)
        parts = [f"{self.description}:", amount_text(self.completed, self.total, self.unit)]
        rate = (self.completed - self.start_completed) / elapsed
        parts.append(rate_text(rate, self.unit))
        if self.total and not done and rate > 0:
            parts.append(f"ETA {clock_text((self.total - self.completed) / rate)}")
        if done:
            parts.append(f"in {clock_text(elapsed)}")
        if self.status:
            parts.append(self.status)
        return "  ".join(parts)


class LiveEvents(Events):
    """A rich progress bar on stderr; messages scroll above it."""

    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self.progress: Progress | None = None
        self.task_id: Any = None

    def task_started(self, description: str, total: float | None, unit: str = "steps", completed: float = 0) -> None:
        self.task_finished()
        if unit == "bytes":
            counters = [DownloadColumn(), TransferSpeedColumn()]
        else:
            counters = [MofNCompleteColumn(), TaskProgressColumn()]
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            *counters,
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.ui.err,
            transient=False,
        )
        self.progress.start()
        self.task_id = self.progress.add_task(escape(description), total=total, completed=completed, status="")

    def task_advanced(self, completed: float, status: str = "") -> None:
        if self.progress is not None:
            self.progress.update(self.task_id, completed=completed, status=escape(status))

    def task_finished(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def message(self, text: str) -> None:
        (self.progress.console if self.progress else self.ui.err).print(escape(text))

    def warning(self, text: str) -> None:
        (self.progress.console if self.progress else self.ui.err).print(
            f"[yellow]warning:[/] {escape(text)}"
        )
