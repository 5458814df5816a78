"""Which size of a family a time budget trains: the largest whose measured speed affords the epochs it needs."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from cifarctl.cpu_threads import cpu_mode_for
from cifarctl.durations import format_duration
from cifarctl.events import Events
from cifarctl.models import ModelInfo
from cifarctl.recipes import Recipe
from cifarctl.recipes.precision import autocast
from cifarctl.recipes.resolution import FULL_SIZE, sized
from cifarctl.training.parts import build_parts
from cifarctl.training.settings import TrainSettings
from cifarctl.training.time_budget import TARGET

PROBE_STEPS = 3


@dataclass(frozen=True)
class StepTimes:
    """A size's measured training step, at full size and at the recipe's low resolution."""

    full: float
    low: float

    @property
    def full_step_cost(self) -> float:
        """A full-size step's cost in low-resolution steps (1 for a recipe without them)."""
        return self.full / self.low if self.low > 0 else 1.0

    def per_epoch(self, recipe: Recipe, steps_per_epoch: int) -> float:
        """An average epoch's seconds, with the recipe's share of steps at low resolution."""
        share = recipe.low_res_share if recipe.low_res < FULL_SIZE else 0.0
        return steps_per_epoch * (share * self.low + (1 - share) * self.full)


def sized_for_budget(settings: TrainSettings, device: torch.device, images: torch.Tensor, labels: torch.Tensor,
                     seconds_left: float, steps_per_epoch: int, events: Events) -> tuple[TrainSettings, StepTimes]:
    """`settings` with the family's size that buys the most accuracy in `seconds_left`, from its
    measured speed, and that size's step times."""
    family = ModelInfo(settings.model).family
    measured: dict[tuple, StepTimes] = {}

    def seconds_per_epoch(options: dict[str, int]) -> float:
        sized = dataclasses.replace(settings, options=family.resolve_options(options))
        measured[tuple(sorted(options.items()))] = step_times(sized, device, images, labels)
        return measured[tuple(sorted(options.items()))].per_epoch(settings.recipe, steps_per_epoch)

    options, epochs = pick_size(family.budget_sizes, seconds_per_epoch, seconds_left)
    times = measured[tuple(sorted(options.items()))]
    options = family.resolve_options(options)
    events.message(f"time budget {format_duration(settings.time_budget)}: {family.describe(options)} "
                   f"(about {epochs:.1f} epochs at its measured speed)")
    return dataclasses.replace(settings, options=options), times


def step_times(settings: TrainSettings, device: torch.device, images: torch.Tensor, labels: torch.Tensor) -> StepTimes:
    """The step's time at full size and, for a recipe with a low-resolution start, at that size."""
    with cpu_mode_for(device.type, settings.batch_size, settings.threads):
        full = seconds_per_step(settings, device, images, labels)
        low_res = settings.recipe.low_res
        low = seconds_per_step(settings, device, images, labels, low_res) if low_res < FULL_SIZE else full
    return StepTimes(full, low)


def seconds_per_step(settings: TrainSettings, device: torch.device, images: torch.Tensor,
                     labels: torch.Tensor, size: int = FULL_SIZE) -> float:
    """A training step's time for `settings` on this machine at `size` pixels: PROBE_STEPS steps
    on the first batch after one untimed step (allocations, kernel choice). The weights are
    thrown away."""
    batch = slice(0, min(len(labels), settings.batch_size))
    parts = build_parts(settings, device, images[batch], total_steps=PROBE_STEPS + 1)
    inputs, targets = sized(parts.normalized(images[batch]), size), labels[batch]
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
    epoch time affords its epochs in `seconds_left`, and the epochs it affords. A size is only
    timed when the last one timed affords its epochs (a larger one is never faster)."""
    affordable = {0: TARGET * seconds_left / seconds_per_epoch(sizes[0][0])}
    chosen = last_timed = 0
    for index, (options, needs) in enumerate(sizes[1:], start=1):
        if affordable[last_timed] < needs:
            break
        affordable[index] = TARGET * seconds_left / seconds_per_epoch(options)
        last_timed = index
        if affordable[index] >= needs:
            chosen = index
    return sizes[chosen][0], affordable[chosen]
