"""Progressive resizing: which steps see downsized images, what they cost a time budget, and
that a budgeted run with a low-resolution start is repeated exactly by its step count."""

import time

import pytest
import torch

from cifarctl.data.catalog import locate
from cifarctl.data.memory import load_split
from cifarctl.recipes import Recipe
from cifarctl.recipes.resolution import low_res_steps, sized, step_size, steps_cost
from cifarctl.training.context import Context
from cifarctl.training.loop import train
from cifarctl.training.run_files import run_files
from cifarctl.training.settings import TrainSettings

RECIPE = Recipe(name="test", epochs=1, batch_size=8, lr=0.1, flat_steps=8, low_res=16, low_res_share=0.5)


def test_the_first_share_of_the_steps_are_downsized_and_never_fewer_than_the_timed_start():
    assert low_res_steps(RECIPE, 100) == 50 and low_res_steps(RECIPE, 10) == 8  # the flat start, at least
    assert low_res_steps(RECIPE, 5) == 5  # a run shorter than its flat start is all low resolution
    assert [step_size(RECIPE, step, 100) for step in (0, 49, 50, 99)] == [16, 16, 32, 32]
    assert low_res_steps(Recipe(name="full", epochs=1, batch_size=8, lr=0.1, low_res_share=0.5), 100) == 0


def test_a_full_size_step_costs_its_measured_multiple_of_a_low_resolution_one():
    assert steps_cost(RECIPE, 0, 100, 100, full_step_cost=4.0) == 50 + 50 * 4.0
    assert steps_cost(RECIPE, 40, 60, 100, full_step_cost=4.0) == 10 + 10 * 4.0
    assert steps_cost(Recipe(name="plain", epochs=1, batch_size=8, lr=0.1), 0, 100, 100, 4.0) == 100


def test_downsizing_keeps_the_batch_and_its_layout():
    images = torch.randn(4, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    small = sized(images, 16)
    assert small.shape == (4, 3, 16, 16) and small.is_contiguous(memory_format=torch.channels_last)
    assert sized(images, 32) is images
    flat = torch.full((1, 3, 32, 32), 0.25)
    assert torch.allclose(sized(flat, 16), torch.full((1, 3, 16, 16), 0.25))  # averaging, not sampling


def test_a_budgeted_run_with_a_low_resolution_start_is_repeated_exactly_by_its_step_count(data_dir, tmp_path,
                                                                                            monkeypatch):
    """The budget's clock ticks 0.1 s per reading here, so the fitted length does not depend on
    how busy the machine is; the same length given with --steps must give the same weights."""
    import itertools
    import types

    from cifarctl.training import time_budget

    base, ticks = time.perf_counter(), itertools.count()
    monkeypatch.setattr(time_budget, "time", types.SimpleNamespace(perf_counter=lambda: base + 0.1 * next(ticks)))
    monkeypatch.setattr(time_budget, "REFIT_TOLERANCE", float("inf"))
    data = load_split(locate(data_dir), "train")
    common = {"seed": 3, "threads": 1, "batch_size": 16, "low_res": 16, "low_res_share": 0.5}
    budgeted = train(TrainSettings.for_model("fast", {"width": 8}, time_budget=8.0, **common), data,
                     run_files(tmp_path / "budget.pth"), context=Context(started=base))
    steps = budgeted.total_steps
    assert 8 < steps < 100 and budgeted.settings.steps == steps
    train(TrainSettings.for_model("fast", {"width": 8}, steps=steps, **common), data,
          run_files(tmp_path / "steps.pth"))
    first = torch.load(tmp_path / "budget.pth", weights_only=True)["state_dict"]
    second = torch.load(tmp_path / "steps.pth", weights_only=True)["state_dict"]
    assert all(torch.equal(first[name], second[name]) for name in first)


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_the_first_steps_see_downsized_images(data_dir, tmp_path, monkeypatch, share):
    from cifarctl.training import epochs

    seen = []
    real = epochs.sized
    monkeypatch.setattr(epochs, "sized", lambda images, size: seen.append(size) or real(images, size))
    settings = TrainSettings.for_model("fast", {"width": 8}, steps=20, seed=1, batch_size=16, low_res=16,
                                       low_res_share=share)
    train(settings, load_split(locate(data_dir), "train"), run_files(tmp_path / "m.pth"))
    assert seen == ([16] * 10 + [32] * 10 if share else [32] * 20)
