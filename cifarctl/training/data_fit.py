"""Fitting a run to its data: the batch of a small folder, the sampling or class weights of an imbalanced one.

A recipe's batch is tuned for CIFAR-10's 40,000-50,000 images; a 720-image folder at the fast
recipe's 256 gets two steps an epoch and, dropping the short last batch, leaves 29 % of its
images out of every epoch. Without `--batch-size` the batch is halved until an epoch has
MIN_STEPS_PER_EPOCH steps (and, without `--lr`, the rate with it: the linear scaling rule, which
keeps the fast recipe's weight decay per image too). On an imbalanced folder (the largest class
over 3x the smallest) `--sampling auto` draws every class equally often; `--class-weights`
weights the loss instead, by inverse class frequency (`auto`) or by the weights a file gives.
docs/benchmarks.md has what each buys: sampling more.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from cifarctl.data.class_balance import AUTO, BALANCED, NONE, Balance, class_weights, sampling_for
from cifarctl.data.memory import Split
from cifarctl.models import registry
from cifarctl.training.settings import TrainSettings

MIN_STEPS_PER_EPOCH = 8  # at 256, a 720-image folder gets 2 steps an epoch and leaves 29 % of it out
MIN_FITTED_BATCH = 16
REPORTED_DROP = 0.01  # a share of the images left out of every epoch worth saying in the first line


@dataclass(frozen=True)
class DataFit:
    """What the command left to the data: the batch (no --batch-size), the rate with it (no
    --lr), the class weights (`--class-weights`: auto, none, or a file) and the sampling
    (`--sampling`: auto, balanced or shuffle)."""

    batch: bool = False
    lr: bool = False
    class_weights: str = NONE
    sampling: str = AUTO


def fit_to_data(settings: TrainSettings, data: Split, processes: int, fit: DataFit) -> TrainSettings:
    """`settings` with the batch, class weights and sampling this data calls for (the same for a resume of it)."""
    settings = _fitted_batch(settings, len(data), processes, fit)
    balance = balance_of_split(data)
    weights = class_weights(fit.class_weights, balance)
    return dataclasses.replace(settings, class_weights=weights, sampling=sampling_for(fit.sampling, balance, weights))


def balance_of_split(data: Split) -> Balance:
    counts = torch.bincount(data.labels.cpu(), minlength=len(data.classes)).tolist()
    return Balance(tuple(counts), tuple(data.classes.names))


def _fitted_batch(settings: TrainSettings, images: int, processes: int, fit: DataFit) -> TrainSettings:
    batch = settings.batch_size
    if not fit.batch:
        return settings
    while batch // 2 >= MIN_FITTED_BATCH and images // (batch * processes) < MIN_STEPS_PER_EPOCH:
        batch //= 2
    if batch == settings.batch_size:
        return settings
    recipe = settings.recipe.replace(batch_size=batch)
    if fit.lr:
        recipe = recipe.replace(lr=settings.recipe.lr * batch / settings.batch_size)
    return dataclasses.replace(settings, recipe=recipe, batch_fitted_from=settings.batch_size)


def batch_note(settings: TrainSettings, images: int, processes: int) -> str:
    """What the first line says of the batch and the data: `batch fitted to 720 images (11 steps an
    epoch, 16 images left out of each; the recipe's 256 gave 2 steps and left out 29 %)`, or what a
    batch leaves out of each epoch when that is over 1 % of the images; "" when there is nothing to say."""
    recipe = settings.recipe
    steps = recipe.steps_per_epoch(images, processes)
    left_out = max(0, images - steps * recipe.batch_size * processes) if recipe.drop_last else 0
    was = settings.batch_fitted_from
    if was is not None:
        old_steps = recipe.replace(batch_size=was).steps_per_epoch(images, processes)
        old_left = max(0, images - old_steps * was * processes) if recipe.drop_last else 0
        left = f", {left_out:,} image{'s' if left_out != 1 else ''} left out of each" if left_out else ""
        old = f" and left out {100 * old_left / images:.0f} %" if old_left else ""
        scaled = math.isclose(recipe.lr, registry.get(settings.model).recipe.lr * recipe.batch_size / was)
        return (f"batch {'and lr ' if scaled else ''}fitted to {images:,} images ({steps} steps an epoch{left}; "
                f"the recipe's batch {was} gave {old_steps} step{'s' if old_steps != 1 else ''}{old})")
    if left_out and left_out >= REPORTED_DROP * images:
        return f"{left_out:,} of {images:,} images left out of each epoch ({steps} step{'s' if steps != 1 else ''})"
    return ""


def loss_weights(settings: TrainSettings, device: torch.device) -> torch.Tensor | None:
    """The loss's per-class weights (None: every class weighs the same)."""
    if settings.class_weights is None:
        return None
    return torch.tensor(settings.class_weights["weights"], dtype=torch.float32, device=device)


def describe_balancing(settings: TrainSettings) -> str:
    """What corrects an imbalance, for the first lines: `every class drawn equally often
    (--sampling balanced)` and/or `class weights 0.55-5.5 (inverse class frequency, --class-weights auto)`."""
    drawn = "every class drawn equally often (--sampling balanced)" if settings.sampling == BALANCED else ""
    return ", ".join(part for part in (drawn, _describe_weights(settings)) if part)


def _describe_weights(settings: TrainSettings) -> str:
    record = settings.class_weights
    if record is None:
        return ""
    weights = record["weights"]
    source = "inverse class frequency, --class-weights auto" if record["source"] == AUTO \
        else f"from {record.get('file')}"
    return f"class weights {min(weights):.3g}-{max(weights):.3g} ({source})"
