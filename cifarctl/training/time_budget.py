"""Fitting a run's length to a time budget, from the speed measured as it runs.

The recipe's schedule holds the learning rate flat for its first `flat_steps` steps; those
steps are timed and the run's length fitted from them, so a run that keeps that speed is
exactly the run `--steps N` gives. The budget counts from process start (imports, data,
model) to the saved model file. At every whole epoch's end the projection is checked again;
if the machine slowed down or sped up (another process took or left the CPU) so much that
the run would end more than REFIT_TOLERANCE away from the budget, the rest of the schedule
is stretched or squeezed to the new length (its flat start is long past, so only the
remaining steps change), and the run says it is no longer repeated exactly by `--steps`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from cifarctl.errors import UsageError
from cifarctl.training.distributed import broadcast

WARMUP_STEPS_NOT_TIMED = 2  # the first steps pay one-off costs (allocations, kernel choice)
SAVE_RESERVE_S = 0.5  # writing the model file after the last step
TARGET = 0.985  # aim a little under the budget: the last epoch's save and exit are not timed
REFIT_TOLERANCE = 0.02  # re-fit at an epoch's end when the projected end is further off than this
CONSTANT_RATE_FIT_STEP = 10

StepCost = Callable[[int, int, int], float]  # (first, last, total_steps) -> cost of steps first..last-1


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


def steps_alike(first: int, last: int, total_steps: int) -> float:
    """The cost of steps first..last-1 when every step costs the same: their count."""
    return float(max(0, last - first))


def fitted_steps(budget_s: float, elapsed_s: float, steps_done: int, seconds_per_unit: float,
                 steps_per_epoch: int, seconds_per_epoch_start: float, minimum: int,
                 cost: StepCost = steps_alike) -> int:
    """How many steps in all fit in TARGET x `budget_s`, given `elapsed_s` spent on `steps_done`:
    the largest total whose remaining steps, weighed by `cost` (in timed steps, see
    recipes.resolution) at `seconds_per_unit`, and epoch starts fit in what is left."""
    left = TARGET * budget_s - elapsed_s - SAVE_RESERVE_S

    def seconds(total: int) -> float:
        return (cost(steps_done, total, total) * seconds_per_unit
                + (total - steps_done) * seconds_per_epoch_start / steps_per_epoch)

    if left <= 0 or seconds_per_unit <= 0 or seconds(steps_done + 1) > left:
        return max(minimum, steps_done)
    low, high = steps_done + 1, steps_done + 2
    while seconds(high) <= left:  # the cost grows with every step added: search the largest that fits
        low, high = high, 2 * high - steps_done
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if seconds(middle) <= left else (low, middle)
    return max(minimum, low)


@dataclass
class BudgetClock:
    """Times a budgeted run and says when (and to what) to fit its length."""

    budget_s: float
    started: float  # perf_counter() at process start
    fit_at: int  # the step at which the first fit is made (the end of the flat start)
    steps_per_epoch: int
    timed_from: tuple[int, float] | None = None  # (step, time) where the flat-start timing began
    epoch_from: tuple[int, float] | None = None  # (step, time) at the last epoch boundary
    epoch_start_s: float = 0.0  # what preparing an epoch's inputs costs
    cost: StepCost = steps_alike  # what steps cost, in timed steps (a low-resolution start costs less)
    fitted: bool = False  # the first fit is made
    refitted: bool = False  # a later one changed the length

    def first_fit(self, step: int, steps_this_run: int, now: float) -> tuple[int, float] | None:
        """At the flat start's end: the run's total steps and the measured seconds per step."""
        start_timing_at = min(WARMUP_STEPS_NOT_TIMED, self.fit_at - 1)
        if steps_this_run == start_timing_at:
            self.timed_from = (step, now)
        if step != self.fit_at or self.timed_from is None:
            return None
        per_step = (now - self.timed_from[1]) / max(1.0, self.cost(self.timed_from[0], step, step))
        total = fitted_steps(self.budget_s, now - self.started, step, per_step, self.steps_per_epoch,
                             self.epoch_start_s, self.fit_at, self.cost)
        self.epoch_from = (step, now)
        self.fitted = True
        return total, per_step

    def at_epoch_end(self, step: int, total_steps: int, now: float) -> int | None:
        """A new total when the run, at the speed of its last stretch, would miss the budget by
        more than REFIT_TOLERANCE; otherwise None."""
        if self.epoch_from is None or step >= total_steps:
            return None
        done_since = self.cost(self.epoch_from[0], step, total_steps)
        if done_since <= 0:
            return None
        per_unit = (now - self.epoch_from[1]) / done_since  # includes epoch starts and checkpoint saves
        self.epoch_from = (step, now)
        projected = now - self.started + self.cost(step, total_steps, total_steps) * per_unit + SAVE_RESERVE_S
        if abs(projected - TARGET * self.budget_s) <= REFIT_TOLERANCE * self.budget_s:
            return None
        total = fitted_steps(self.budget_s, now - self.started, step, per_unit, self.steps_per_epoch, 0.0, step,
                             self.cost)
        if total == total_steps:
            return None
        self.refitted = True
        return total


class TimeBudget:
    """A budgeted run's length, fitted after its first steps and checked at every epoch's end.

    The loop calls it after every step and epoch whether or not the run has a budget; without
    one (`clock` None) it does nothing.
    """

    def __init__(self, clock: BudgetClock | None, parts, progress, epochs, cluster, step_at_start: int) -> None:
        self.clock, self.parts, self.progress, self.epochs = clock, parts, progress, epochs
        self.cluster, self.step_at_start = cluster, step_at_start

    def after_step(self, state) -> None:
        """During the flat start: time the steps, and at its end fit the run's length."""
        if self.clock is None or self.clock.fitted:
            return
        self.parts.synchronize()
        self.clock.epoch_start_s = self.epochs.prepare_seconds
        now = time.perf_counter()
        fitted = self.clock.first_fit(state.step, state.step - self.step_at_start, now)
        if fitted is not None:
            total, per_step = fitted
            self._set_length(state, total)
            self.progress.budget_fitted(state, per_step)
            smallest = now - self.clock.started + SAVE_RESERVE_S
            if smallest > self.clock.budget_s:
                self.progress.budget_too_small(smallest)

    def at_epoch_end(self, state) -> None:
        """After a whole epoch: re-fit the rest if the speed changed too much to keep the budget."""
        if self.clock is None or state.finished or state.in_epoch != 0:
            return
        self.parts.synchronize()
        total = self.clock.at_epoch_end(state.step, state.total_steps, time.perf_counter())
        if total is not None:
            self._set_length(state, total)
            self.progress.budget_refitted(state)

    def _set_length(self, state, total: int) -> None:
        state.total_steps = broadcast(total, self.cluster)  # every process takes rank 0's length
        state.length_fitted = True
        self.parts.schedule.refit(state.total_steps)
