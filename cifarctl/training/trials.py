"""The runs of a study: a trial, whose accuracy Optuna hears each epoch, and the re-runs that confirm a result.

Each is an ordinary `train()` on the training images left after the validation split is held
out, measured on that split (never on the test split) the way `evaluate --split val` measures
the finished model. A trial's checkpoint is deleted when it ends, however it ends: Optuna
never resumes a trial. A finished trial keeps its model file and metrics log; a pruned or
failed one keeps only its metrics log (its curve up to where it stopped, for `cifarctl plot`).
Confirmation runs keep their checkpoints, so a rerun of the command measures them again
instead of training them again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cifarctl.data.memory import Split
from cifarctl.errors import Interrupted
from cifarctl.inference.model_files import load_trained_model
from cifarctl.models import registry
from cifarctl.models.search_space import checked_settings
from cifarctl.training.context import Context, ResumePolicy, ignore_epoch
from cifarctl.training.distributed import broadcast, on_main
from cifarctl.training.loop import train
from cifarctl.training.measuring import accuracy
from cifarctl.training.progress import TrainingDiverged
from cifarctl.training.result import TrainResult
from cifarctl.training.run_files import RunFiles, run_files
from cifarctl.training.runs import owned_by_this_run
from cifarctl.training.settings import TrainSettings
from cifarctl.training.study import optuna_module
from cifarctl.training.sweep import RunOutcome
from cifarctl.training.tune_result import Confirmation


@dataclass(frozen=True)
class RunBase:
    """What every run of a study shares: the model, each run's length, the machine's choices, the split."""

    model: str
    seed: int
    time_budget: float | None
    steps: int | None
    epochs: float | None
    threads: int | None
    precision: str | None
    dataset: str
    validation: dict[str, Any]

    @staticmethod
    def files_in(folder: Path, name: str) -> RunFiles:
        """The files of the study's run `name` (trial-0003, trial-0003.seed1, defaults.seed1)."""
        return run_files(folder / f"{name}.pth")

    def settings(self, values: dict[str, Any], seed: int | None = None, eval_every: int = 1) -> TrainSettings:
        """A run with these settings by name, as `train` would make it (a budget picks the size when
        no model option is given)."""
        options, recipe = checked_settings(registry.get(self.model), values, "tune")
        return TrainSettings.for_model(
            self.model, options, seed=self.seed if seed is None else seed, eval_every=eval_every,
            precision=self.precision, steps=self.steps, time_budget=self.time_budget, threads=self.threads,
            pick_size=not options, validation=self.validation, dataset=self.dataset, epochs=self.epochs, **recipe)


@dataclass(frozen=True)
class Bench:
    """Where a study's runs train: the data in memory, the split they are measured on, their folder."""

    base: RunBase
    data: Split
    validation: Split
    context: Context  # device, processes, events, stop request
    folder: Path

    def files(self, name: str) -> RunFiles:
        return RunBase.files_in(self.folder, name)


def trial_name(number: int) -> str:
    return f"trial-{number:04d}"


@dataclass(frozen=True)
class TrialOutcome:
    state: str  # "complete" or "pruned"
    value: float | None  # the finished model's validation accuracy
    note: str = ""


class EpochReports:
    """A trial's `epoch_ended`: each epoch's validation accuracy goes to Optuna (rank 0), and when its
    pruner says the trial is hopeless every rank stops it together.

    Optuna's pruners compare trials at the same step. Trials of one budget run different numbers
    of epochs (a narrower network runs more), and epoch 1 of three is not comparable with epoch 1
    of one: it is reported at the share of its run done instead, in tenths (step 30, 60, 100), so
    a trial meets others at the same point of their schedules. Reported by epoch, the study in
    docs/benchmarks.md pruned all ten narrow trials after its first five; the best was narrow."""

    def __init__(self, trial: Any, cluster) -> None:
        self.trial, self.cluster, self.last_epoch, self.last_step = trial, cluster, 0, 0

    def __call__(self, epoch: int, share_done: float, measured: float | None) -> None:
        self.last_epoch = epoch
        step = report_step(share_done)
        prune = False
        if self.trial is not None:
            self.trial.set_user_attr("epochs", epoch)
            if measured is not None and step > self.last_step:
                self.last_step = step
                self.trial.report(measured, step)
                prune = self.trial.should_prune()
        if broadcast(prune, self.cluster):
            raise optuna_module().TrialPruned(f"pruned after epoch {epoch}")


