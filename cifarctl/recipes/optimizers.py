"""The optimiser a recipe names, with its parameter groups.

A family may split its parameters itself (its `param_groups` hook, e.g. to give batch-norm
shifts their own learning rate); otherwise (`standard_param_groups`, the hook's default) weight
decay applies to weights with more than one dimension and not to biases or batch-norm
parameters, as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.nn as nn

from cifarctl.recipes import Recipe


def standard_param_groups(model: nn.Module, lr: float, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weights with more than one dimension, none on biases and batch-norm
    parameters. Both groups take the optimiser's rate: `lr` is there because the
    `param_groups` hook that this is the default of takes it."""
    decayed = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    plain = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def parameter_groups(model: nn.Module, recipe: Recipe, own: Callable[..., list] | None = None) -> list[dict[str, Any]]:
    return (own or standard_param_groups)(model, recipe.lr, recipe.weight_decay)


def make_optimizer(model: nn.Module, recipe: Recipe, own_groups: Callable[..., list] | None = None):
    if recipe.optimizer == "tutorial-sgd":
        from cifarctl.recipes.sgd import MomentumSGD

        return MomentumSGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum)
    if recipe.optimizer == "sgd":
        import torch.optim

        return torch.optim.SGD(parameter_groups(model, recipe, own_groups), lr=recipe.lr, momentum=recipe.momentum,
                               nesterov=recipe.nesterov and recipe.momentum > 0)
    raise ValueError(f"unknown optimiser {recipe.optimizer!r}")
