"""Recipes: how a model family is trained, as data the training loop reads.

A `Recipe` names every choice (optimiser and its settings, learning-rate schedule, loss,
augmentation, weight averaging, test-time augmentation); the small modules beside this one
turn those names into torch objects. The registry entry of a family names its recipe
module, which holds one `RECIPE`. Command-line options override single fields.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any

from cifarctl.models.registry import Family

SCHEDULES = ("constant", "onecycle", "triangular")
AUGMENTATIONS = ("none", "crop-flip", "flip-translate")
OPTIMIZERS = ("tutorial-sgd", "sgd")


@dataclass(frozen=True)
class Recipe:
    name: str
    epochs: float  # passes over the training set; may be fractional for very short runs
    batch_size: int
    lr: float  # the peak learning rate of the schedule
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    optimizer: str = "sgd"  # "tutorial-sgd": cifarctl.sgd.MomentumSGD; "sgd": torch.optim.SGD
    schedule: str = "constant"  # per step; see cifarctl.recipes.schedules
    warmup: float = 0.0  # fraction of the steps spent rising to the peak learning rate
    flat_steps: int = 0  # steps at the starting rate first: timed to fit --time-budget
    augment: str = "none"  # batched on the device; see cifarctl.recipes.augment
    ema: float = 0.0  # decay of an exponential moving average of the weights (0: none)
    precision: str = "fp32"  # auto picks bf16 where the hardware does it natively
    tta: bool = False  # predict with test-time augmentation (the image and its mirror) by default
    epoch_report: bool = False  # a line per epoch with train loss/accuracy and learning rate
    log_every: int = 2000  # the tutorial's running-loss line every N mini-batches

    def replace(self, **changes: Any) -> Recipe:
        given = {name: value for name, value in changes.items() if value is not None}
        return dataclasses.replace(self, **given)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def recipe_for(family: Family) -> Recipe:
    return importlib.import_module(family.recipe).RECIPE
