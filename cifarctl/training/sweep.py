"""Repeated runs: train the planned runs one after another, measure each, and summarise.

Each run is an ordinary `train()` with its own seed (and grid value) and its own files, so
`--resume` continues exactly the run that was interrupted: finished runs are only read
back from their checkpoints, runs not yet started start fresh. Every run is measured the
same way afterwards, on the validation split when one is held out, else on the test split
(and then the report says so).
"""

from __future__ import annotations

import dataclasses
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
from cifarctl.training.settings import TrainSettings
from cifarctl.training.sweep_plan import PlannedRun


@dataclass(frozen=True)
class RunOutcome:
    seed: int
    value: float | int | None
    accuracy: float  # on the sweep's evaluation split
    final_loss: float
    seconds: float
    output: Path
    resumed: bool  # continued from its checkpoint
    steps: int = 0  # trained by this command (0: it had finished before)

    def as_json(self, option: str | None) -> dict[str, Any]:
        document = {"seed": self.seed, "accuracy": round(self.accuracy, 6),
                    "final_loss": None if self.final_loss != self.final_loss else round(self.final_loss, 6),
                    "train_seconds": round(self.seconds, 3), "output": str(self.output), "resumed": self.resumed,
                    "steps": self.steps}
        return {option: self.value, **document} if option else document


@dataclass(frozen=True)
class Comparison:
    """One grid value against the best one: the gap in mean accuracy and whether it exceeds the noise."""

    value: float | int
    summary: Summary
    gap: float  # best mean minus this mean (0 for the best)
    p_value: float | None  # Welch's t-test against the best; None with a single run on either side
    best: bool = False  # the value the others are compared with (the first of equal means)

    @property
    def verdict(self) -> str:
        if self.best:
            return "best"
        if self.p_value is None:
            return "unknown (one run: train more seeds)"
        return "worse beyond the noise" if self.p_value < SIGNIFICANCE else "within the noise"

    def as_json(self) -> dict[str, Any]:
        return {"value": self.value, **self.summary.as_json(), "gap": round(self.gap, 6),
                "p_value": None if self.p_value is None else round(self.p_value, 6), "verdict": self.verdict}


@dataclass
class SweepResult:
    option: str | None
    split: str  # what each run was measured on: "val", or "test" when no split is held out
    runs: list[RunOutcome]

    def values(self) -> list[float | int | None]:
        return list(dict.fromkeys(run.value for run in self.runs))

    def accuracies(self, value: float | int | None) -> list[float]:
        return [run.accuracy for run in self.runs if run.value == value]

    def summaries(self) -> dict[float | int | None, Summary]:
        return {value: summarize(self.accuracies(value), bounds=(0.0, 1.0)) for value in self.values()}

    def comparison(self) -> list[Comparison]:
        """Every grid value against the best mean, best first (empty without a grid)."""
        if self.option is None:
            return []
        summaries = self.summaries()
        best = max(summaries, key=lambda value: summaries[value].mean)
        rows = [Comparison(value, summary, summaries[best].mean - summary.mean,
                           None if value == best else welch_p_value(self.accuracies(best), self.accuracies(value)),
                           best=value == best)
                for value, summary in summaries.items()]
        return sorted(rows, key=lambda row: (not row.best, row.gap))

    def as_json(self) -> dict[str, Any]:
        summaries = self.summaries()
        return {
            "option": self.option,
            "split": self.split,
            "runs": [run.as_json(self.option) for run in self.runs],
            "summary": [{**({self.option: value} if self.option else {}), **summary.as_json()}
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
        result = train(settings_for(settings, run, option), data, run.files, evaluation,
                       dataclasses.replace(policy, resume=continuing), context)
        trained = load_trained_model(run.files.output, context.device)
        measured = accuracy(trained.inference_network, evaluation, context.device, (trained.mean, trained.std),
                            trained.tta, trained.precision, context.should_stop)
        if measured is None:
            raise Interrupted(f"interrupted while measuring {run.files.output}, which is saved; rerun the same "
                              "command with --resume to measure it and train the rest")
        outcomes.append(RunOutcome(run.seed, run.value, measured, result.final_loss, result.seconds,
                                   run.files.output, continuing, result.steps))
    return SweepResult(option, evaluation.name, outcomes)
