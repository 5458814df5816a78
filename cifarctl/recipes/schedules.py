"""Per-step learning-rate schedules, as torch.optim.lr_scheduler.LambdaLR multipliers.

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


def make_scheduler(optimizer: torch.optim.Optimizer, recipe, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR | None:
    """The scheduler for the recipe's schedule over `total_steps`; None for "constant" (nothing
    to step). A time budget changes the length later through `refit`."""
    if recipe.schedule == "constant":
        return None
    if recipe.schedule == "onecycle":
        multiplier = OneCycle(recipe.warmup)
    elif recipe.schedule == "triangular":
        multiplier = Triangular(recipe.warmup, end=recipe.lr_end)
    else:
        raise ValueError(f"unknown schedule {recipe.schedule!r}")
    multiplier.fit(total_steps, recipe.flat_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)


def refit(scheduler: torch.optim.lr_scheduler.LambdaLR | None, recipe, total_steps: int) -> None:
    """Give a scheduler a new run length (after a time budget measured the speed); the steps
    already taken were in the flat start, which does not depend on the length."""
    if scheduler is not None:
        for multiplier in scheduler.lr_lambdas:
            multiplier.fit(total_steps, recipe.flat_steps)
