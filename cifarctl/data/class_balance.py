"""How evenly a dataset's training images spread over its classes, and what train does about it.

The import report names the largest and smallest class. When the largest class has more than
`IMBALANCE_RATIO` times the smallest's images, `train --sampling auto` draws every class equally
often; `--class-weights auto` would weight the loss by inverse class frequency instead, which
the measurement in docs/benchmarks.md ("Small and imbalanced folders") puts behind sampling.
The weights a file gives (`--class-weights FILE`) are read here too, so the options' checks
import no torch: counts and weights are plain numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cifarctl.errors import CifarctlError, UsageError
from cifarctl.input_files import read_regular_file
from cifarctl.json_documents import load_json

IMBALANCE_RATIO = 3.0  # largest / smallest class above which the `auto` choices act
AUTO, NONE = "auto", "none"  # --class-weights' words; anything else names a file
BALANCED, SHUFFLE = "balanced", "shuffle"  # --sampling's choices besides auto
SAMPLINGS = (AUTO, BALANCED, SHUFFLE)
MAX_WEIGHTS_FILE = 1 << 20
MAX_WEIGHT = 1e6


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
        """Over IMBALANCE_RATIO: what `--sampling auto` and `--class-weights auto` act on."""
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
            return (f"imbalanced: {self.describe()}; train draws every class equally often (--sampling auto; "
                    "--sampling shuffle turns it off) and reports macro-F1 and per-class recall at the end")
        if len(set(self.counts)) == 1:
            return f"every class has {self.counts[0]:,} training images"
        return (f"balanced enough: {self.describe()}; train shuffles as the tutorial does (--sampling auto "
                f"balances above {IMBALANCE_RATIO:g}x)")

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


# --- --sampling ---------------------------------------------------------------------------
def sampling_for(choice: str, balance: Balance, weights: dict[str, Any] | None) -> str:
    """How each epoch draws its images: `balanced` (every class equally often) or `shuffle`
    (every image once, as the tutorial's DataLoader(shuffle=True)). `auto` balances imbalanced
    data, unless class weights already correct the imbalance in the loss."""
    if choice != AUTO:
        return choice
    return BALANCED if balance.imbalanced and weights is None else SHUFFLE


# --- --class-weights ---------------------------------------------------------------------
def check_class_weights_option(value: str) -> str:
    """`--class-weights auto|none|FILE`: a file must exist and hold numbers (read again with the data)."""
    if value in (AUTO, NONE):
        return value
    read_weights_file(Path(value))
    return value


def class_weights(choice: str, balance: Balance) -> dict[str, Any] | None:
    """What the loss weights by, as recorded in the settings: None (no weights), or the source
    (`auto`, or the file) and one weight per class."""
    if choice == NONE or (choice == AUTO and not balance.imbalanced):
        return None
    if choice == AUTO:
        weights = balance.inverse_frequency()
        return {"source": AUTO, "weights": [round(weight, 6) for weight in weights]}
    given = read_weights_file(Path(choice))
    return {"source": "file", "file": choice, "weights": _in_class_order(given, balance.names, choice)}


def read_weights_file(path: Path) -> list[float] | dict[str, float]:
    """A JSON list (one number per class, in label order) or object (class name -> number), or
    plain text: numbers separated by spaces, commas or lines."""
    what = "--class-weights"
    try:
        text = read_regular_file(path, what, MAX_WEIGHTS_FILE).decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: no such file; give auto, none, or a file of one weight per class"
                         ) from None
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path} is not text; give a JSON list or object, or numbers separated by "
                         "spaces") from None
    except CifarctlError as error:
        raise UsageError(str(error)) from None
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        try:
            document = load_json(stripped)
        except ValueError as error:
            raise UsageError(f"{what} {path} is not valid JSON ({error})") from None
    else:
        document = [word for word in re.split(r"[\s,]+", stripped) if word]
    if isinstance(document, dict):
        return {str(name): _weight(value, path, str(name)) for name, value in document.items()}
    if not isinstance(document, list) or not document:
        raise UsageError(f"{what} {path} holds no weights; give one number per class")
    return [_weight(value, path, f"number {index + 1}") for index, value in enumerate(document)]


def _weight(value: Any, path: Path, where: str) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not 0 <= number <= MAX_WEIGHT:
        raise UsageError(f"--class-weights {path}: {where} is {str(value)[:40]!r}, not a weight in "
                         f"0..{MAX_WEIGHT:g}")
    return number


def _in_class_order(given: list[float] | dict[str, float], names: tuple[str, ...], file: str) -> list[float]:
    if isinstance(given, list):
        if len(given) != len(names):
            raise UsageError(f"--class-weights {file} has {len(given)} weights, but the dataset has "
                             f"{len(names)} classes; give one weight per class, in label order")
        weights = given
    else:
        missing = [name for name in names if name not in given]
        unknown = [name for name in given if name not in names]
        if missing or unknown:
            wrong = f"names no class {unknown[0]!r}" if unknown else f"has no weight for {missing[0]!r}"
            raise UsageError(f"--class-weights {file} {wrong}; the dataset has {len(names)} classes "
                             f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})")
        weights = [given[name] for name in names]
    if not any(weights):
        raise UsageError(f"--class-weights {file} weights every class 0; give at least one a positive weight")
    return [float(weight) for weight in weights]
