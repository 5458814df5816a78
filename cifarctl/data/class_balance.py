"""How evenly a dataset's training images spread over its classes, and what train does about it.

The import report names the largest and smallest class; `train --class-weights auto` weights
the loss by inverse class frequency when the largest class has more than `IMBALANCE_RATIO`
times the smallest's images (docs/benchmarks.md, "Imbalanced folders", has the measurement
behind the choice). No torch: counts are plain integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

IMBALANCE_RATIO = 3.0  # largest / smallest class above which `--class-weights auto` weights the loss


@dataclass(frozen=True)
class Balance:
    """The training images per class, in label order, with the names they belong to."""

    counts: tuple[int, ...]
    names: tuple[str, ...]

    @property
    def largest(self) -> int:
        return max(range(len(self.counts)), key=lambda index: (self.counts[index], -index))

    @property
    def smallest(self) -> int:
        return min(range(len(self.counts)), key=lambda index: (self.counts[index], index))

    @property
    def ratio(self) -> float:
        """The largest class's images over the smallest's (infinite when a class has none)."""
        low = self.counts[self.smallest]
        return self.counts[self.largest] / low if low else float("inf")

    @property
    def imbalanced(self) -> bool:
        """Over IMBALANCE_RATIO: what `--class-weights auto` acts on."""
        return self.ratio > IMBALANCE_RATIO

    def inverse_frequency(self) -> tuple[float, ...]:
        """scikit-learn's "balanced" weights, images / (classes x the class's images): every class
        then weighs as much in the loss, and the mean weight over the images is 1."""
        total, classes = sum(self.counts), len(self.counts)
        return tuple(total / (classes * count) if count else 0.0 for count in self.counts)

    def describe(self) -> str:
        """`largest class cat 4,000 images, smallest dog 400 (10.0x)`."""
        big, small = self.largest, self.smallest
        return (f"largest class {self.names[big]} {self.counts[big]:,} images, smallest {self.names[small]} "
                f"{self.counts[small]:,} ({self.ratio:.1f}x)")

    def plan(self) -> str:
        """What `train` will do about it, for the import report."""
        if self.imbalanced:
            return (f"imbalanced: {self.describe()}; train weights the loss by inverse class frequency "
                    "(--class-weights auto; --class-weights none turns it off) and reports macro-F1 and "
                    "per-class recall at the end")
        if len(set(self.counts)) == 1:
            return f"every class has {self.counts[0]:,} training images"
        return (f"balanced enough: {self.describe()}; train weights no class (--class-weights auto acts above "
                f"{IMBALANCE_RATIO:g}x)")

    def as_json(self) -> dict:
        big, small = self.largest, self.smallest
        return {"largest": {"class": self.names[big], "images": self.counts[big]},
                "smallest": {"class": self.names[small], "images": self.counts[small]},
                "ratio": round(self.ratio, 4) if self.counts[small] else None, "imbalanced": self.imbalanced}


def balance_of(labels: Sequence[int], names: Sequence[str]) -> Balance:
    """Count `labels` (0..len(names)-1) per class."""
    counts = [0] * len(names)
    for label in labels:
        counts[int(label)] += 1
    return Balance(tuple(counts), tuple(names))
