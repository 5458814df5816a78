"""An epoch's mini-batches, as the tutorial's `DataLoader(shuffle=True)` gives them, from tensors in memory.

Each epoch is a seeded permutation of the training set cut into mini-batches in order, with
the recipe's augmentation applied to the whole epoch at once; (seed, epoch) alone decide
both, so a run resumed in the middle of an epoch sees exactly the batches it would have.
With balanced sampling (an imbalanced folder) every class takes an equal share of the
epoch's places instead, from the same (seed, epoch). A recipe with a low-resolution start
gets its first steps' batches downsized.
Under torchrun every process takes its share of each global batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch

from cifarctl.data.class_balance import BALANCED
from cifarctl.data.memory import Split, balanced_epoch_order, epoch_permutation
from cifarctl.recipes.resolution import sized, step_size
from cifarctl.training.distributed import Cluster
from cifarctl.training.parts import Parts
from cifarctl.training.settings import TrainSettings
from cifarctl.training.state import RunState


class Epochs:
    def __init__(self, data: Split, parts: Parts, settings: TrainSettings, cluster: Cluster) -> None:
        self.images, self.labels = data.images.to(parts.device), data.labels.to(parts.device)
        self.parts, self.seed, self.cluster = parts, settings.seed, cluster
        self.balanced, self.classes = settings.sampling == BALANCED, len(data.classes)
        self.global_batch = parts.recipe.batch_size * cluster.world_size
        self.prepare_seconds = 0.0  # what the last epoch's augmentation and shuffle cost

    def batches(self, state: RunState) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This process's (images, labels) for each remaining step of the current epoch; it ends
        with the epoch or with the run (whose length a time budget may change meanwhile)."""
        epoch = state.epoch
        started = time.perf_counter()
        inputs = self.parts.epoch_inputs(self.images, self.seed, epoch)
        order = self.order(epoch).to(self.parts.device)
        self.prepare_seconds = time.perf_counter() - started
        recipe = self.parts.recipe
        while not state.finished and state.epoch == epoch:
            start = state.in_epoch * self.global_batch
            batch = order[start: start + self.global_batch].tensor_split(self.cluster.world_size)[self.cluster.rank]
            yield sized(inputs[batch], step_size(recipe, state.step, state.total_steps)), self.labels[batch]

    def order(self, epoch: int) -> torch.Tensor:
        """Which image each place of the epoch takes: the tutorial's shuffle, or balanced draws."""
        if self.balanced:
            return balanced_epoch_order(self.labels, self.classes, self.seed, epoch)
        return epoch_permutation(len(self.labels), self.seed, epoch)
