"""What a training run says while it runs; the loop calls it, and it trains nothing.

Its first line, the tutorial's loss lines, the per-epoch lines, the progress bar and the
metrics log."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

import torch

from cifarctl.data.catalog import DEFAULT_DATASET, dataset_spec
from cifarctl.devices import describe as describe_device
from cifarctl.durations import format_duration
from cifarctl.errors import CifarctlError
from cifarctl.training.context import Context
from cifarctl.training.data_fit import batch_note, describe_balancing
from cifarctl.training.distributed import backend as dist_backend
from cifarctl.training.distributed import mean_over_ranks
from cifarctl.training.metrics import MetricsLog, run_header
from cifarctl.training.parts import Parts
from cifarctl.training.start import Run
from cifarctl.training.state import RunState

PROGRESS_INTERVAL_S = 0.25


class TrainingDiverged(CifarctlError):
    """The loss became NaN or infinite: the learning rate is too high for this model."""


def dataset_words(dataset: str) -> str:
    """How the first line names the images: "" for CIFAR-10, the tutorial's, else "CIFAR-100 "."""
    if dataset == DEFAULT_DATASET:
        return ""
    try:
        return f"{dataset_spec(dataset).title} "
    except CifarctlError:
        return f"{dataset} "


def last_step_position(state: RunState) -> tuple[int, int]:
    """(epoch, steps done in it) of the step just taken: `[epoch + 1, step]` in the tutorial's line."""
    epoch, before = divmod(state.step - 1, state.steps_per_epoch)
    return epoch, before + 1


