"""The torch objects one run trains with, built complete from its settings and length.

`build_parts` makes, in order: the model (with the family's `prepare` hook, e.g. whitening
filters from the training images), the optimiser (with the family's parameter groups), the
schedule over the run's whole length, weight averaging, the loss and the number format. The
training loop uses them; `cifarctl.training.checkpoint` saves and restores them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from cifarctl.cpu_threads import uses_small_batch_mode
from cifarctl.data.memory import normalize
from cifarctl.models import ModelInfo, build_model, count_parameters, hooks_of
from cifarctl.recipes import Recipe
from cifarctl.recipes.augment import augment_epoch
from cifarctl.recipes.averaging import Lookahead
from cifarctl.recipes.optimizers import make_optimizer
from cifarctl.recipes.precision import resolve_precision
from cifarctl.recipes.schedules import make_scheduler
from cifarctl.training.distributed import Cluster
from cifarctl.training.settings import TrainSettings


@dataclass
class Parts:
    info: ModelInfo
    recipe: Recipe
    device: torch.device
    model: nn.Module  # what a step calls: the network, or its DistributedDataParallel wrapper
    network: nn.Module  # the network itself, whose weights are saved
    optimizer: Any  # a torch.optim optimiser, or the tutorial's MomentumSGD
    scheduler: torch.optim.lr_scheduler.LambdaLR | None  # None for a constant rate
    lookahead: Lookahead | None
    scaler: torch.amp.GradScaler | None  # fp16 only
    criterion: nn.Module
    precision: str  # fp32, bf16 or fp16, resolved for the device
    memory_format: torch.memory_format
    mean: tuple[float, ...]
    std: tuple[float, ...]
    freeze_stem: Callable[[nn.Module], None] | None

    @property
    def parameter_count(self) -> int:
        return count_parameters(self.network)

    def learning_rate(self) -> float:
        groups = getattr(self.optimizer, "param_groups", None)
        return float(groups[0]["lr"]) if groups else float(self.optimizer.lr)

    def normalized(self, images: torch.Tensor) -> torch.Tensor:
        return normalize(images, self.mean, self.std).contiguous(memory_format=self.memory_format)

    def epoch_inputs(self, images: torch.Tensor, seed: int, epoch: int) -> torch.Tensor:
        """The whole training set for one epoch, augmented from (seed, epoch) alone and normalised."""
        return self.normalized(augment_epoch(images, self.recipe.augment, seed, epoch))

    def synchronize(self) -> None:
        """Wait for the device's queued work, so a clock read measures it."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def build_parts(settings: TrainSettings, device: torch.device, images: torch.Tensor, total_steps: int,
                cluster: Cluster | None = None) -> Parts:
    recipe, info = settings.recipe, ModelInfo(settings.model, settings.options, len(settings.classes))
    family = info.family
    # channels-last convolutions are faster on GPUs and for oneDNN's CPU kernels; tiny CPU
    # batches use PyTorch's plain convolution, which wants the usual layout.
    tiny_cpu_batches = uses_small_batch_mode(device.type, settings.batch_size)
    memory_format = torch.contiguous_format if tiny_cpu_batches else torch.channels_last
    mean, std = family.normalization
    torch.manual_seed(settings.seed)
    network = build_model(info).to(device, memory_format=memory_format)
    hooks = hooks_of(family)
    hooks.prepare(network, images)  # the family's prepare hook sees them normalised
    model = network
    if cluster is not None:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = make_optimizer(network, recipe, hooks.param_groups)
    precision = resolve_precision(settings.precision, device)
    # Alone: the batch mean, as the tutorial. Under DDP, which averages gradients over ranks:
    # each rank's sum, scaled in the step so the average is the mean over the global batch.
    criterion = nn.CrossEntropyLoss(reduction="mean" if cluster is None else "sum",
                                    label_smoothing=recipe.label_smoothing)
    return Parts(
        info=info, recipe=recipe, device=device, model=model, network=network, optimizer=optimizer,
        scheduler=make_scheduler(optimizer, recipe, total_steps),
        lookahead=Lookahead(network, recipe.lookahead, recipe.flat_steps) if recipe.lookahead else None,
        scaler=torch.amp.GradScaler(device.type) if precision == "fp16" else None,
        criterion=criterion, precision=precision, memory_format=memory_format, mean=mean, std=std,
        freeze_stem=hooks.freeze_stem if recipe.freeze_stem_after else None,
    )


PROBE_STEPS = 3


def seconds_per_step(settings: TrainSettings, device: torch.device, images: torch.Tensor,
                     labels: torch.Tensor) -> float:
    """A training step's time for `settings` on this machine: PROBE_STEPS steps on the first
    batch after one untimed step (allocations, kernel choice). The weights are thrown away."""
    import time

    from cifarctl.recipes.precision import autocast

    batch = slice(0, min(len(labels), settings.batch_size))
    parts = build_parts(settings, device, images[batch], total_steps=PROBE_STEPS + 1)
    inputs, targets = parts.normalized(images[batch]), labels[batch]
    for step in range(PROBE_STEPS + 1):
        if step == 1:
            parts.synchronize()
            started = time.perf_counter()
        parts.optimizer.zero_grad()
        with autocast(device, parts.precision):
            loss = parts.criterion(parts.model(inputs).float(), targets)
        loss.backward()
        parts.optimizer.step()
    parts.synchronize()
    return (time.perf_counter() - started) / PROBE_STEPS
