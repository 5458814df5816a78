"""Fitting a run's length to a time budget, from the speed measured on its first steps.

The recipe's schedule holds the learning rate flat for its first `flat_steps` steps; those
are the steps timed here, so the fitted run is exactly the run `--steps N` would give.
"""

from __future__ import annotations

import math
import os

from cifarctl.errors import UsageError

WARMUP_STEPS_NOT_TIMED = 2  # the first steps pay one-off costs (allocations, kernel choice)
SAVE_RESERVE_S = 1.0  # writing the model and the last checkpoint
CONSTANT_RATE_FIT_STEP = 10


def budget_fit_step(recipe) -> int:
    """After how many steps the length is fitted: the flat start of the schedule, or for a
    constant learning rate (nothing depends on the length) a few steps in."""
    if recipe.schedule == "constant":
        return CONSTANT_RATE_FIT_STEP
    if recipe.flat_steps < 2:
        raise UsageError(f"--time-budget needs a recipe whose schedule starts flat; the {recipe.name} recipe's "
                         f"{recipe.schedule} schedule depends on its length from the first step (use --epochs)")
    return recipe.flat_steps


def process_age() -> float:
    """Seconds since this process started (Linux), so a budget covers start-up and imports too."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            return max(0.0, float(uptime.read().split()[0]) - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def fitted_steps(budget_s: float, elapsed_s: float, steps_done: int, seconds_per_step: float,
                 steps_per_epoch: int, seconds_per_epoch_start: float, minimum: int) -> int:
    """How many steps in all fit in `budget_s`, given `elapsed_s` spent on `steps_done`."""
    left = budget_s - elapsed_s - SAVE_RESERVE_S
    per_step = seconds_per_step + seconds_per_epoch_start / steps_per_epoch
    more = math.floor(max(0.0, left) / per_step) if per_step > 0 else 0
    return max(minimum, steps_done + more)
