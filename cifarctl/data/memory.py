"""A dataset in memory as uint8 tensors, and the whole-batch operations on them.

Nothing here touches one image at a time in Python: normalising, shuffling and slicing
are tensor operations on whole batches, on whatever device the tensors live.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils.data import WeightedRandomSampler

from cifarctl.data.catalog import CIFAR10_CLASSES, Classes, Place
from cifarctl.data.store import load_labelled

# The tutorial's transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)): pixels to [-1, 1].
TUTORIAL_MEAN = (0.5, 0.5, 0.5)
TUTORIAL_STD = (0.5, 0.5, 0.5)


@dataclass
class Split:
    name: str
    images: torch.Tensor  # (N, 3, 32, 32) uint8
    labels: torch.Tensor  # (N,) int64
    classes: Classes = field(default=CIFAR10_CLASSES)

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> Split:
        return Split(self.name, self.images.to(device), self.labels.to(device), self.classes)

    def part(self, name: str, selection: torch.Tensor) -> Split:
        """The images chosen by an index or mask, as a split of the same classes."""
        return Split(name, self.images[selection], self.labels[selection], self.classes)


def load_split(place: Place, split: str) -> Split:
    (images, labels), classes = load_labelled(place, split)
    return Split(split, torch.from_numpy(images), torch.from_numpy(labels), classes)


def normalize(images: torch.Tensor, mean=TUTORIAL_MEAN, std=TUTORIAL_STD, dtype=torch.float32) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float, as ToTensor() then Normalize(mean, std) would give."""
    mean_t = torch.tensor(mean, dtype=dtype, device=images.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=dtype, device=images.device).view(1, -1, 1, 1)
    return (images.to(dtype) / 255.0 - mean_t) / std_t


def epoch_permutation(count: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of one epoch; the same (seed, epoch) always gives the same order."""
    generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    return torch.randperm(count, generator=generator)


def balanced_epoch_order(labels: torch.Tensor, classes: int, seed: int, epoch: int) -> torch.Tensor:
    """One epoch's order that draws every class equally often: as many draws as images, with
    replacement, each image weighted by one over its class's count (torch's WeightedRandomSampler).
    An epoch is as long as a shuffled one; the same (seed, epoch) always gives the same order."""
    labels = labels.cpu()
    weights = (1.0 / torch.bincount(labels, minlength=classes).double())[labels]
    generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    return torch.tensor(list(WeightedRandomSampler(weights, len(labels), generator=generator)), dtype=torch.int64)


def epoch_seed(seed: int, epoch: int) -> int:
    """The generator seed of one epoch, for any seed however large.

    The modulo keeps it within the signed 64 bits torch accepts, and leaves every seed that
    fitted before unchanged, so earlier runs and checkpoints shuffle as they did.
    """
    return (seed * 100_003 + epoch) % 2**63
