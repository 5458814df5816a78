"""Repeated runs: train the planned runs one after another, measure each, and summarise.

Each run is an ordinary `train()` with its own seed (and grid value) and its own files, so
`--resume` continues exactly the run that was interrupted: finished runs are only read
back from their checkpoints, runs not yet started start fresh. Every run is measured the
same way afterwards, on the validation split when one is held out, else on the test split
(and then the report says so). A run whose loss diverges is a result of the sweep (reported
as diverged, left out of its value's mean), not the end of it: the next run goes on.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cifarctl.data.memory import Split
from cifarctl.errors import Interrupted
from cifarctl.inference.model_files import load_trained_model
from cifarctl.statistics import SIGNIFICANCE, Summary, summarize, welch_p_value
from cifarctl.training import checkpoint
from cifarctl.training.context import Context, ResumePolicy
from cifarctl.training.loop import train
from cifarctl.training.measuring import accuracy
from cifarctl.training.progress import TrainingDiverged
from cifarctl.training.settings import TrainSettings
from cifarctl.training.sweep_plan import PlannedRun


@dataclass(frozen=True)
class RunOutcome:
    seed: int
    value: float | int | None
    accuracy: float | None  # on the sweep's evaluation split; None for a run that diverged
    final_loss: float
    seconds: float
    output: Path
    resumed: bool  # continued from its checkpoint
    steps: int = 0  # trained by this command (0: it had finished before)
    diverged: str | None = None  # the run's loss became NaN or infinite: what it said (it wrote no model)

    def as_json(self, option: str | None) -> dict[str, Any]:
        document = {"seed": self.seed, "accuracy": None if self.accuracy is None else round(self.accuracy, 6),
                    "final_loss": None if self.final_loss != self.final_loss else round(self.final_loss, 6),
                    "train_seconds": round(self.seconds, 3), "output": str(self.output), "resumed": self.resumed,
                    "steps": self.steps, "diverged": self.diverged}
        return {option: self.value, **document} if option else document


@dataclass(frozen=True)
class Comparison:
    """One grid value against the best one: the gap in mean accuracy and whether it exceeds the noise."""

    value: float | int
    summary: Summary | None  # None when every run of this value diverged
    gap: float | None  # best mean minus this mean (0 for the best; None without a mean)
    p_value: float | None  # Welch's t-test against the best; None with a single run on either side
    best: bool = False  # the value the others are compared with (the first of equal means)
    diverged: int = 0  # runs of this value that diverged (left out of its mean)

    @property
    def verdict(self) -> str:
        if self.summary is None:
            return "diverged (every run)"
        if self.best:
            said = "best"
        elif self.p_value is None:
            said = "unknown (one run: train more seeds)"
        else:
            said = "worse beyond the noise" if self.p_value < SIGNIFICANCE else "within the noise"
        return said + (f"; {self.diverged} of {self.diverged + self.summary.n} runs diverged" if self.diverged else "")

    def as_json(self) -> dict[str, Any]:
        numbers = self.summary.as_json() if self.summary is not None else {"n": 0, "mean": None, "std": None,
                                                                           "ci95": None}
        return {"value": self.value, **numbers, "gap": None if self.gap is None else round(self.gap, 6),
                "p_value": None if self.p_value is None else round(self.p_value, 6), "verdict": self.verdict,
                "diverged": self.diverged}


@dataclass
class SweepResult:
    option: str | None
    split: str  # what each run was measured on: "val", or "test" when no split is held out
    runs: list[RunOutcome]

    def values(self) -> list[float | int | None]:
        return list(dict.fromkeys(run.value for run in self.runs))

    def accuracies(self, value: float | int | None) -> list[float]:
        """The accuracies of this value's runs that finished (a diverged run has none)."""
        return [run.accuracy for run in self.runs if run.value == value and run.accuracy is not None]

    def diverged(self, value: float | int | None) -> int:
        return sum(1 for run in self.runs if run.value == value and run.diverged is not None)

    def summaries(self) -> dict[float | int | None, Summary | None]:
        """Per value, the mean and spread of its finished runs; None when every run of it diverged."""
        return {value: summarize(self.accuracies(value), bounds=(0.0, 1.0)) if self.accuracies(value) else None
                for value in self.values()}

    def comparison(self) -> list[Comparison]:
        """Every grid value against the best mean, best first, values whose every run diverged
        last (empty without a grid)."""
        if self.option is None:
            return []
        summaries = self.summaries()
        measured = {value: summary for value, summary in summaries.items() if summary is not None}
        if not measured:
            return [Comparison(value, None, None, None, diverged=self.diverged(value)) for value in summaries]
        best = max(measured, key=lambda value: measured[value].mean)
        rows = [Comparison(value, summary, None if summary is None else measured[best].mean - summary.mean,
                           None if value == best or summary is None
                           else welch_p_value(self.accuracies(best), self.accuracies(value)),
                           best=value == best, diverged=self.diverged(value))
                for value, summary in summaries.items()]
        return sorted(rows, key=lambda row: (row.summary is None, not row.best, row.gap or 0.0))

    def as_json(self) -> dict[str, Any]:
        summaries = self.summaries()
        empty = {"n": 0, "mean": None, "std": None, "ci95": None}
        return {
            "option": self.option,
            "split": self.split,
            "runs": [run.as_json(self.option) for run in self.runs],
            "summary": [{**({self.option: value} if self.option else {}),
                         **(summary.as_json() if summary is not None else empty), "diverged": self.diverged(value)}
                        for value, summary in summaries.items()],
            "comparison": [row.as_json() for row in self.comparison()],
            "confidence": 0.95,
            "significance": SIGNIFICANCE,
        }


