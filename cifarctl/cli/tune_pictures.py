"""A study's result as the plain data its picture is drawn from (pictures/ knows nothing of training)."""

from __future__ import annotations

from cifarctl.data.catalog import DEFAULT_DATASET
from cifarctl.pictures.tuning_plots import Band, StudyPicture, TrialPoint


def study_picture(result) -> StudyPicture:
    points = tuple(TrialPoint(trial.number, trial.state, trial.value, trial.curve) for trial in result.trials
                   if trial.state in ("complete", "pruned") and trial.value is not None)
    bands = []
    for confirmation, label in ((result.confirmed, "best settings, re-run"), (result.defaults, "recipe's defaults")):
        if confirmation is not None:
            summary = confirmation.summary
            bands.append(Band(f"{label} ({summary.n} seeds, 95 %)", summary.mean, summary.low, summary.high))
    best = result.best
    dataset = "" if result.dataset == DEFAULT_DATASET else f" on {result.dataset}"
    from cifarctl.training.study import describe_length

    title = (f"{result.model}{dataset}: study {result.study}, {len(points)} trials, "
             f"each {describe_length(result.length)}")
    return StudyPicture(title, points, None if best is None else best.number, tuple(bands), 1 / result.classes)
