"""A dataset in memory as uint8 tensors, and the whole-batch operations on them.

Nothing here touches one image at a time in Python: normalising, shuffling and slicing
are tensor operations on whole batches, on whatever device the tensors live.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

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
    """One epoch's order that shows every class equally often, as long as a shuffled epoch.

    Each class present gets an equal share of the epoch's places (the few left over go one each
    to classes chosen by the epoch's seed), filled from the class's own running sequence of
    seeded permutations of its images: a small class's images come round many times an epoch,
    each as often as the others, and a large class's come round once over several epochs,
    without replacement. Drawing with replacement (torch's WeightedRandomSampler) repeats some
    images and misses others: 1 point of macro-F1 and 7 of the worst class's recall behind
    (docs/benchmarks.md).
    The same (seed, epoch) always gives the same order.
    """
    labels = labels.cpu()
    present = torch.nonzero(torch.bincount(labels, minlength=classes)).flatten().tolist()
    share, left_over = divmod(len(labels), len(present))
    generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    extra = set(torch.randperm(len(present), generator=generator)[:left_over].tolist())
    places = [_running_permutation(torch.nonzero(labels == label).flatten(), seed, label, epoch * share,
                                   share + (index in extra))
              for index, label in enumerate(present)]
    chosen = torch.cat(places)
    return chosen[epoch_permutation(len(chosen), seed, epoch)]


def _running_permutation(members: torch.Tensor, seed: int, label: int, start: int, count: int) -> torch.Tensor:
    """Places start..start+count of the endless sequence of seeded permutations of `members`."""
    size = len(members)
    first, last = start // size, (start + count - 1) // size
    rounds = [members[torch.randperm(size, generator=torch.Generator().manual_seed(
        epoch_seed(seed * 1_000_003 + label, round_number)))] for round_number in range(first, last + 1)]
    offset = start - first * size
    return torch.cat(rounds)[offset: offset + count]


def epoch_seed(seed: int, epoch: int) -> int:
    """The generator seed of one epoch, for any seed however large.

    The modulo keeps it within the signed 64 bits torch accepts, and leaves every seed that
    fitted before unchanged, so earlier runs and checkpoints shuffle as they did.
    """
    return (seed * 100_003 + epoch) % 2**63
