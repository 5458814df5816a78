"""What `tune` reports: every trial, the best settings re-run on fresh seeds, importances; and its --json."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cifarctl.models.search_space import Dimension
from cifarctl.statistics import CONFIDENCE, SIGNIFICANCE, Summary, summarize, welch_p_value
from cifarctl.training.sweep import RunOutcome

SIGNIFICANT_DIGITS = 4  # the best settings as written to cifarctl.toml and confirmed: 0.8312, not 0.831234567


def rounded_settings(values: dict[str, Any]) -> dict[str, Any]:
    """Settings as `tune` writes them: whole numbers as they are, others to 4 significant digits."""
    return {name: value if isinstance(value, int) else float(f"{value:.{SIGNIFICANT_DIGITS}g}")
            for name, value in values.items()}


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the study holds it."""

    number: int
    state: str  # complete, pruned, failed, running (or waiting: asked for, not begun)
    params: dict[str, Any]  # the searched settings' values
    fixed: dict[str, Any] = field(default_factory=dict)  # settings the space fixed
    value: float | None = None  # validation accuracy: the finished model's, or a pruned trial's last epoch's
    # (% of the run done, validation accuracy) as reported to the pruner at epoch ends (trials.report_step)
    curve: tuple[tuple[int, float], ...] = ()
    seconds: float | None = None
    output: str | None = None  # the model file of a complete trial
    note: str = ""  # why it was pruned or failed
    epochs: int = 0  # epochs it trained (the last one maybe partial)

    @property
    def settings(self) -> dict[str, Any]:
        return {**self.fixed, **self.params}

    def as_json(self) -> dict[str, Any]:
        return {"number": self.number, "state": self.state, "params": self.params, "fixed": self.fixed,
                "value": None if self.value is None else round(self.value, 6),
                "epochs": self.epochs, "curve": [[share, round(value, 6)] for share, value in self.curve],
                "seconds": None if self.seconds is None else round(self.seconds, 3),
                "output": self.output, "note": self.note}


@dataclass(frozen=True)
class Confirmation:
    """Settings trained again with fresh seeds and measured on the validation split."""

    label: str  # "best" or "defaults"
    settings: dict[str, Any]  # as given by name ({} for the recipe's defaults)
    runs: tuple[RunOutcome, ...]

    @property
    def accuracies(self) -> list[float]:
        return [run.accuracy for run in self.runs]

    @property
    def summary(self) -> Summary:
        return summarize(self.accuracies, bounds=(0.0, 1.0))

    def as_json(self) -> dict[str, Any]:
        return {"settings": self.settings, "seeds": [run.seed for run in self.runs],
                "runs": [run.as_json(None) for run in self.runs], **self.summary.as_json()}


@dataclass(frozen=True)
class Comparison:
    """The best settings against the recipe's defaults over the same seeds: Welch's t-test."""

    gap: float  # best mean minus defaults mean
    p_value: float | None

    @property
    def verdict(self) -> str:
        if self.p_value is None or self.p_value >= SIGNIFICANCE:
            return "within the noise"
        return "better beyond the noise" if self.gap > 0 else "worse beyond the noise"

    def as_json(self) -> dict[str, Any]:
        return {"gap": round(self.gap, 6), "p_value": None if self.p_value is None else round(self.p_value, 6),
                "verdict": self.verdict}


@dataclass
class TuneResult:
    study: str
    storage: str
    model: str
    dataset: str
    seed: int  # every trial's training seed; the confirmations use the next ones
    space: tuple[Dimension, ...]
    length: dict[str, Any]  # {"time_budget": s} or {"steps": n} or {"epochs": e}: each trial's
    validation: dict[str, Any]  # the held-out split (size, seed, of, fingerprint)
    pruner: str
    jobs: int
    trials: list[TrialRecord]
    trials_run: int  # by this command
    folder: Path  # where the trials' files are
    classes: int = 10  # the dataset's: guessing scores 1 / classes
    best_settings: dict[str, Any] | None = None  # the best trial's, rounded as written and confirmed
    confirmed: Confirmation | None = None
    defaults: Confirmation | None = None
    importances: dict[str, float] | None = None
    defaults_of_recipe: dict[str, Any] = field(default_factory=dict)  # each setting's value in the recipe
    plot: Path | None = None  # written by the command
    config_file: Path | None = None  # where the best settings were written ([train.MODEL])
    config_text: str | None = None  # that section, as written (or to write by hand)

    @property
    def best(self) -> TrialRecord | None:
        """The complete trial of the highest validation accuracy (the first of equals)."""
        complete = [trial for trial in self.trials if trial.state == "complete" and trial.value is not None]
        return max(complete, key=lambda trial: (trial.value, -trial.number)) if complete else None

    def counts(self) -> dict[str, int]:
        found = dict.fromkeys(("complete", "pruned", "failed", "running"), 0)
        for trial in self.trials:
            found[trial.state] = found.get(trial.state, 0) + 1
        return found

    def comparison(self) -> Comparison | None:
        if self.confirmed is None or self.defaults is None:
            return None
        gap = self.confirmed.summary.mean - self.defaults.summary.mean
        return Comparison(gap, welch_p_value(self.confirmed.accuracies, self.defaults.accuracies))

    def as_json(self) -> dict[str, Any]:
        best, comparison = self.best, self.comparison()
        return {
            "study": self.study, "storage": self.storage, "model": self.model, "dataset": self.dataset,
            "seed": self.seed, "space": [dimension.as_json() for dimension in self.space], "length": self.length,
            "validation": {key: self.validation[key] for key in ("size", "seed", "of")},
            "pruner": self.pruner, "jobs": self.jobs, "folder": str(self.folder),
            "trials": [trial.as_json() for trial in self.trials], "trials_run": self.trials_run,
            "counts": self.counts(),
            "best": None if best is None else {"number": best.number, "value": round(best.value, 6),
                                                "params": best.params, "settings": self.best_settings},
            "confirmed": None if self.confirmed is None else self.confirmed.as_json(),
            "defaults": None if self.defaults is None else self.defaults.as_json(),
            "comparison": None if comparison is None else comparison.as_json(),
            "importances": None if self.importances is None
            else {name: round(value, 6) for name, value in self.importances.items()},
            "plot": None if self.plot is None else str(self.plot),
            "config": None if self.config_text is None else {
                "file": None if self.config_file is None else str(self.config_file),
                "section": f"train.{self.model}", "text": self.config_text},
            "confidence": CONFIDENCE, "significance": SIGNIFICANCE,
        }
