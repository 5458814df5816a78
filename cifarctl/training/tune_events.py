"""What a study says while it runs: the CLI draws it as a live table; the base class says nothing.

A trial's own training reports through the `Events` methods (its progress bar, its lines), so
one object serves the study and the runs inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cifarctl.events import Events
from cifarctl.training.tune_result import TrialRecord


@dataclass(frozen=True)
class StudyOpened:
    """Where a study stands when a command starts on it."""

    study: str
    storage: str
    model: str
    searched: tuple[str, ...]  # the names of the settings searched, in the space's order
    counts: dict[str, int]  # trials already in the study, by state
    to_run: int  # trials this command will run (more, when parallel processes overshoot by one or two)
    target: int  # --trials
    train_images: int
    held_out: int
    length: str  # each trial's length, as the option that asked for it
    pruner: str
    seed: int
    jobs: int
    threads: int | None  # CPU threads per trial (None: measured at each trial's start)
    abandoned: tuple[int, ...] = ()  # trials left running by a process that ended, failed now
    processes: int = 1  # torchrun's processes, which train every trial together


class StudyEvents(Events):
    def study_opened(self, opened: StudyOpened) -> None:
        """The study is open: how many trials it holds, how many will run."""

    def trial_started(self, number: int, settings: dict[str, Any]) -> None:
        """Trial `number` begins training with these settings (searched and fixed)."""

    def trial_ended(self, record: TrialRecord) -> None:
        """A trial finished, was pruned, or failed; `record` is as the study now holds it."""

    def confirming(self, label: str, settings: dict[str, Any], seeds: list[int]) -> None:
        """Settings are trained again with these seeds: "best" (the best trial's) or "defaults" (the recipe's)."""
