"""What a training run says while it runs: its first line, the tutorial's loss lines, the
per-epoch lines, the progress bar and the metrics log. The loop calls it; it trains nothing."""

from __future__ import annotations

import math
import time

from cifarctl.data.catalog import DEFAULT_DATASET, dataset_spec
from cifarctl.devices import describe as describe_device
from cifarctl.durations import format_duration
from cifarctl.errors import CifarctlError
from cifarctl.events import Events
from cifarctl.training.checkpoint import RunState
from cifarctl.training.distributed import Cluster, mean_over_ranks
from cifarctl.training.distributed import backend as dist_backend
from cifarctl.training.metrics import MetricsLog
from cifarctl.training.parts import Parts
from cifarctl.training.run_files import RunFiles
from cifarctl.training.settings import TrainSettings

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


class Progress:
    def __init__(self, settings: TrainSettings, parts: Parts, files: RunFiles, events: Events, metrics: MetricsLog,
                 cluster: Cluster | None, steps_per_epoch: int, images: int, evaluated_on: str = "test") -> None:
        self.settings, self.parts, self.files, self.events, self.metrics = settings, parts, files, events, metrics
        self.evaluated_on = evaluated_on  # the split --eval-every measures: "val" when one is held out
        self.cluster = cluster
        self.world_size = cluster.world_size if cluster else 1
        self.steps_per_epoch, self.images = steps_per_epoch, images
        self.global_batch = settings.batch_size * self.world_size
        self.loss_history: list[float] = []
        self.last_progress = time.monotonic()
        self.mark = time.perf_counter()  # training time since the last checkpoint is added to the state's
        self.epoch_started_at = self.mark
        self.epoch_seen = 0

    # --- lines ------------------------------------------------------------------------------
    def first_line(self, threads_why: str = "") -> None:
        """What is about to happen: data, device, model, recipe, seed, and a time estimate where slow."""
        settings, parts, family = self.settings, self.parts, self.parts.info.family
        held_out = settings.validation
        images = f"{self.images:,} {dataset_words(settings.dataset)}images"
        if held_out:
            images += f" ({held_out['size']:,} more held out for validation)"
        line = (f"training {parts.info.describe()} on {images} on {describe_device(parts.device)}, "
                f"{settings.recipe.name} recipe ({self._length()}, batch {settings.batch_size}, "
                f"lr {settings.recipe.lr:g}), seed {settings.seed}")
        if parts.precision != "fp32":
            line += f", {parts.precision}"
        if parts.device.type == "cpu":
            line += f", {settings.threads} CPU thread{'s' if settings.threads != 1 else ''}"
            line += f" ({threads_why})" if threads_why else ""
        self.events.message(line)
        if self.cluster is not None:
            self.events.message(f"distributed: {self.world_size} processes ({dist_backend()}), {settings.batch_size} "
                                f"images per process per step = global batch {self.global_batch}, "
                                f"lr {settings.recipe.lr:g}")
        if family.cpu_note and parts.device.type == "cpu":
            steps = settings.steps if settings.steps is not None else settings.epochs * self.steps_per_epoch
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
        epoch, step = divmod(state.step, self.steps_per_epoch)
        if state.step >= state.total_steps:
            self.events.message(f"{self.files.checkpoint} has already trained {state.step / self.steps_per_epoch:g} "
                                f"epochs: nothing left to train, writing {self.files.output} from it "
                                "(ask for more with --epochs)")
        else:
            self.events.message(f"resuming from {self.files.checkpoint} at epoch {epoch + 1}, mini-batch {step}")

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
                            f"per step here, so {total:,} steps ({total / self.steps_per_epoch:.2f} epochs); "
                            f"{repeat} repeats this run exactly")
        self.started(state)

    def budget_refitted(self, state: RunState) -> None:
        self.events.warning(f"the speed changed: re-fitted to {state.total_steps:,} steps to keep the time budget "
                            "(the run is no longer repeated exactly by --steps)")
        self.events.task_started(f"training {self.parts.info.describe()}", state.total_steps, unit="steps",
                                 completed=state.step)

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
        if self.cluster is None and since_log:
            self.check_finite(state.running_loss, state)
        loss = f"  loss {state.running_loss / since_log:.3f}" if since_log else ""
        rate = (state.seen_images_this_run - self.epoch_seen) * self.world_size / max(
            1e-9, time.perf_counter() - self.epoch_started_at)
        self.events.task_advanced(state.step, f"epoch {epoch + 1}/{state.epochs_total(self.steps_per_epoch)}"
                                              f"{loss}  {rate:,.0f} img/s")

    def epoch_line(self, state: RunState, epoch: int, steps: int, test_accuracy: float | None) -> None:
        seconds = time.perf_counter() - self.epoch_started_at
        images = (state.seen_images_this_run - self.epoch_seen) * self.world_size
        state.settle()
        epoch_loss, correct = mean_over_ranks([state.epoch_loss, float(state.correct)], self.cluster)
        state.correct = 0
        self.check_finite(epoch_loss, state)
        state.final_loss = epoch_loss / steps
        train_accuracy = correct * self.world_size / images if self.parts.recipe.epoch_report and images else None
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
                line += f"  {self.evaluated_on} acc {100 * test_accuracy:5.1f} %"
            self.events.message(line)
        self.events.task_advanced(state.step, f"epoch {epoch + 1} done")
        self.metrics.write({"kind": "epoch", "epoch": epoch + 1, "global_step": state.step,
                            "images": self._images_seen(epoch, steps), "train_loss": round(state.final_loss, 6),
                            "train_accuracy": None if train_accuracy is None else round(train_accuracy, 6),
                            f"{self.evaluated_on}_accuracy": None if test_accuracy is None
                            else round(test_accuracy, 6),
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

    def _time(self, state: RunState) -> float:
        return round(state.elapsed_seconds + time.perf_counter() - self.mark, 3)

    def _images_seen(self, epoch: int, in_epoch: int) -> int:
        """Training images used so far (an epoch's last batch may be smaller than the others)."""
        per_epoch = min(self.images, self.steps_per_epoch * self.global_batch)
        return epoch * per_epoch + min(in_epoch * self.global_batch, per_epoch)

    def check_finite(self, value: float, state: RunState) -> None:
        if not math.isfinite(value):
            kept = (f"the checkpoint {self.files.checkpoint} keeps the last finite state"
                    if self.files.checkpoint.exists() and (self.cluster is None or self.cluster.is_main)
                    else "no checkpoint was written")
            raise TrainingDiverged(f"the loss became {value} at step {state.step} (epoch "
                                   f"{state.step // self.steps_per_epoch + 1}): training diverged with lr "
                                   f"{self.settings.recipe.lr:g}; {kept}; train again with a lower --lr")
