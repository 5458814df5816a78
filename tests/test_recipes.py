"""The recipes' torch pieces: Lookahead averaging, schedules, epoch length."""

import pytest
import torch

from cifarctl.recipes import Recipe
from cifarctl.recipes.averaging import BASE_DECAY, Lookahead
from cifarctl.recipes.schedules import Triangular


def test_lookahead_pulls_towards_a_slow_copy_with_a_growing_decay():
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    lookahead = Lookahead(model, every=5)
    with torch.no_grad():
        model.weight.fill_(1.0)  # the optimiser moved the weights
    lookahead.after_step(4, 100)  # not a multiple of 5: nothing happens
    assert torch.equal(model.weight, torch.ones(1, 2))
    lookahead.after_step(50, 100)
    decay = BASE_DECAY**5 * 0.5**3
    assert torch.allclose(model.weight, torch.full((1, 2), 1 - decay))  # slow 0 moved (1 - decay) of the way to 1
    assert torch.allclose(lookahead.slow[0], model.weight)
    with torch.no_grad():
        model.weight.fill_(3.0)
    lookahead.at_epoch_end(run_finished=True)  # the model takes the slow weights
    assert torch.allclose(model.weight, torch.full((1, 2), 1 - decay))


def test_lookahead_does_nothing_during_the_flat_start_and_restores_exactly():
    model = torch.nn.Linear(3, 2)
    lookahead = Lookahead(model, every=2, flat_steps=8)
    with torch.no_grad():
        model.weight.add_(1.0)
    before = model.weight.detach().clone()
    lookahead.after_step(8, 10)
    assert torch.equal(model.weight, before)
    copy = Lookahead(torch.nn.Linear(3, 2), every=2)
    copy.load_state_dict(lookahead.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(copy.slow, lookahead.slow))
    with pytest.raises(ValueError):
        Lookahead(torch.nn.Linear(4, 2), every=2).load_state_dict(lookahead.state_dict())


def test_the_triangular_schedule_ends_at_its_final_fraction():
    schedule = Triangular(warmup=0.23, end=0.07)
    schedule.fit(108, flat_steps=8)
    assert schedule(0) == 0.2 and schedule(7) == 0.2
    assert max(schedule(step) for step in range(108)) == 1.0
    assert schedule(108) == pytest.approx(0.07)


@pytest.mark.parametrize(("images", "drop_last", "processes", "steps"),
                         [(1000, False, 1, 4), (1000, True, 1, 3), (1024, True, 1, 4), (100, True, 1, 1),
                          (1000, False, 2, 2), (1000, True, 2, 1)])
def test_an_epoch_has_whole_batches_only_when_the_recipe_drops_the_last(images, drop_last, processes, steps):
    recipe = Recipe(name="r", epochs=1, batch_size=256, lr=0.1, drop_last=drop_last)
    assert recipe.steps_per_epoch(images, processes) == steps
