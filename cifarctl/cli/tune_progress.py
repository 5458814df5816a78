"""The live table of a study on stderr: a row per trial as it ends, above the running trial's progress bar.

Rows are plain aligned text, so a log keeps them as they are; in a terminal they scroll above
the bar. A trial's own lines (first line, loss lines, epoch lines) show with -v only, and its
bar in a terminal only: 30 trials of them would bury the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cifarctl.training.tune_events import StudyEvents, StudyOpened

if TYPE_CHECKING:
    from cifarctl.cli.ui import UI
    from cifarctl.training.tune_result import TrialRecord

VALUE_WIDTH = 10


def value_text(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def state_text(record: TrialRecord) -> str:
    """"complete", "pruned after epoch 2", "diverged: the loss became nan …", "failed: interrupted"."""
    if record.state == "complete" or not record.note:
        return record.state
    return record.note if record.state == "pruned" else f"{record.state}: {record.note}"


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


class StudyDisplay(StudyEvents):
    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self.inner = ui.events()
        self.show_training = ui.live or ui.verbose > 0  # the trial's bar (terminal) or lines (-v)
        self.columns: tuple[str, ...] = ()
        self.header_shown = False
        self.best: float | None = None
        self.trial: int | None = None

    # --- a trial's training, through the Events methods ---------------------------------------
    def task_started(self, description: str, total: float | None, unit: str = "steps", completed: float = 0) -> None:
        if self.show_training:
            prefix = f"trial {self.trial}: " if self.trial is not None else ""
            self.inner.task_started(prefix + description, total, unit, completed)

    def task_advanced(self, completed: float, status: str = "") -> None:
        if self.show_training:
            self.inner.task_advanced(completed, status)

    def task_finished(self) -> None:
        if self.show_training:
            self.inner.task_finished()

    def message(self, text: str) -> None:
        if self.ui.verbose:
            self.inner.message(text)

    def warning(self, text: str) -> None:
        self.inner.warning(text)

    # --- the study ------------------------------------------------------------------------------
    def study_opened(self, opened: StudyOpened) -> None:
        self.columns = opened.searched
        done = opened.counts.get("complete", 0) + opened.counts.get("pruned", 0)
        held = f"{opened.held_out:,} held out for validation"
        machine = f", {opened.jobs} processes" if opened.jobs > 1 else ""
        machine += f", each trial on {opened.processes} processes (torchrun)" if opened.processes > 1 else ""
        if opened.threads:
            machine += f", {opened.threads} CPU thread{'s' if opened.threads != 1 else ''} each"
        self.inner.message(
            f"study {opened.study} ({opened.storage}): {done} of {opened.target} trials done, {opened.to_run} to run; "
            f"each trains {opened.model} with {opened.length} on {opened.train_images:,} images ({held}), seed "
            f"{opened.seed}, pruner {opened.pruner}{machine}")
        if opened.abandoned:
            self.inner.warning(f"trial{'s' if len(opened.abandoned) > 1 else ''} "
                               f"{', '.join(map(str, opened.abandoned))} was left running by a process that ended: "
                               "kept as failed")

    def trial_started(self, number: int, settings: dict[str, Any]) -> None:
        self.trial = number
        if self.ui.verbose:
            self.inner.message(f"trial {number}: " + ", ".join(f"{name} {value_text(value)}"
                                                               for name, value in settings.items()))

    def trial_ended(self, record: TrialRecord) -> None:
        self.trial = None
        if not self.header_shown:
            self.inner.message(self._row("trial", [*self.columns], "val acc", "epochs", "time",
                                         "state"))
            self.header_shown = True
        accuracy = "—" if record.value is None else f"{100 * record.value:.2f} %"
        state = state_text(record)
        if record.state == "complete" and (self.best is None or record.value > self.best):
            self.best = record.value
            state += "  (best so far)"
        values = [value_text(record.params[name]) if name in record.params else "—" for name in self.columns]
        self.inner.message(self._row(str(record.number), values, accuracy, str(record.epochs),
                                     clock(record.seconds), state))

    def confirming(self, label: str, settings: dict[str, Any], seeds: list[int]) -> None:
        what = "the best settings" if label == "best" else "the recipe's defaults"
        self.inner.message(f"training {what} again with seeds {', '.join(map(str, seeds))} for a 95 % interval")

    def _row(self, number: str, values: list[str], accuracy: str, epochs: str, seconds: str, state: str) -> str:
        widths = [max(len(name), VALUE_WIDTH) for name in self.columns]
        cells = [number.rjust(5)] + [value.ljust(width) for value, width in zip(values, widths)]
        return "  ".join([*cells, accuracy.rjust(8), epochs.rjust(6), seconds.rjust(6), state])
