"""The training loop: the tutorial's, on in-memory tensors, for any registered model and recipe.

Read `train()` top to bottom: the run (fresh, or continued from its checkpoint), the parts
it trains with, then the tutorial's loop — each epoch a seeded permutation of the training
set cut into mini-batches in order (as `DataLoader(shuffle=True)`), each mini-batch one
forward pass, loss, backward pass and optimiser step — with the tutorial's
`[epoch, step] loss: x.xxx` line every `log_every` mini-batches and a checkpoint at every
epoch's end. It knows no family by name: everything a recipe varies is in `Parts`.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cifarctl.compiling import compiled
from cifarctl.cpu_threads import choose_threads, cpu_mode_for
from cifarctl.data.memory import Split, epoch_permutation
from cifarctl.durations import format_duration
from cifarctl.errors import Interrupted
from cifarctl.events import Events
from cifarctl.inference.evaluation import predict
from cifarctl.inference.model_files import save_trained_model
from cifarctl.models import ModelInfo
from cifarctl.recipes.precision import autocast
from cifarctl.recipes.schedules import refit
from cifarctl.training import checkpoint
from cifarctl.training.checkpoint import RunState
from cifarctl.training.distributed import Cluster, any_rank, broadcast
from cifarctl.training.metrics import MetricsLog, MetricsSink, clean_number, run_header
from cifarctl.training.parts import build_parts, seconds_per_step
from cifarctl.training.progress import Progress, TrainingDiverged
from cifarctl.training.run_files import RunFiles
from cifarctl.training.settings import TrainSettings
from cifarctl.training.time_budget import BudgetClock, budget_fit_step, pick_size

STOP_CHECK_EVERY = 20  # under torchrun, ranks agree on a Ctrl-C every this many steps
EVALUATION_BATCH = 1000

__all__ = ["TrainResult", "TrainSettings", "TrainingDiverged", "train"]


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
    evaluated_on: str = "test"  # the split --eval-every measured: "val" when one is held out

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
            **{f"{split}_accuracy": None if self.test_accuracy is None or split != self.evaluated_on
               else round(self.test_accuracy, 6) for split in ("test", "val")},
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
    settings = settings.trained_on(data.classes)
    world_size, rank = (cluster.world_size, cluster.rank) if cluster else (1, 0)
    is_main = rank == 0
    global_batch = settings.batch_size * world_size
    steps_per_epoch = settings.recipe.steps_per_epoch(len(data), world_size)

    # The run: continued from its checkpoint, or fresh (never over another run's checkpoint).
    saved = checkpoint.read_for_resume(files, settings, data, steps_per_epoch, cluster,
                                       allow_other_data) if resume else None
    if saved is None:
        checkpoint.claim_checkpoint(files, restart, cluster)
    settings = checkpoint.settings_to_resume(settings, saved) if saved else _with_seed(settings, cluster)
    threads, threads_why = choose_threads(device.type, settings.batch_size, settings.threads)
    settings = dataclasses.replace(settings, threads=threads)

    # What it trains with: the data on the device, and the parts built for the run's length.
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes (drop-last recipes): the fastest kernels once chosen
    images, labels = data.images.to(device), data.labels.to(device)
    if settings.pick_size and saved is None and settings.steps is None:
        settings = _sized_for_budget(settings, device, images, labels, started, steps_per_epoch, events)
    state = RunState.fresh(settings, steps_per_epoch, data)
    parts = build_parts(settings, device, images, state.total_steps, cluster)
    if settings.compile:
        parts.model = compiled(parts.model, device.type, events)
    recipe = settings.recipe
    metrics = MetricsLog(files.metrics if is_main else None, metrics_sink if is_main else None)
    evaluated_on = test_data.name if test_data is not None else "test"
    progress = Progress(settings, parts, files, events, metrics, cluster, steps_per_epoch, len(labels), evaluated_on)
    progress.first_line(threads_why)
    if saved is not None:
        state = checkpoint.restore(saved, parts, state)
        progress.resumed(state)
    metrics.open(state.metrics_bytes if saved is not None else None,
                 run_header(settings.dataset, len(settings.classes)))
    step_at_start = state.step
    budget = (BudgetClock(settings.time_budget, started, budget_fit_step(recipe), steps_per_epoch)
              if settings.time_budget and settings.steps is None else None)

    def save() -> None:
        progress.before_checkpoint(state)  # every rank: the losses are averaged over ranks
        if is_main:
            checkpoint.save(files, settings, parts, state, world_size)

    # The tutorial's loop.
    epoch_inputs = order = None
    try:
        with cpu_mode_for(device.type, settings.batch_size, settings.threads):
            progress.started(state)
            clock_started = time.perf_counter()
            while state.step < state.total_steps:
                epoch, in_epoch = divmod(state.step, steps_per_epoch)
                if epoch_inputs is None or in_epoch == 0:
                    if parts.freeze_stem is not None and epoch >= recipe.freeze_stem_after:
                        parts.freeze_stem(parts.network)
                    epoch_prepared = time.perf_counter()
                    epoch_inputs = parts.epoch_inputs(images, settings.seed, epoch)
                    order = epoch_permutation(len(labels), settings.seed, epoch).to(device)
                    if budget is not None and state.step == step_at_start:
                        budget.epoch_start_s = time.perf_counter() - epoch_prepared
                    progress.epoch_started(state)
                if _stop_requested(should_stop, in_epoch, cluster):
                    save()
                    raise Interrupted(f"interrupted at epoch {epoch + 1}, mini-batch {in_epoch}; checkpoint saved "
                                      f"to {files.checkpoint}; rerun the same command with --resume to continue")
                batch = order[in_epoch * global_batch: (in_epoch + 1) * global_batch]
                batch_images = len(batch)
                batch = batch.tensor_split(world_size)[rank]
                inputs, targets = epoch_inputs[batch], labels[batch]

                parts.optimizer.zero_grad()
                with autocast(device, parts.precision):
                    outputs = parts.model(inputs)
                    loss = parts.criterion(outputs.float(), targets)
                if cluster is not None:  # each rank's summed loss, so DDP's average is the global batch's mean
                    loss = loss * (world_size / batch_images)
                if parts.scaler is not None:
                    parts.scaler.scale(loss).backward()
                    parts.scaler.step(parts.optimizer)
                    parts.scaler.update()
                else:
                    loss.backward()
                    parts.optimizer.step()
                if parts.scheduler is not None:
                    parts.scheduler.step()
                state.step += 1
                if parts.lookahead is not None:
                    parts.lookahead.after_step(state.step, state.total_steps)
                state.count(loss, *((outputs, targets) if recipe.epoch_report else ()))
                state.seen_images_this_run += len(batch)
                in_epoch += 1

                if budget is not None and not budget.fitted:  # the flat start is timed, then the length fitted
                    parts.synchronize()
                    fitted = budget.first_fit(state.step, state.step - step_at_start, time.perf_counter())
                    if fitted is not None:
                        state.total_steps = broadcast(fitted[0], cluster)
                        settings = dataclasses.replace(settings, steps=state.total_steps)
                        refit(parts.scheduler, recipe, state.total_steps)
                        progress.budget_fitted(state, fitted[1])
                if in_epoch % settings.log_every == 0:
                    progress.loss_line(state, epoch, in_epoch)
                progress.bar(state, epoch, in_epoch)
                if in_epoch == steps_per_epoch and budget is not None:
                    parts.synchronize()
                    refitted = budget.at_epoch_end(state.step, state.total_steps, time.perf_counter())
                    if refitted is not None:
                        state.total_steps = broadcast(refitted, cluster)
                        settings = dataclasses.replace(settings, steps=state.total_steps)
                        refit(parts.scheduler, recipe, state.total_steps)
                        progress.budget_refitted(state)
                if in_epoch == steps_per_epoch or state.step == state.total_steps:
                    if state.step == state.total_steps and parts.lookahead is not None:
                        parts.lookahead.finish()
                    progress.epoch_line(state, epoch, in_epoch, _test_accuracy(parts, test_data, settings, state,
                                                                                 epoch, is_main))
                    save()
            seconds = time.perf_counter() - clock_started
    finally:
        events.task_finished()
        metrics.close()
    if is_main:
        weights = {name: tensor.detach().cpu() for name, tensor in parts.network.state_dict().items()}
        save_trained_model(files.output, parts.info, weights, tta=recipe.tta, validation=settings.validation,
                           dataset=settings.dataset, classes=settings.classes,
                           made_by={"settings": settings.as_dict(), "precision": parts.precision,
                                    "steps": state.total_steps, "processes": world_size, "device": device.type})
    steps_this_run = state.step - step_at_start
    return TrainResult(
        settings=settings,  # with the length a time budget fitted
        model=parts.info,
        parameters=parts.parameter_count,
        epochs_run=steps_this_run / steps_per_epoch,
        steps=steps_this_run,
        total_steps=state.total_steps,
        planned_epochs=state.total_steps / steps_per_epoch,
        final_loss=state.final_loss,
        seconds=seconds,
        images_per_second=state.seen_images_this_run * world_size / seconds if seconds > 0 else 0.0,
        files=files,
        resumed_from=divmod(step_at_start, steps_per_epoch) if saved is not None else None,
        processes=world_size,
        precision=parts.precision,
        loss_history=tuple(progress.loss_history),
        test_accuracy=state.test_accuracy,
        evaluated_on=evaluated_on,
    )


def _with_seed(settings: TrainSettings, cluster: Cluster | None) -> TrainSettings:
    """A fresh run without --seed gets a random one, the same on every process."""
    if settings.seed is not None:
        return settings
    return dataclasses.replace(settings, seed=broadcast(random.randrange(2**31), cluster))


def _sized_for_budget(settings: TrainSettings, device: torch.device, images: torch.Tensor, labels: torch.Tensor,
                      started: float, steps_per_epoch: int, events: Events) -> TrainSettings:
    """The family's size that buys the most accuracy in the time budget, from its measured speed."""
    family = ModelInfo(settings.model).family

    def seconds_per_epoch(options: dict[str, int]) -> float:
        sized = dataclasses.replace(settings, options=family.resolve_options(options))
        with cpu_mode_for(device.type, settings.batch_size, settings.threads):
            return seconds_per_step(sized, device, images, labels) * steps_per_epoch

    options, epochs = pick_size(family.budget_sizes, seconds_per_epoch,
                                settings.time_budget - (time.perf_counter() - started))
    options = family.resolve_options(options)
    events.message(f"time budget {format_duration(settings.time_budget)}: {family.describe(options)} "
                   f"(about {epochs:.1f} epochs at its measured speed)")
    return dataclasses.replace(settings, options=options)


def _stop_requested(should_stop: Callable[[], bool], in_epoch: int, cluster: Cluster | None) -> bool:
    """Alone: at once. Under DDP: agreed by all ranks every STOP_CHECK_EVERY steps."""
    if cluster is None:
        return should_stop()
    if in_epoch % STOP_CHECK_EVERY:
        return False
    return any_rank(should_stop(), cluster)


def _test_accuracy(parts, test_data: Split | None, settings: TrainSettings, state: RunState, epoch: int,
                   is_main: bool) -> float | None:
    """Accuracy on `test_data` (the validation split when one is held out) every --eval-every
    epochs and at the end (rank 0), else None."""
    every = settings.eval_every
    finished = state.step == state.total_steps
    if test_data is None or not every or not is_main or ((epoch + 1) % every and not finished):
        return None
    predicted = predict(parts.network, test_data.images, parts.device, EVALUATION_BATCH, parts.mean, parts.std,
                        precision=parts.precision)
    return float((predicted == test_data.labels).float().mean())
