"""Which size of a family a time budget trains: the largest whose measured speed affords the epochs it needs."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import torch

from cifarctl.cpu_threads import cpu_mode_for
from cifarctl.durations import format_duration
from cifarctl.events import Events
from cifarctl.models import ModelInfo
from cifarctl.recipes.precision import autocast
from cifarctl.training.parts import build_parts
from cifarctl.training.settings import TrainSettings
from cifarctl.training.time_budget import TARGET

PROBE_STEPS = 3


def sized_for_budget(settings: TrainSettings, device: torch.device, images: torch.Tensor, labels: torch.Tensor,
                     seconds_left: float, steps_per_epoch: int, events: Events) -> TrainSettings:
    """`settings` with the family's size that buys the most accuracy in `seconds_left`, from its measured speed."""
    family = ModelInfo(settings.model).family

    def seconds_per_epoch(options: dict[str, int]) -> float:
        sized = dataclasses.replace(settings, options=family.resolve_options(options))
        with cpu_mode_for(device.type, settings.batch_size, settings.threads):
            return seconds_per_step(sized, device, images, labels) * steps_per_epoch

    options, epochs = pick_size(family.budget_sizes, seconds_per_epoch, seconds_left)
    options = family.resolve_options(options)
    events.message(f"time budget {format_duration(settings.time_budget)}: {family.describe(options)} "
                   f"(about {epochs:.1f} epochs at its measured speed)")
    return dataclasses.replace(settings, options=options)


def seconds_per_step(settings: TrainSettings, device: torch.device, images: torch.Tensor,
                     labels: torch.Tensor) -> float:
    """A training step's time for `settings` on this machine: PROBE_STEPS steps on the first
    batch after one untimed step (allocations, kernel choice). The weights are thrown away."""
    batch = slice(0, min(len(labels), settings.batch_size))
    parts = build_parts(settings, device, images[batch], total_steps=PROBE_STEPS + 1)
    inputs, targets = parts.normalized(images[batch]), labels[batch]
    for step in range(PROBE_STEPS + 1):
        if step == 1:
            parts.synchronize()
            started = time.perf_counter()
        parts.optimizer.zero_grad()
        with autocast(device, parts.precision):
            loss = parts.criterion(parts.model(inputs).float(), targets)
        loss.backward()
        parts.optimizer.step()
    parts.synchronize()
    return (time.perf_counter() - started) / PROBE_STEPS


def pick_size(sizes: tuple[tuple[dict[str, int], float], ...], seconds_per_epoch: Callable[[dict[str, int]], float],
              seconds_left: float) -> tuple[dict[str, int], float]:
    """The largest of `sizes` (smallest first, each with the epochs it needs) whose measured
    epoch time affords its epochs in `seconds_left`, and the epochs it affords. Larger sizes
    are only timed when the smallest affords their epochs (a larger one is never faster)."""
    smallest = sizes[0][0]
    affordable = {0: TARGET * seconds_left / seconds_per_epoch(smallest)}
    chosen = 0
    for index, (options, needs) in enumerate(sizes[1:], start=1):
        if affordable[0] < needs:
            break
        affordable[index] = TARGET * seconds_left / seconds_per_epoch(options)
        if affordable[index] >= needs:
            chosen = index
    return sizes[chosen][0], affordable[chosen]
