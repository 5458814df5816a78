"""The torch objects one run trains with, built complete from its settings and length.

`build_parts` makes, in order: the model (with the family's `prepare` hook, e.g. whitening
filters from the training images), the optimiser (with the family's parameter groups), the
schedule over the run's whole length, weight averaging, the loss and the number format.
Every optional part is an object that is always there (a constant rate, no averaging, a
disabled fp16 scaler), so the loop never asks whether a recipe has one.
`cifarctl.training.checkpoint` saves and restores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from cifarctl.compiling import compiled
from cifarctl.cpu_threads import uses_small_batch_mode
from cifarctl.data.memory import normalize
from cifarctl.events import Events
from cifarctl.models import ModelInfo, build_model, count_parameters, hooks_of
from cifarctl.recipes import Recipe
from cifarctl.recipes.augment import augment_epoch
from cifarctl.recipes.averaging import Lookahead, NoAveraging
from cifarctl.recipes.optimizers import make_optimizer
from cifarctl.recipes.precision import resolve_precision
from cifarctl.recipes.schedules import ConstantRate, StepSchedule, make_schedule
from cifarctl.training.distributed import ALONE, Cluster, wrapped
from cifarctl.training.init_from import start_from
from cifarctl.training.settings import TrainSettings
from cifarctl.training.weighted_loss import make_criterion


@dataclass
class Parts:
    info: ModelInfo
    recipe: Recipe
    device: torch.device
    model: nn.Module  # what a step calls: the network, or its DistributedDataParallel wrapper
    network: nn.Module  # the network itself, whose weights are saved
    optimizer: Any  # a torch.optim optimiser, or the tutorial's MomentumSGD
    schedule: ConstantRate | StepSchedule
    averaging: Lookahead | NoAveraging
    scaler: torch.amp.GradScaler  # enabled for fp16 only; otherwise it passes the loss and the step through
    criterion: nn.Module
    precision: str  # fp32, bf16 or fp16, resolved for the device
    memory_format: torch.memory_format
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def parameter_count(self) -> int:
        return count_parameters(self.network)

    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def normalized(self, images: torch.Tensor) -> torch.Tensor:
        return normalize(images, self.mean, self.std).contiguous(memory_format=self.memory_format)

    def epoch_inputs(self, images: torch.Tensor, seed: int, epoch: int) -> torch.Tensor:
        """The whole training set for one epoch, augmented from (seed, epoch) alone and normalised."""
        return self.normalized(augment_epoch(images, self.recipe.augment, seed, epoch))

    def at_epoch_start(self, epoch: int) -> None:
        """What the recipe changes from one epoch on: the family's stem stops learning."""
        if self.recipe.freeze_stem_after and epoch >= self.recipe.freeze_stem_after:
            hooks_of(self.info.family).freeze_stem(self.network)

    def synchronize(self) -> None:
        """Wait for the device's queued work, so a clock read measures it."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def build_parts(settings: TrainSettings, device: torch.device, images: torch.Tensor, total_steps: int,
                cluster: Cluster = ALONE, events: Events = Events()) -> Parts:
    """The parts for `settings` over `total_steps` steps; `images` (uint8, on `device`) are the
    training images a family's `prepare` hook may learn from."""
    recipe, info = settings.recipe, ModelInfo(settings.model, settings.options, len(settings.classes))
    family = info.family
    # channels-last convolutions are faster on GPUs and for oneDNN's CPU kernels; tiny CPU
    # batches use PyTorch's plain convolution, which wants the usual layout.
    tiny_cpu_batches = uses_small_batch_mode(device.type, settings.batch_size)
    memory_format = torch.contiguous_format if tiny_cpu_batches else torch.channels_last
    mean, std = family.normalization
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes (drop-last recipes): the fastest kernels, once chosen
    torch.manual_seed(settings.seed)
    network = build_model(info).to(device, memory_format=memory_format)
    hooks = hooks_of(family)
    hooks.prepare(network, images)  # the family's prepare hook sees them normalised
    start_from(network, settings)  # --init-from: a trained model's weights (and --freeze-backbone)
    model = wrapped(network, device, cluster)
    if settings.compile:
        model = compiled(model, device.type, events)
    optimizer = make_optimizer(network, recipe, hooks.param_groups)
    precision = resolve_precision(settings.precision, device)
    return Parts(
        info=info, recipe=recipe, device=device, model=model, network=network,
        optimizer=optimizer, schedule=make_schedule(optimizer, recipe, total_steps),
        averaging=Lookahead(network, recipe.lookahead, recipe.flat_steps) if recipe.lookahead else NoAveraging(),
        scaler=torch.amp.GradScaler(device.type, enabled=precision == "fp16"),
        # The batch's mean, as the tutorial's. Under torchrun each process takes the mean of its
        # share and DistributedDataParallel averages the processes' gradients: the global batch's
        # mean whenever the shares are equal (every step but, at most, an epoch's short last one).
        criterion=make_criterion(settings, device),  # the recipe's cross-entropy; --class-weights weight it
        precision=precision, memory_format=memory_format, mean=mean, std=std,
    )
