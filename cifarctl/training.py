"""The training loop: the tutorial's, on in-memory tensors, for any registered model and recipe.

One epoch is a seeded permutation of the training set, cut into mini-batches in order,
exactly like `DataLoader(shuffle=True)` (the last batch may be smaller). The loss line
`[epoch, step] loss: x.xxx` is the tutorial's, printed every `log_every` mini-batches.
Everything a recipe varies (optimiser, schedule, loss, augmentation, weight averaging,
precision) comes from `cifarctl.training_parts`; this loop knows no family by name.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cifarctl.run_files import RunFiles
from cifarctl.data.memory import Split
from cifarctl.cpu_threads import cpu_mode_for
from cifarctl.devices import describe as describe_device
from cifarctl.distributed import Cluster, any_rank, broadcast, mean_over_ranks
from cifarctl.distributed import backend as dist_backend
from cifarctl.errors import CifarctlError, Interrupted
from cifarctl.events import Events
from cifarctl.metrics import MetricsLog, MetricsSink, clean_number
from cifarctl.models import ModelInfo
from cifarctl.run_state import RunState, claim_checkpoint, read_for_resume, restore_run, save_run, settings_to_resume
from cifarctl.settings import TrainSettings
from cifarctl.durations import format_duration
from cifarctl.time_budget import WARMUP_STEPS_NOT_TIMED, budget_fit_step, fitted_steps
from cifarctl.training_parts import TrainingParts

PROGRESS_INTERVAL_S = 0.25
STOP_CHECK_EVERY = 20  # under torchrun, ranks agree on a Ctrl-C every this many steps

__all__ = ["TrainSettings", "TrainResult", "TrainingDiverged", "train"]


class TrainingDiverged(CifarctlError):
    """The loss became NaN or infinite: the learning rate is too high for this model."""


@dataclass
class TrainResult:
    settings: TrainSettings
    model: ModelInfo
    parameters: int
    epochs_run: float
    steps: int
    total_steps: int
    planned_epochs: float  # total_steps in epochs (fractional when --steps or a budget set it)
    final_loss: float
    seconds: float
    images_per_second: float
    files: RunFiles
    resumed_from: tuple[int, int] | None  # (epoch, step) the run continued from
    processes: int = 1  # torchrun's WORLD_SIZE; settings.batch_size is per process
    precision: str = "fp32"
    loss_history: tuple[float, ...] = ()  # the running-loss values logged during this run
    test_accuracy: float | None = None  # from the last --eval-every pass, if any

    @property
    def output(self) -> Path:
        return self.files.output

    @property
    def checkpoint(self) -> Path:
        return self.files.checkpoint

    def as_json(self) -> dict[str, Any]:
        return {
            "config": self.settings.as_json(),
            "model": {"name": self.model.name, **self.model.options, "parameters": self.parameters},
            "epochs": round(self.planned_epochs, 4),
            "epochs_run": round(self.epochs_run, 4),
            "steps": self.steps,
            "total_steps": self.total_steps,
            "processes": self.processes,
            "global_batch_size": self.settings.batch_size * self.processes,
            "precision": self.precision,
            "final_loss": clean_number(round(self.final_loss, 6)),
            "test_accuracy": None if self.test_accuracy is None else round(self.test_accuracy, 6),
            "train_seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 1),
            "output": str(self.files.output),
            "checkpoint": str(self.files.checkpoint),
            "metrics": str(self.files.metrics),
            "resumed_from": None if self.resumed_from is None
            else {"epoch": self.resumed_from[0] + 1, "step": self.resumed_from[1]},
        }


def train(
    settings: TrainSettings,
    data: Split,
    device: torch.device,
    files: RunFiles,
    resume: bool = False,
    *,
    events: Events = Events(),
    should_stop: Callable[[], bool] = lambda: False,
    cluster: Cluster | None = None,
    test_data: Split | None = None,
    allow_other_data: bool = False,
    restart: bool = False,
    started: float | None = None,
    metrics_sink: MetricsSink | None = None,
) -> TrainResult:
    """Train, saving the checkpoint every epoch and on a stop request; write the model at the end.

    Under torchrun (`cluster` given) every process calls this; `settings.batch_size` is per
    process, only rank 0 writes files, and all ranks stop and resume at the same step.
    """
    started = time.perf_counter() if started is None else started  # a time budget counts from here
    steps_per_epoch = math.ceil(len(data) / (settings.batch_size * (cluster.world_size if cluster else 1)))
    checkpoint = read_for_resume(files, settings, data, steps_per_epoch, cluster, allow_other_data) if resume else None
    if not resume:
        claim_checkpoint(files, restart, cluster)
    settings = settings_to_resume(settings, checkpoint) if checkpoint else _with_seed(settings, cluster)
    loop = _Loop(settings, data, device, files, events, cluster, test_data, started, metrics_sink)
    resumed_from = loop.start(checkpoint)
    try:
        with cpu_mode_for(device.type, settings.batch_size):
            loop.run(should_stop)
    finally:
        events.task_finished()
        loop.metrics.close()
    if loop.is_main:
        loop.parts.save_model(files.output)
    state = loop.state
    steps_this_run = state.step - loop.step_at_start
    return TrainResult(
        settings=loop.settings,  # with the length a time budget fitted
        model=loop.parts.info,
        parameters=loop.parts.parameter_count,
        epochs_run=steps_this_run / loop.steps_per_epoch,
        steps=steps_this_run,
        total_steps=state.total_steps,
        planned_epochs=state.total_steps / loop.steps_per_epoch,
        final_loss=state.final_loss,
        seconds=loop.seconds,
        images_per_second=state.seen_images_this_run * loop.world_size / loop.seconds if loop.seconds > 0 else 0.0,
        files=files,
        resumed_from=resumed_from,
        processes=loop.world_size,
        precision=loop.parts.precision,
        loss_history=tuple(loop.loss_history),
        test_accuracy=state.test_accuracy,
    )


def _with_seed(settings: TrainSettings, cluster: Cluster | None) -> TrainSettings:
    """A fresh run without --seed gets a random one, the same on every process."""
    if settings.seed is not None:
        return settings
    return dataclasses.replace(settings, seed=broadcast(random.randrange(2**31), cluster))


class _Loop:
    """One run's position and reporting around the parts that do the learning."""

    def __init__(self, settings: TrainSettings, data: Split, device: torch.device, files: RunFiles,
                 events: Events, cluster: Cluster | None, test_data: Split | None, started: float,
                 metrics_sink: MetricsSink | None = None) -> None:
        self.settings, self.files, self.events, self.cluster = settings, files, events, cluster
        self.world_size = cluster.world_size if cluster else 1
        self.rank = cluster.rank if cluster else 0
        self.is_main = self.rank == 0
        self.global_batch = settings.batch_size * self.world_size
        self.labels = data.labels.to(device)
        self.steps_per_epoch = math.ceil(len(self.labels) / self.global_batch)
        self.test_data = test_data
        self.parts = TrainingParts(settings, device, data, cluster)
        self.state = RunState.fresh(settings, self.steps_per_epoch, data)
        self.metrics = MetricsLog(files.metrics, metrics_sink) if self.is_main else MetricsLog(None)
        self.loss_history: list[float] = []
        self.seconds = 0.0
        self.step_at_start = 0
        self.started = started  # when train() was called: a time budget counts from there
        self.timing: dict[str, float] = {}

    # --- start and checkpoints ------------------------------------------------------------
    def start(self, checkpoint: dict[str, Any] | None) -> tuple[int, int] | None:
        self._first_line()
        self.parts.set_total_steps(self.state.total_steps, self.settings.recipe.flat_steps)
        resumed_from = None
        if checkpoint is not None:
            self.state = restore_run(checkpoint, self.parts, self.state)
            epoch, step = divmod(self.state.step, self.steps_per_epoch)
            resumed_from = (epoch, step)
            if self.state.step >= self.state.total_steps:
                self.events.message(f"{self.files.checkpoint} has already trained {self.state.epochs_done(self.steps_per_epoch):g} "
                                    f"epochs: nothing left to train, writing {self.files.output} from it "
                                    "(ask for more with --epochs)")
            else:
                self.events.message(f"resuming from {self.files.checkpoint} at epoch {epoch + 1}, mini-batch {step}")
        self.metrics.open(self.state.metrics_bytes if checkpoint is not None else None)
        self.step_at_start = self.state.step
        return resumed_from

    def _length(self) -> str:
        if self.settings.time_budget and self.settings.steps is None:
            return f"length fitted to {format_duration(self.settings.time_budget)}"
        if self.settings.steps is not None:
            return f"{self.settings.steps:,} steps"
        return f"{self.settings.epochs:g} epochs"

    def _first_line(self) -> None:
        """What is about to happen: data, device, model, recipe, seed, and a time estimate where slow."""
        settings, family = self.settings, self.parts.info.family
        device = describe_device(self.parts.device)
        line = (f"training {self.parts.info.describe()} on {len(self.labels):,} images on {device}, "
                f"{settings.recipe.name} recipe ({self._length()}, batch {settings.batch_size}, "
                f"lr {settings.recipe.lr:g}), seed {settings.seed}")
        if self.parts.precision != "fp32":
            line += f", {self.parts.precision}"
        self.events.message(line)
        if self.cluster is not None:
            self.events.message(f"distributed: {self.world_size} processes ({dist_backend()}), {settings.batch_size} "
                                f"images per process per step = global batch {self.global_batch}, "
                                f"lr {settings.recipe.lr:g}")
        if family.cpu_note and self.parts.device.type == "cpu":
            seconds = len(self.labels) * settings.epochs / max(family.images_per_second_cpu, 1e-9)
            self.events.warning(f"{family.name} is {family.cpu_note}; this run may take about "
                                f"{format_duration(seconds)} here")

    def save(self) -> None:
        """Write the checkpoint (rank 0); every rank must call this, to agree on the losses."""
        # Losses still on the device belong to this checkpoint: without them a run resumed
        # mid-interval would log a running loss summed over fewer than --log-every steps.
        self.state.add_losses(self.parts.take_losses())
        self.state.running_loss, self.state.epoch_loss = mean_over_ranks(
            [self.state.running_loss, self.state.epoch_loss], self.cluster)
        self._check_finite(self.state.running_loss + self.state.epoch_loss)
        if self.is_main:
            self.state.metrics_bytes = self.metrics.durable_size()
            self.state.elapsed_seconds += self._since_mark()
            save_run(self.files, self.settings, self.parts, self.state, self.world_size)

    def _since_mark(self) -> float:
        now = time.perf_counter()
        elapsed, self._mark = now - self._mark, now
        return elapsed

    # --- the loop ---------------------------------------------------------------------------
    def run(self, should_stop: Callable[[], bool]) -> None:
        state, settings = self.state, self.settings
        self._mark = started = time.perf_counter()
        self.events.task_started(f"training {self.parts.info.describe()}", state.total_steps, unit="steps",
                                 completed=state.step)
        last_progress = time.monotonic()
        epoch_images = None
        fit_at = budget_fit_step(settings.recipe) if settings.time_budget and settings.steps is None else None
        while state.step < state.total_steps:
            epoch, in_epoch = divmod(state.step, self.steps_per_epoch)
            if epoch_images is None or in_epoch == 0:
                epoch_started, epoch_seen = time.perf_counter(), state.seen_images_this_run
                epoch_images, order = self.parts.epoch_inputs(epoch), self.parts.epoch_order(epoch, len(self.labels))
                self.timing.setdefault("epoch_start", time.perf_counter() - epoch_started)
            if self._stop_requested(should_stop, in_epoch):
                self.save()
                raise Interrupted(f"interrupted at epoch {epoch + 1}, mini-batch {in_epoch}; checkpoint saved "
                                  f"to {self.files.checkpoint}; rerun the same command with --resume to continue")
            global_batch = order[in_epoch * self.global_batch : (in_epoch + 1) * self.global_batch]
            batch = global_batch.tensor_split(self.world_size)[self.rank]
            self.parts.train_step(epoch_images[batch], self.labels[batch], len(global_batch))
            state.step += 1
            state.seen_images_this_run += len(batch)
            in_epoch += 1
            if fit_at is not None:
                self._time_budget_step(fit_at)
            if in_epoch % settings.log_every == 0:
                self._log_line(epoch, in_epoch)
            if time.monotonic() - last_progress >= PROGRESS_INTERVAL_S:
                last_progress = time.monotonic()
                self._progress(epoch, in_epoch, (state.seen_images_this_run - epoch_seen) * self.world_size
                               / (time.perf_counter() - epoch_started))
            if in_epoch == self.steps_per_epoch or state.step == state.total_steps:
                self._end_epoch(epoch, in_epoch, time.perf_counter() - epoch_started,
                                (state.seen_images_this_run - epoch_seen) * self.world_size)
                self.save()
        self.seconds = time.perf_counter() - started

    def _time_budget_step(self, fit_at: int) -> None:
        """Time the flat-rate steps at the start, then fix the run's length to the budget."""
        step = self.state.step - self.step_at_start
        if step == min(WARMUP_STEPS_NOT_TIMED, fit_at - 1):
            self.parts.synchronize()
            self.timing["timed_from"] = time.perf_counter()
        if self.state.step != fit_at:
            return
        self.parts.synchronize()
        now = time.perf_counter()
        timed_steps = step - min(WARMUP_STEPS_NOT_TIMED, fit_at - 1)
        per_step = (now - self.timing["timed_from"]) / max(1, timed_steps)
        total = fitted_steps(self.settings.time_budget, now - self.started, self.state.step, per_step,
                             self.steps_per_epoch, self.timing.get("epoch_start", 0.0), minimum=fit_at)
        total = broadcast(total, self.cluster)
        self.settings = dataclasses.replace(self.settings, steps=total)
        self.state.total_steps = total
        self.parts.set_total_steps(total, self.settings.recipe.flat_steps)
        self.events.task_finished()
        self.events.message(f"time budget {format_duration(self.settings.time_budget)}: {1000 * per_step:.0f} ms "
                            f"per step here, so {total:,} steps ({total / self.steps_per_epoch:.2f} epochs); "
                            f"--steps {total} repeats this run exactly")
        self.events.task_started(f"training {self.parts.info.describe()}", total, unit="steps",
                                 completed=self.state.step)

    def _stop_requested(self, should_stop: Callable[[], bool], in_epoch: int) -> bool:
        """Alone: at once. Under DDP: agreed by all ranks every STOP_CHECK_EVERY steps."""
        if self.cluster is None:
            return should_stop()
        if in_epoch % STOP_CHECK_EVERY:
            return False
        return any_rank(should_stop(), self.cluster)

    # --- reporting --------------------------------------------------------------------------
    def _log_line(self, epoch: int, in_epoch: int) -> None:
        """The tutorial's `[epoch, step] loss:` line, and the same in the metrics log."""
        losses = self.parts.take_losses()
        self.state.add_losses(losses)
        (running,) = mean_over_ranks([self.state.running_loss], self.cluster)
        value = running / self.settings.log_every
        self._check_finite(value)
        self.events.message(f"[{epoch + 1}, {in_epoch:5d}] loss: {value:.3f}")
        self.loss_history.append(value)
        self.metrics.write({"kind": "step", "epoch": epoch + 1, "step": in_epoch, "global_step": self.state.step,
                            "images": self._images_seen(epoch, in_epoch), "loss": round(value, 6),
                            "lr": self.parts.learning_rate(), "time": round(self.state.elapsed_seconds
                                                                           + time.perf_counter() - self._mark, 3)})
        self.state.running_loss = 0.0

    def _images_seen(self, epoch: int, in_epoch: int) -> int:
        """Training images used so far (an epoch's last batch may be smaller than the others)."""
        return epoch * len(self.labels) + min(in_epoch * self.global_batch, len(self.labels))

    def _progress(self, epoch: int, in_epoch: int, rate: float) -> None:
        self.state.add_losses(self.parts.take_losses())
        since_log = in_epoch % self.settings.log_every
        if self.cluster is None and since_log:
            self._check_finite(self.state.running_loss)
        loss = f"  loss {self.state.running_loss / since_log:.3f}" if since_log else ""
        self.events.task_advanced(self.state.step, f"epoch {epoch + 1}/{self.state.epochs_total(self.steps_per_epoch)}"
                                                   f"{loss}  {rate:,.0f} img/s")

    def _end_epoch(self, epoch: int, steps: int, seconds: float, images: int) -> None:
        state = self.state
        state.add_losses(self.parts.take_losses())
        epoch_loss, correct = mean_over_ranks([state.epoch_loss, float(self.parts.take_correct())], self.cluster)
        self._check_finite(epoch_loss)
        state.final_loss = epoch_loss / steps
        train_accuracy = correct * self.world_size / images if self.parts.counts_correct and images else None
        test_accuracy = self._test_accuracy(epoch)
        if test_accuracy is not None:
            state.test_accuracy = test_accuracy
        state.epoch_loss = 0.0
        state.running_loss = 0.0  # as the tutorial's loop does: steps after the last log line of an epoch are not logged
        rate = images / seconds if seconds > 0 else 0.0
        lr = self.parts.learning_rate()
        if self.parts.recipe.epoch_report or test_accuracy is not None:
            line = f"epoch {epoch + 1:>3}/{state.epochs_total(self.steps_per_epoch)}  loss {state.final_loss:.3f}"
            if train_accuracy is not None:
                line += f"  train acc {100 * train_accuracy:5.1f} %"
            line += f"  lr {lr:.4g}  {rate:,.0f} img/s"
            if test_accuracy is not None:
                line += f"  test acc {100 * test_accuracy:5.1f} %"
            self.events.message(line)
        self.events.task_advanced(state.step, f"epoch {epoch + 1} done")
        self.metrics.write({"kind": "epoch", "epoch": epoch + 1, "global_step": state.step,
                            "images": self._images_seen(epoch, steps), "train_loss": round(state.final_loss, 6),
                            "train_accuracy": None if train_accuracy is None else round(train_accuracy, 6),
                            "test_accuracy": None if test_accuracy is None else round(test_accuracy, 6),
                            "lr": lr, "images_per_second": round(rate, 1), "seconds": round(seconds, 3),
                            "time": round(state.elapsed_seconds + time.perf_counter() - self._mark, 3)})

    def _test_accuracy(self, epoch: int) -> float | None:
        every = self.settings.eval_every
        finished = self.state.step == self.state.total_steps
        if self.test_data is None or not every or not self.is_main or ((epoch + 1) % every and not finished):
            return None
        return self.parts.test_accuracy(self.test_data)

    def _check_finite(self, value: float) -> None:
        if not math.isfinite(value):
            kept = (f"the checkpoint {self.files.checkpoint} keeps the last finite state"
                    if self.files.checkpoint.exists() and self.is_main else "no checkpoint was written")
            raise TrainingDiverged(f"the loss became {value} at step {self.state.step} (epoch "
                                   f"{self.state.step // self.steps_per_epoch + 1}): training diverged with lr "
                                   f"{self.settings.recipe.lr:g}; {kept}; train again with a lower --lr")