def report_step(share_done: float) -> int:
    """The step a trial reports at: the share of its run done, in whole tenths, as a percentage."""
    return max(10, 10 * int(10 * min(share_done, 1.0) + 1e-9))


def run_trial(bench: Bench, number: int, values: dict[str, Any], trial: Any) -> TrialOutcome:
    """Train trial `number` with `values`; `trial` is Optuna's (None on ranks other than 0)."""
    optuna = optuna_module()
    files = bench.files(trial_name(number))
    reports = EpochReports(trial, bench.context.cluster)
    try:
        _, value = train_and_measure(bench, bench.base.settings(values), files, ResumePolicy(restart=True), reports)
        return TrialOutcome("complete", value)
    except optuna.TrialPruned:
        return TrialOutcome("pruned", None, f"pruned after epoch {reports.last_epoch}")
    except TrainingDiverged as error:
        # As bad as guessing, where it stopped: the sampler learns to keep away (a failed trial teaches it nothing).
        if trial is not None:
            trial.report(1 / len(bench.data.classes.names), min(reports.last_step + 10, 100))
        return TrialOutcome("pruned", None, "diverged: " + str(error).split(":")[0])
    finally:
        if bench.context.cluster.is_main:
            files.checkpoint.unlink(missing_ok=True)


def confirm(bench: Bench, label: str, values: dict[str, Any], seeds: list[int], name: str) -> Confirmation:
    """Train `values` once per seed (as `train` would: no measuring between epochs) and measure each on
    the validation split; an interrupted run continues from its checkpoint when the command is rerun."""
    runs = []
    for seed in seeds:
        files = bench.files(f"{name}.seed{seed}")
        resume = on_main(lambda files=files: files.checkpoint.exists(), bench.context.cluster)
        try:
            result, value = train_and_measure(bench, bench.base.settings(values, seed=seed, eval_every=0), files,
                                              ResumePolicy(resume=resume))
        except Interrupted:
            what = "the best settings" if label == "best" else "the recipe's defaults"
            raise Interrupted(f"interrupted while training {what} again with seed {seed}; its checkpoint "
                              f"{files.checkpoint} is kept, and so is every trial: rerun the same command to "
                              "continue") from None
        runs.append(RunOutcome(seed, None, value, result.final_loss, result.seconds, files.output, resume,
                               result.steps))
    return Confirmation(label, values, tuple(runs))


def train_and_measure(bench: Bench, settings: TrainSettings, files: RunFiles, policy: ResumePolicy,
                      epoch_ended: Callable[[int, float, float | None], None] = ignore_epoch,
                      ) -> tuple[TrainResult, float]:
    """One run, its time budget counted from its own start, and its model's validation accuracy."""
    context = dataclasses.replace(bench.context, started=time.perf_counter(), epoch_ended=epoch_ended)
    cluster = context.cluster
    with owned_by_this_run(files) if cluster.is_main else contextlib.nullcontext():
        result = train(settings, bench.data, files, bench.validation, policy, context)
    return result, on_main(lambda: _measured(files.output, bench), cluster)


def _measured(output: Path, bench: Bench) -> float:
    context = bench.context
    trained = load_trained_model(output, context.device)
    value = accuracy(trained.network, bench.validation, context.device, (trained.mean, trained.std), trained.tta,
                     trained.precision, context.should_stop)
    if value is None:
        raise Interrupted(f"interrupted while measuring {output}")
    return value
