"""How core code reports progress without knowing about terminals.

Core functions take an `Events` object and call it; the CLI passes one that draws rich
progress bars or prints plain lines. The base class does nothing, so library callers and
tests can ignore progress entirely.
"""

from __future__ import annotations


class Events:
    def task_started(self, description: str, total: float | None, unit: str = "steps",
                     completed: float = 0) -> None:
        """A long task began with `completed` units already done (a resumed run).

        `unit` names what is counted: "bytes", "images", "steps" or "runs".
        """

    def task_advanced(self, completed: float, status: str = "") -> None:
        """The current task reached `completed` units; `status` is a short free-text summary."""

    def task_finished(self) -> None:
        """The current task is over (finished, failed or interrupted)."""

    def message(self, text: str) -> None:
        """A line worth keeping in the log, such as the tutorial's loss lines."""

    def warning(self, text: str) -> None:
        """Something the user should know that does not stop the command."""