class Progress:
    def __init__(self, run: Run, parts: Parts, context: Context, evaluated_on: str = "test") -> None:
        self.run, self.settings, self.parts, self.files = run, run.settings, parts, run.files
        self.events, self.cluster = context.events, context.cluster
        self.evaluated_on = evaluated_on  # the split --eval-every measures: "val" when one is held out
        self.metrics = MetricsLog(run.files.metrics if context.cluster.is_main else None,
                                  context.metrics_sink if context.cluster.is_main else None)
        self.global_batch = run.settings.batch_size * context.cluster.world_size
        self.loss_history: list[float] = []
        self.last_progress = time.monotonic()
        self.mark = time.perf_counter()  # training time since the last checkpoint is added to the state's
        self.epoch_started_at = self.mark
        self.epoch_seen = 0
        self.wrote_checkpoint = False  # this run's (or, resumed, the run's own); not an earlier run's

    @contextlib.contextmanager
    def training(self, state: RunState) -> Iterator[None]:
        """Around the loop: the first lines, the metrics log open, the progress bar."""
        self.first_line()
        if self.run.saved is not None:
            self.resumed(state)
        self.metrics.open(state.metrics_bytes if self.run.saved is not None else None,
                          run_header(self.settings.dataset, len(self.settings.classes), self.settings))
        try:
            self.started(state)
            yield
        finally:
            self.events.task_finished()
            self.metrics.close()

    # --- lines ------------------------------------------------------------------------------
    def first_line(self) -> None:
        """What is about to happen: data, device, model, recipe, seed, and a time estimate where slow."""
        settings, parts, family = self.settings, self.parts, self.parts.info.family
        held_out = settings.validation
        images = f"{self.run.images:,} {dataset_words(settings.dataset)}images"
        if held_out:
            images += f" ({held_out['size']:,} more held out for validation)"
        line = (f"training {parts.info.describe()} on {images} on {describe_device(parts.device)}, "
                f"{settings.recipe.name} recipe ({self._length()}, batch {settings.batch_size}, "
                f"lr {settings.recipe.lr:g}), seed {settings.seed}")
        for note in (batch_note(settings, self.run.images, self.cluster.world_size), describe_balancing(settings)):
            line += f", {note}" if note else ""
        if parts.precision != "fp32":
            line += f", {parts.precision}"
        if parts.device.type == "cpu":
            line += f", {settings.threads} CPU thread{'s' if settings.threads != 1 else ''}"
            line += f" ({self.run.threads_why})" if self.run.threads_why else ""
        self.events.message(line)
        if self.cluster.distributed:
            self.events.message(f"distributed: {self.cluster.world_size} processes ({dist_backend()}), "
                                f"{settings.batch_size} images per process per step = global batch "
                                f"{self.global_batch}, lr {settings.recipe.lr:g}")
        if family.cpu_note and parts.device.type == "cpu":
            steps = settings.steps if settings.steps is not None else settings.epochs * self.run.steps_per_epoch
            seconds = steps * self.global_batch / max(family.images_per_second_cpu, 1e-9)
            self.events.warning(f"{family.name} is {family.cpu_note}; this run may take about "
                                f"{format_duration(seconds)} here")

    def _length(self) -> str:
        if self.settings.time_budget and self.settings.steps is None:
            return f"length fitted to {format_duration(self.settings.time_budget)}"
        if self.settings.steps is not None:
            return f"{self.settings.steps:,} steps"
        return f"{self.settings.epochs:g} epoch{'' if self.settings.epochs == 1 else 's'}"

    def resumed(self, state: RunState) -> None:
        if state.finished:
            self.events.message(f"{self.files.checkpoint} has already trained "
                                f"{state.step / state.steps_per_epoch:g} epochs: nothing left to train, writing "
                                f"{self.files.output} from it (ask for more with --epochs)")
        else:
            self.events.message(f"resuming from {self.files.checkpoint} at epoch {state.epoch + 1}, "
                                f"mini-batch {state.in_epoch}")

    def started(self, state: RunState) -> None:
        self.mark = time.perf_counter()
        self.events.task_started(f"training {self.parts.info.describe()}", state.total_steps, unit="steps",
                                 completed=state.step)

    def budget_fitted(self, state: RunState, per_step: float) -> None:
        total = state.total_steps
        repeat = f"--steps {total}" + "".join(f" --model-option {name}={value}"
                                               for name, value in self.parts.info.options.items()
                                               if self.settings.pick_size)
        if self.parts.device.type == "cpu":  # another thread count sums in another order: not bit-identical
            repeat += f" --threads {self.settings.threads}"
        self.events.task_finished()
        self.events.message(f"time budget {format_duration(self.settings.time_budget)}: {1000 * per_step:.0f} ms "
                            f"per step here, so {total:,} steps ({total / state.steps_per_epoch:.2f} epochs); "
                            f"{repeat} repeats this run exactly")
        self.started(state)

    def budget_too_small(self, smallest: float) -> None:
        self.events.warning(f"--time-budget {format_duration(self.settings.time_budget)} is less than this run needs "
                            f"to start and measure its speed here: it stops after these first steps, at about "
                            f"{format_duration(smallest)}, the smallest budget it can keep on this machine")

    def budget_refitted(self, state: RunState) -> None:
        self.events.warning(f"the speed changed: re-fitted to {state.total_steps:,} steps to keep the time budget "
                            "(the run is no longer repeated exactly by --steps)")
        self.events.task_started(f"training {self.parts.info.describe()}", state.total_steps, unit="steps",
                                 completed=state.step)

    def after_step(self, state: RunState, loss: torch.Tensor, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        """Count the step's loss (and right answers, for recipes that report them), print the
        tutorial's loss line every log_every mini-batches, and move the progress bar."""
        report = self.parts.recipe.epoch_report
        state.count(loss, len(labels), *((outputs, labels) if report else ()))
        epoch, in_epoch = last_step_position(state)
        if in_epoch % self.settings.log_every == 0:
            self.loss_line(state, epoch, in_epoch)
        self.bar(state, epoch, in_epoch)

    def loss_line(self, state: RunState, epoch: int, in_epoch: int) -> None:
        """The tutorial's `[epoch, step] loss:` line, and the same in the metrics log."""
        state.settle()
        (running,) = mean_over_ranks([state.running_loss], self.cluster)
        value = running / self.settings.log_every
        self.check_finite(value, state)
        self.events.message(f"[{epoch + 1}, {in_epoch:5d}] loss: {value:.3f}")
        self.loss_history.append(value)
        self.metrics.write({"kind": "step", "epoch": epoch + 1, "step": in_epoch, "global_step": state.step,
                            "images": self._images_seen(epoch, in_epoch), "loss": round(value, 6),
                            "lr": self.parts.learning_rate(), "time": self._time(state)})
        state.running_loss = 0.0

    def epoch_started(self, state: RunState) -> None:
        self.epoch_started_at, self.epoch_seen = time.perf_counter(), state.seen_images_this_run

    def bar(self, state: RunState, epoch: int, in_epoch: int) -> None:
        """Advance the progress bar, a few times a second at most."""
        if time.monotonic() - self.last_progress < PROGRESS_INTERVAL_S:
            return
        self.last_progress = time.monotonic()
        state.settle()
        since_log = in_epoch % self.settings.log_every
        if not self.cluster.distributed and since_log:
            self.check_finite(state.running_loss, state)
        loss = f"  loss {state.running_loss / since_log:.3f}" if since_log else ""
        rate = (state.seen_images_this_run - self.epoch_seen) * self.cluster.world_size / max(
            1e-9, time.perf_counter() - self.epoch_started_at)
        self.events.task_advanced(state.step, f"epoch {epoch + 1}/{state.epochs_total}{loss}  {rate:,.0f} img/s")

    def epoch_line(self, state: RunState, accuracy: float | None) -> None:
        """The end of an epoch (or of the run in the middle of one): loss, accuracies, speed."""
        epoch, steps = last_step_position(state)
        seconds = time.perf_counter() - self.epoch_started_at
        images = (state.seen_images_this_run - self.epoch_seen) * self.cluster.world_size
        state.settle()
        epoch_loss, correct = mean_over_ranks([state.epoch_loss, float(state.correct)], self.cluster)
        state.correct = 0
        self.check_finite(epoch_loss, state)
        state.final_loss = epoch_loss / steps
        train_accuracy = correct * self.cluster.world_size / images if self.parts.recipe.epoch_report and images \
            else None
        if accuracy is not None:
            state.test_accuracy = accuracy
        state.epoch_loss = 0.0
        state.running_loss = 0.0  # as the tutorial's loop: steps after an epoch's last log line are not logged
        rate = images / seconds if seconds > 0 else 0.0
        lr = self.parts.learning_rate()
        if self.parts.recipe.epoch_report or accuracy is not None:
            line = f"epoch {epoch + 1:>3}/{state.epochs_total}  loss {state.final_loss:.3f}"
            if train_accuracy is not None:
                line += f"  train acc {100 * train_accuracy:5.1f} %"
            line += f"  lr {lr:.4g}  {rate:,.0f} img/s"
            if accuracy is not None:
                line += f"  {self.evaluated_on} acc {100 * accuracy:5.1f} %"
            self.events.message(line)
        self.events.task_advanced(state.step, f"epoch {epoch + 1} done")
        self.metrics.write({"kind": "epoch", "epoch": epoch + 1, "global_step": state.step,
                            "images": self._images_seen(epoch, steps), "train_loss": round(state.final_loss, 6),
                            "train_accuracy": None if train_accuracy is None else round(train_accuracy, 6),
                            f"{self.evaluated_on}_accuracy": None if accuracy is None else round(accuracy, 6),
                            "lr": lr, "images_per_second": round(rate, 1), "seconds": round(seconds, 3),
                            "time": self._time(state)})

    # --- bookkeeping ------------------------------------------------------------------------
    def before_checkpoint(self, state: RunState) -> None:
        """Settle the losses (all ranks) and note the log's length and the time, for the checkpoint."""
        # Losses still on the device belong to this checkpoint: without them a run resumed
        # mid-interval would log a running loss summed over fewer than --log-every steps.
        state.settle()
        state.running_loss, state.epoch_loss = mean_over_ranks([state.running_loss, state.epoch_loss], self.cluster)
        self.check_finite(state.running_loss + state.epoch_loss, state)
        state.metrics_bytes = self.metrics.durable_size()
        now = time.perf_counter()
        state.elapsed_seconds += now - self.mark
        self.mark = now

    def checkpoint_written(self) -> None:
        """The checkpoint of this run is on disk: its metrics log replaces an earlier run's now."""
        self.wrote_checkpoint = True
        self.metrics.checkpoint_written()

    def _time(self, state: RunState) -> float:
        return round(state.elapsed_seconds + time.perf_counter() - self.mark, 3)

    def _images_seen(self, epoch: int, in_epoch: int) -> int:
        """Training images used so far (an epoch's last batch may be smaller than the others)."""
        per_epoch = min(self.run.images, self.run.steps_per_epoch * self.global_batch)
        return epoch * per_epoch + min(in_epoch * self.global_batch, per_epoch)

    def check_finite(self, value: float, state: RunState) -> None:
        if not math.isfinite(value):
            if self.wrote_checkpoint or self.run.saved is not None:
                kept = f"the checkpoint {self.files.checkpoint} keeps this run's last finite state"
            elif self.files.checkpoint.exists():
                kept = f"this run wrote no checkpoint; {self.files.checkpoint} and its metrics log are an earlier run's"
            else:
                kept = "no checkpoint was written"
            epoch, _ = last_step_position(state)
            raise TrainingDiverged(f"the loss became {value} at step {state.step} (epoch {epoch + 1}): training "
                                   f"diverged with lr {self.settings.recipe.lr:g}; {kept}; train again with a "
                                   "lower --lr")
