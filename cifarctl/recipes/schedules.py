"""Per-step learning-rate schedules: torch's LambdaLR with our multipliers, or the tutorial's fixed rate.

Each multiplier is a small object of plain numbers, so the scheduler's state_dict (which
keeps the objects' attributes) goes into a checkpoint and loads with weights_only=True.
"""

from __future__ import annotations

import math

import torch


class OneCycle:
    """Linear warm-up from 1/25 of the peak, then cosine annealing to zero (as OneCycleLR)."""

    def __init__(self, warmup: float) -> None:
        self.warmup = warmup
        self.fit(1)

    def fit(self, total_steps: int, flat_steps: int = 0) -> None:
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = max(1, round(self.warmup * self.total_steps))

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return 0.04 + 0.96 * step / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        return 0.5 * (1 + math.cos(math.pi * progress))


class Triangular:
    """Linear rise from `start` x peak to the peak, then linear fall to `end` x peak: airbench's shape.

    The first `flat_steps` steps stay at the start value, so a run whose length is fitted to
    a time budget after measuring those steps is the same run as one given that length.
    """

    def __init__(self, warmup: float, start: float = 0.2, end: float = 0.0) -> None:
        self.warmup = warmup
        self.start = start
        self.end = end
        self.fit(1)

    def fit(self, total_steps: int, flat_steps: int = 0) -> None:
        self.total_steps = max(1, int(total_steps))
        self.flat_steps = min(int(flat_steps), self.total_steps - 1)
        self.warmup_steps = max(1, round(self.warmup * (self.total_steps - self.flat_steps)))

    def __call__(self, step: int) -> float:
        step -= self.flat_steps
        if step < 0:
            return self.start
        if step < self.warmup_steps:
            return self.start + (1 - self.start) * step / self.warmup_steps
        remaining = self.total_steps - self.flat_steps - self.warmup_steps
        fall = min(1.0, (step - self.warmup_steps) / max(1, remaining))
        return 1 - (1 - self.end) * fall


class ConstantRate:
    """The tutorial's fixed learning rate: nothing to step, refit or save."""

    def step(self) -> None:
        pass

    def refit(self, total_steps: int) -> None:
        pass

    def state_dict(self) -> None:
        return None

    def load_state_dict(self, state: dict | None) -> None:
        pass


class StepSchedule:
    """A per-step multiplier of the optimiser's rates (torch's LambdaLR) over the run's length."""

    def __init__(self, optimizer: torch.optim.Optimizer, multiplier: OneCycle | Triangular, flat_steps: int) -> None:
        self.multiplier = multiplier
        self.flat_steps = flat_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)

    def step(self) -> None:
        self.scheduler.step()

    def refit(self, total_steps: int) -> None:
        """A new run length (a time budget measured the speed); the steps already taken were in
        the flat start, which does not depend on the length."""
        self.multiplier.fit(total_steps, self.flat_steps)

    def state_dict(self) -> dict:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict | None) -> None:
        if state is not None:
            self.scheduler.load_state_dict(state)


def make_schedule(optimizer, recipe, total_steps: int) -> ConstantRate | StepSchedule:
    """The schedule the recipe names, fitted to `total_steps`."""
    if recipe.schedule == "constant":
        return ConstantRate()
    if recipe.schedule == "onecycle":
        multiplier = OneCycle(recipe.warmup)
    elif recipe.schedule == "triangular":
        multiplier = Triangular(recipe.warmup, end=recipe.lr_end)
    else:
        raise ValueError(f"unknown schedule {recipe.schedule!r}")
    multiplier.fit(total_steps, recipe.flat_steps)
    return StepSchedule(optimizer, multiplier, recipe.flat_steps)
