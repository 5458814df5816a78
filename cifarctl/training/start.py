"""How a run starts: fresh, or continued from its checkpoint, with the settings it will train with.

A fresh run never overwrites another run's checkpoint; a resumed one is checked against its
checkpoint before anything is built. Then the machine-dependent choices are made and
printed: the thread count (measured) and, for a time budget, the family's size (measured).
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass
from typing import Any

from cifarctl.cpu_threads import choose_threads
from cifarctl.data.memory import Split
from cifarctl.durations import format_duration
from cifarctl.errors import UsageError
from cifarctl.recipes.resolution import low_res_steps
from cifarctl.training import checkpoint
from cifarctl.training.context import Context, ResumePolicy
from cifarctl.training.distributed import Cluster, broadcast
from cifarctl.training.parts import Parts
from cifarctl.training.run_files import RunFiles
from cifarctl.training.settings import TrainSettings
from cifarctl.training.sizing import sized_for_budget, step_times
from cifarctl.training.state import RunState, dataset_identity, planned_steps


@dataclass(frozen=True)
class Run:
    """One run as it trains: its settings (with the data's classes, a seed, threads, a size),
    its files, and the checkpoint it continues (None for a fresh run)."""

    settings: TrainSettings
    files: RunFiles
    steps_per_epoch: int
    images: int  # training images
    saved: dict[str, Any] | None
    threads_why: str  # why this many CPU threads, for the first line
    started: float  # perf_counter() at process start: a time budget counts from there
    full_step_cost: float = 1.0  # a full-size step's time in low-resolution steps, measured for a budget

    @property
    def total_steps(self) -> int:
        return planned_steps(self.settings, self.steps_per_epoch)

    def state(self, parts: Parts, data: Split) -> RunState:
        """Where training starts: step 0, or the checkpoint's position with its parts restored."""
        fresh = RunState(step=0, total_steps=self.total_steps, steps_per_epoch=self.steps_per_epoch,
                         dataset=dataset_identity(data))
        return fresh if self.saved is None else checkpoint.restore(self.saved, parts, fresh)

    def settings_at(self, state: RunState) -> TrainSettings:
        """The settings to record: with the length a time budget fitted, so a resume keeps it."""
        return dataclasses.replace(self.settings, steps=state.total_steps) if state.length_fitted else self.settings


def start_run(settings: TrainSettings, data: Split, files: RunFiles, policy: ResumePolicy, context: Context) -> Run:
    started = time.perf_counter() if context.started is None else context.started
    steps_per_epoch = settings.recipe.steps_per_epoch(len(data), context.cluster.world_size)
    settings = settings.trained_on(data.classes)
    saved = None
    if policy.resume:
        saved = checkpoint.read_for_resume(files, settings, data, steps_per_epoch, context.cluster,
                                           policy.allow_other_data)
        settings = checkpoint.settings_to_resume(settings, saved)
    else:
        checkpoint.claim_checkpoint(files, policy.restart, context.cluster)
        settings = _with_seed(settings, context.cluster)
    threads, threads_why = choose_threads(context.device.type, settings.batch_size, settings.threads)
    settings = dataclasses.replace(settings, threads=threads)
    if settings.time_budget and settings.steps is None and time.perf_counter() - started >= settings.time_budget:
        raise UsageError(f"--time-budget {format_duration(settings.time_budget)} was spent before training could "
                         f"start ({format_duration(time.perf_counter() - started)} for start-up and data); give "
                         "a longer budget")
    first_batch = slice(0, settings.batch_size)
    images, labels = data.images[first_batch].to(context.device), data.labels[first_batch].to(context.device)
    full_step_cost = 1.0
    if settings.pick_size and saved is None and settings.steps is None:
        settings, times = sized_for_budget(settings, context.device, images, labels,
                                           settings.time_budget - (time.perf_counter() - started), steps_per_epoch,
                                           context.events)
        full_step_cost = times.full_step_cost
    elif settings.time_budget and settings.steps is None and low_res_steps(settings.recipe, 1):
        full_step_cost = step_times(settings, context.device, images, labels).full_step_cost
    return Run(settings, files, steps_per_epoch, len(data), saved, threads_why, started, full_step_cost)


def _with_seed(settings: TrainSettings, cluster: Cluster) -> TrainSettings:
    """A fresh run without --seed gets a random one, the same on every process."""
    if settings.seed is not None:
        return settings
    return dataclasses.replace(settings, seed=broadcast(random.randrange(2**31), cluster))
