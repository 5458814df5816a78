"""Fitting a run to --time-budget: the first fit, re-fits when the machine's speed changes, and
that a budgeted run is repeated exactly by its step count."""

import json
import re

import pytest
import torch

from cifarctl.errors import UsageError
from cifarctl.training.time_budget import SAVE_RESERVE_S, TARGET, BudgetClock, budget_fit_step, fitted_steps


def test_fitted_steps_fill_the_budget_less_a_margin():
    # 10 s used for 8 steps, 0.5 s per step and 1 s per epoch start of 100 steps
    left = TARGET * 100 - 10 - SAVE_RESERVE_S
    assert fitted_steps(100, 10, 8, 0.5, 100, 1.0, minimum=8) == 8 + int(left / 0.51)
    assert fitted_steps(5, 10, 8, 0.5, 100, 1.0, minimum=8) == 8  # over budget already: stop after the measured steps


class SimulatedRun:
    """A run on a machine whose speed we choose, step by step, with BudgetClock deciding its length."""

    def __init__(self, budget: float, steps_per_epoch: int, start_up: float = 2.0) -> None:
        self.now = start_up
        self.clock = BudgetClock(budget, started=0.0, fit_at=8, steps_per_epoch=steps_per_epoch)
        self.total = 10**9
        self.step = 0
        self.refits = 0

    def run(self, seconds_per_step) -> float:
        while self.step < self.total:
            self.now += seconds_per_step(self.step)
            self.step += 1
            if not self.clock.fitted:
                fitted = self.clock.first_fit(self.step, self.step, self.now)
                if fitted is not None:
                    self.total = fitted[0]
            if self.step % self.clock.steps_per_epoch == 0:
                refit = self.clock.at_epoch_end(self.step, self.total, self.now)
                if refit is not None:
                    self.total, self.refits = refit, self.refits + 1
        return self.now + SAVE_RESERVE_S


def test_a_steady_machine_is_fitted_once_and_ends_within_the_budget():
    run = SimulatedRun(budget=100, steps_per_epoch=50)
    end = run.run(lambda step: 0.1)
    assert run.refits == 0
    assert 0.97 * 100 <= end <= 100


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_a_machine_that_slows_down_or_speeds_up_is_refitted_and_keeps_the_budget(factor):
    # Another process takes (or leaves) the CPU after 200 steps: steps take `factor` times as long.
    run = SimulatedRun(budget=100, steps_per_epoch=50)
    end = run.run(lambda step: 0.1 if step < 200 else 0.1 * factor)
    assert run.refits >= 1
    assert 0.97 * 100 <= end <= 1.03 * 100


def test_a_machine_that_stalls_ends_the_run_at_once_rather_than_overrun():
    run = SimulatedRun(budget=100, steps_per_epoch=50)
    end = run.run(lambda step: 0.1 if step < 300 else 2.0)
    assert end <= 1.03 * 100 + 50 * 2.0  # at most the epoch in which it noticed


def test_a_budget_needs_a_schedule_that_starts_flat():
    from cifarctl.models import registry

    assert budget_fit_step(registry.get("fast").recipe) >= 2
    with pytest.raises(UsageError, match="--time-budget"):
        budget_fit_step(registry.get("resnet18").recipe)


def test_a_budget_run_is_repeated_exactly_by_its_step_count(cli, data_dir, tmp_path, monkeypatch):
    import cifarctl.training.time_budget as time_budget

    monkeypatch.setattr(time_budget, "process_age", lambda: 0.0)
    monkeypatch.setenv("CIFARCTL_THREADS", "2")
    monkeypatch.setattr(time_budget, "REFIT_TOLERANCE", float("inf"))  # a tiny run's speed is noisy
    args = ["train", "--model", "fast", "--width", "8", "--batch-size", "16", "--seed", "2", "--json"]
    budgeted = cli(*args, "--time-budget", "6s", "-o", "budget.pth")
    assert budgeted.exit_code == 0, budgeted.stderr
    steps = json.loads(budgeted.stdout)["total_steps"]
    assert f"--steps {steps} --threads 2 repeats this run exactly" in budgeted.stderr
    repeated = cli(*args, "--steps", str(steps), "-o", "steps.pth")
    assert repeated.exit_code == 0, repeated.stderr
    first = torch.load(tmp_path / "budget.pth", weights_only=True)["state_dict"]
    second = torch.load(tmp_path / "steps.pth", weights_only=True)["state_dict"]
    assert all(torch.equal(first[name], second[name]) for name in first)




SIZES = (({"width": 64, "widen": 2}, 0.0), ({"width": 64, "widen": 4}, 10.0))


