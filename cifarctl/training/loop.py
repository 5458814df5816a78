"""The training loop: the tutorial's, on in-memory tensors, for any registered model and recipe.

`train()` reads as the tutorial does: the run (fresh, or continued from its checkpoint), the
parts it trains with, then epoch after epoch of `train_one_epoch`, whose body is the
tutorial's step — zero the gradients, forward pass, loss, backward pass, optimiser step —
with the tutorial's `[epoch, step] loss:` line every `log_every` mini-batches. What a recipe
or the machine varies (schedule, weight averaging, number format, time budget, processes)
sits behind objects that are always there, so the loop has no branch for any of them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator

import torch

from cifarctl.cpu_threads import cpu_mode_for
from cifarctl.data.memory import Split
from cifarctl.inference.model_files import save_trained_model
from cifarctl.recipes.precision import autocast
from cifarctl.recipes.resolution import steps_cost
from cifarctl.training.checkpoint import Checkpoints
from cifarctl.training.context import Context, ResumePolicy
from cifarctl.training.epochs import Epochs
from cifarctl.training.measuring import accuracy
from cifarctl.training.parts import Parts, build_parts
from cifarctl.training.progress import Progress, TrainingDiverged, last_step_position
from cifarctl.training.result import TrainResult
from cifarctl.training.run_files import RunFiles
from cifarctl.training.settings import TrainSettings
from cifarctl.training.start import Run, start_run
from cifarctl.training.state import RunState
from cifarctl.training.time_budget import BudgetClock, TimeBudget, budget_fit_step

__all__ = ["TrainResult", "TrainSettings", "TrainingDiverged", "train", "train_one_epoch"]


def train(settings: TrainSettings, data: Split, files: RunFiles, held_out: Split | None = None,
          policy: ResumePolicy = ResumePolicy(), context: Context = Context()) -> TrainResult:
    """Train, saving the checkpoint every epoch and on a stop request; write the model file at the end.

    `held_out` is what --eval-every measures (the validation split, or the test split). Under
    torchrun every process calls this; only rank 0 writes files, and all stop at the same step.
    """
    # The run: fresh, or continued from its checkpoint (never over another run's checkpoint).
    run = start_run(settings, data, files, policy, context)
    data = data.to(context.device)
    # What it trains with, built for the run's whole length, and what watches over it.
    parts = build_parts(run.settings, context.device, data.images, run.total_steps, context.cluster, context.events)
    state = run.state(parts, data)
    progress = Progress(run, parts, context, held_out.name if held_out is not None else "test")
    checkpoints = Checkpoints(run, parts, progress, context)
    epochs = Epochs(data, parts, run.settings, context.cluster)
    budget = TimeBudget(_budget_clock(run), parts, progress, epochs, context.cluster, step_at_start=state.step)

    # The tutorial's loop: pass after pass over the training set.
    with progress.training(state), cpu_mode_for(context.device.type, run.settings.batch_size, run.settings.threads):
        clock = time.perf_counter()
        while not state.finished:
            parts.at_epoch_start(state.epoch)
            progress.epoch_started(state)
            train_one_epoch(parts, epochs.batches(state), state, checkpoints, budget, progress)
            budget.at_epoch_end(state)
            parts.averaging.at_epoch_end(run_finished=state.finished)
            measured = _held_out_accuracy(parts, held_out, run.settings, state, context)
            progress.epoch_line(state, measured)
            checkpoints.save(state)
            # `tune` reports it (and may prune here)
            context.epoch_ended(last_step_position(state)[0] + 1, state.step / state.total_steps, measured)
        seconds = time.perf_counter() - clock
        checkpoints.stop_if_asked(state, saved=True)  # asked during the last epoch's measuring

    # The trained model: the tutorial's state_dict, or a file that says what it holds.
    if context.cluster.is_main:
        weights = {name: tensor.detach().cpu() for name, tensor in parts.network.state_dict().items()}
        recorded = run.settings_at(state)
        save_trained_model(files.output, parts.info, weights, tta=recorded.recipe.tta, validation=recorded.validation,
                           dataset=recorded.dataset, classes=recorded.classes,
                           made_by={"settings": recorded.as_dict(), "precision": parts.precision,
                                    "steps": state.total_steps, "processes": context.cluster.world_size,
                                    "device": context.device.type})
    return _result(run, parts, state, progress, seconds, context)


def train_one_epoch(parts: Parts, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], state: RunState,
                    checkpoints: Checkpoints, budget: TimeBudget, progress: Progress) -> None:
    """The rest of the current epoch, one mini-batch at a time: the tutorial's step, plus logging."""
    for inputs, labels in batches:
        checkpoints.stop_if_asked(state)  # Ctrl-C, SIGTERM: save the checkpoint and stop

        parts.optimizer.zero_grad()  # zero the parameter gradients
        with autocast(parts.device, parts.precision):  # forward + backward + optimize
            outputs = parts.model(inputs)
            loss = parts.criterion(outputs.float(), labels)
        parts.scaler.scale(loss).backward()
        parts.scaler.step(parts.optimizer)
        parts.scaler.update()
        parts.schedule.step()
        state.step += 1

        budget.after_step(state)  # the first steps of a budgeted run set its length
        parts.averaging.after_step(state.step, state.total_steps)
        progress.after_step(state, loss, outputs, labels)  # print statistics


def _budget_clock(run: Run) -> BudgetClock | None:
    """The clock of a run fitted to --time-budget; None for a run of a given length."""
    settings = run.settings
    if not settings.time_budget or settings.steps is not None:
        return None
    return BudgetClock(settings.time_budget, run.started, budget_fit_step(settings.recipe), run.steps_per_epoch,
                       cost=functools.partial(steps_cost, settings.recipe, full_step_cost=run.full_step_cost))


def _held_out_accuracy(parts: Parts, held_out: Split | None, settings: TrainSettings, state: RunState,
                       context: Context) -> float | None:
    """Accuracy on `held_out` every --eval-every epochs and at the end (rank 0), else None."""
    if held_out is None or not settings.eval_every or not context.cluster.is_main:
        return None
    if (state.step // state.steps_per_epoch) % settings.eval_every and not state.finished:
        return None
    return accuracy(parts.network, held_out, parts.device, (parts.mean, parts.std), False, parts.precision,
                    context.should_stop)


def _result(run: Run, parts: Parts, state: RunState, progress: Progress, seconds: float,
            context: Context) -> TrainResult:
    steps_this_run = state.step - (run.saved["step"] if run.saved is not None else 0)
    world_size = context.cluster.world_size
    return TrainResult(
        settings=run.settings_at(state),  # with the length a time budget fitted
        model=parts.info,
        parameters=parts.parameter_count,
        epochs_run=steps_this_run / run.steps_per_epoch,
        steps=steps_this_run,
        total_steps=state.total_steps,
        planned_epochs=state.total_steps / run.steps_per_epoch,
        final_loss=state.final_loss,
        seconds=seconds,
        images_per_second=state.seen_images_this_run * world_size / seconds if seconds > 0 else 0.0,
        files=run.files,
        resumed_from=divmod(run.saved["step"], run.steps_per_epoch) if run.saved is not None else None,
        processes=world_size,
        precision=parts.precision,
        loss_history=tuple(progress.loss_history),
        test_accuracy=state.test_accuracy,
        evaluated_on=progress.evaluated_on,
    )
