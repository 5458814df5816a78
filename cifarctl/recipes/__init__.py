"""Recipes: how a model family is trained, as plain data the training loop reads.

A `Recipe` names every choice (optimiser and its settings, learning-rate schedule, loss,
augmentation, weight averaging, test-time augmentation); the small modules beside this one
turn those names into torch objects. Each family's registry entry holds its recipe
(`cifarctl.models.registry`); command-line options override single fields. No torch here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # see cifarctl.recipes.precision


@dataclass(frozen=True)
class Recipe:
    name: str
    epochs: float  # passes over the training set; may be fractional for very short runs
    batch_size: int
    lr: float  # the peak learning rate of the schedule
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0  # torch.optim.SGD's: each step shrinks a weight by lr x weight_decay
    label_smoothing: float = 0.0
    optimizer: str = "sgd"  # "tutorial-sgd": cifarctl.recipes.sgd.MomentumSGD; "sgd": torch.optim.SGD
    schedule: str = "constant"  # per step; see cifarctl.recipes.schedules
    warmup: float = 0.0  # fraction of the steps spent rising to the peak learning rate
    lr_end: float = 0.0  # the triangular schedule's last rate, as a fraction of the peak
    flat_steps: int = 0  # steps at the starting rate first: timed to fit --time-budget
    drop_last: bool = False  # skip each epoch's short last batch (its noisy step is not worth its time)
    augment: str = "none"  # batched on the device; see cifarctl.recipes.augment
    low_res: int = 32  # image size (pixels) of the run's first steps: progressive resizing (32: none)
    low_res_share: float = 0.0  # the share of the run's steps trained at `low_res`; see recipes.resolution
    lookahead: int = 0  # every N steps, pull the weights towards a slow average of them (0: never)
    freeze_stem_after: int = 0  # epochs after which the family's stem stops learning (0: it never does)
    precision: str = "fp32"  # auto picks bf16 where the hardware does it natively
    tta: bool = False  # predict with test-time augmentation (the image and its mirror) by default
    epoch_report: bool = False  # a line per epoch with train loss/accuracy and learning rate
    log_every: int = 2000  # the tutorial's running-loss line every N mini-batches

    def replace(self, **changes: Any) -> Recipe:
        given = {name: value for name, value in changes.items() if value is not None}
        return dataclasses.replace(self, **given)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def steps_per_epoch(self, images: int, processes: int = 1) -> int:
        """Mini-batch steps in one pass over `images` training images split over `processes`."""
        global_batch = self.batch_size * processes
        whole, rest = divmod(images, global_batch)
        return max(1, whole) if self.drop_last else whole + (1 if rest else 0)