@pytest.mark.parametrize(("seconds", "expected", "timed"), [
    (100, {"width": 64, "widen": 2}, [2]),  # 100 s / 10 s = 9.85 small epochs < 10: the wide size is not even timed
    (400, {"width": 64, "widen": 2}, [2, 4]),  # the wide size affords 400 / 40 = 9.85 epochs < 10
    (500, {"width": 64, "widen": 4}, [2, 4]),  # 12.3 wide epochs
])
def test_a_budget_picks_the_largest_size_that_affords_its_epochs(seconds, expected, timed):
    asked = []

    def seconds_per_epoch(options):
        asked.append(options["widen"])
        return 10.0 if options["widen"] == 2 else 40.0

    from cifarctl.training.sizing import pick_size

    options, epochs = pick_size(SIZES, seconds_per_epoch, seconds)
    assert options == expected and asked == timed
    assert epochs == pytest.approx(TARGET * seconds / (10.0 if expected["widen"] == 2 else 40.0))


LADDER = (({"width": 16}, 0.0), ({"width": 32}, 1.5), ({"width": 64}, 5.0))


@pytest.mark.parametrize(("seconds", "expected", "timed"), [
    (10, 16, [16, 32]),  # 16 affords 9.85 epochs, so 32 is timed: it affords 1.2 < 1.5
    (100, 32, [16, 32, 64]),  # 32 affords 12.3 epochs: 64 is timed, and affords 3.1 < 5
    (30, 32, [16, 32]),  # 32 affords 3.7 < 5: 64 is not timed, though 16 affords 29.6 >= 5
])
def test_a_size_is_only_timed_when_the_last_size_timed_affords_its_epochs(seconds, expected, timed):
    asked = []

    def seconds_per_epoch(options):
        asked.append(options["width"])
        return {16: 1.0, 32: 8.0, 64: 32.0}[options["width"]]

    from cifarctl.training.sizing import pick_size

    options, _ = pick_size(LADDER, seconds_per_epoch, seconds)
    assert options["width"] == expected and asked == timed


def test_a_budget_says_which_size_it_picked_and_how_to_repeat_it(cli, data_dir, monkeypatch):
    import cifarctl.training.time_budget as time_budget

    monkeypatch.setattr(time_budget, "process_age", lambda: 0.0)
    monkeypatch.setenv("CIFARCTL_THREADS", "2")
    result = cli("train", "--model", "fast", "--batch-size", "16", "--time-budget", "3s", "--seed", "0", "--json")
    assert result.exit_code == 0, result.stderr
    picked = re.search(r"time budget 3s: FastNet \(width (\d+), widen (\d+)\) \(about", result.stderr)
    assert picked, result.stderr  # which size depends on this machine's speed; the repeat line names it
    width, widen = picked.groups()
    assert f"--model-option width={width} --model-option widen={widen} --threads 2 repeats this run exactly" \
        in result.stderr
    assert json.loads(result.stdout)["model"]["widen"] == 2
    given = cli("train", "--model", "fast", "--width", "8", "--batch-size", "16", "--time-budget", "3s", "--seed", "0",
                "-o", "given.pth")
    assert given.exit_code == 0 and "time budget 3s: FastNet" not in given.stderr  # a given size is kept


def test_a_budget_spent_before_training_starts_is_refused(cli, data_dir, monkeypatch):
    import cifarctl.training.time_budget as time_budget

    monkeypatch.setattr(time_budget, "process_age", lambda: 100.0)  # as if start-up had taken 100 s
    result = cli("train", "--model", "fast", "--width", "8", "--batch-size", "16", "--time-budget", "5s")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: --time-budget 5s was spent before training could start (")
    assert "[1," not in result.stderr and "epoch" not in result.stderr


def test_a_budget_too_small_to_keep_says_so_and_stops_after_the_timed_steps(cli, data_dir, monkeypatch):
    """Never an overrun in silence: the run stops after the steps that measure its speed and names
    the smallest budget it could keep here."""
    import cifarctl.training.time_budget as time_budget

    monkeypatch.setattr(time_budget, "process_age", lambda: 0.0)
    monkeypatch.setattr(time_budget, "SAVE_RESERVE_S", 5.0)  # saving alone would outlast the budget
    result = cli("train", "--model", "fast", "--width", "8", "--batch-size", "16", "--time-budget", "3s", "--json")
    assert result.exit_code == 0, result.stderr
    assert "warning: --time-budget 3s is less than this run needs to start and measure its speed here" in result.stderr
    assert "the smallest budget it can keep on this machine" in result.stderr
    from cifarctl.models import registry

    assert json.loads(result.stdout)["total_steps"] == budget_fit_step(registry.get("fast").recipe)