def settings_for(settings: TrainSettings, run: PlannedRun, option: str | None) -> TrainSettings:
    """One run's settings: its seed, and its value of the grid option (a recipe field)."""
    recipe = settings.recipe if option is None else settings.recipe.replace(**{option: run.value})
    return dataclasses.replace(settings, seed=run.seed, recipe=recipe)


def run_sweep(settings: TrainSettings, planned: list[PlannedRun], option: str | None, data: Split,
              evaluation: Split, policy: ResumePolicy = ResumePolicy(), context: Context = Context(),
              announce: Callable[[int, PlannedRun], None] = lambda index, run: None) -> SweepResult:
    # Checked before the first run trains: an unfinished run met later would stop the sweep
    # after the earlier runs had been trained again.
    for run in planned:
        if not (policy.resume and run.files.checkpoint.exists()):
            checkpoint.claim_checkpoint(run.files, policy.restart, context.cluster)
    outcomes = []
    for index, run in enumerate(planned):
        announce(index, run)
        continuing = policy.resume and run.files.checkpoint.exists()
        try:
            result = train(settings_for(settings, run, option), data, run.files, evaluation,
                           dataclasses.replace(policy, resume=continuing), context)
        except TrainingDiverged as error:  # a result of the grid, not the end of it
            context.events.warning(f"{run.files.output}: {error} (a result of the sweep, reported as diverged)")
            outcomes.append(RunOutcome(run.seed, run.value, None, math.nan, 0.0, run.files.output, continuing,
                                       diverged=str(error)))
            continue
        trained = load_trained_model(run.files.output, context.device)
        measured = accuracy(trained.inference_network, evaluation, context.device, (trained.mean, trained.std),
                            trained.tta, trained.precision, context.should_stop)
        if measured is None:
            raise Interrupted(f"interrupted while measuring {run.files.output}, which is saved; rerun the same "
                              "command with --resume to measure it and train the rest")
        outcomes.append(RunOutcome(run.seed, run.value, measured, result.final_loss, result.seconds,
                                   run.files.output, continuing, result.steps))
    if all(outcome.diverged is not None for outcome in outcomes):
        raise TrainingDiverged(f"every one of the {len(outcomes)} runs diverged; the first: {outcomes[0].diverged}")
    return SweepResult(option, evaluation.name, outcomes)
