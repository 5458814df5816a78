"""A validation split: a seeded, class-balanced part of the training images held out from training.

Choices made while training (`--eval-every`, and anything that reads its numbers) look at
this split, never at the test split. The split is a pure function of the training images,
its size and its seed, so the model file records only those (and a fingerprint to check
them) and `evaluate --split val` rebuilds the same images.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import torch

from cifarctl.data.memory import Split
from cifarctl.errors import CifarctlError, UsageError

VALIDATION_NAME = "val"


@dataclass(frozen=True)
class ValidationSplit:
    """Which images are held out: how many, with which seed, from how many training images."""

    size: int
    seed: int
    of: int  # the training images it was cut from
    fingerprint: str = ""  # of the held-out labels and indices, to check a rebuilt split

    def as_dict(self) -> dict[str, Any]:
        return {"size": self.size, "seed": self.seed, "of": self.of, "fingerprint": self.fingerprint}

    @classmethod
    def from_dict(cls, document: Any, where: str) -> ValidationSplit:
        try:
            values = {key: document[key] for key in ("size", "seed", "of", "fingerprint")}
            if not all(isinstance(values[key], int) and not isinstance(values[key], bool) and values[key] >= 0
                       for key in ("size", "seed", "of")) or not isinstance(values["fingerprint"], str):
                raise TypeError
        except (TypeError, KeyError):
            raise CifarctlError(f"{where} records a validation split that cannot be read; it is damaged") from None
        return cls(**values)

    def describe(self) -> str:
        return f"{self.size:,} of {self.of:,} training images held out for validation (seed {self.seed})"


def validation_size(text: str, training_images: int, option: str = "--val-split",
                    pool: str = "the training set") -> int:
    """`--val-split` as a count ("5000") or a fraction of the training images ("0.1").

    `option` and `pool` name the option and the images it holds out from in messages
    (the import's `--test-split` holds out from the image folder)."""
    text = text.strip()
    try:
        if text.isdigit():
            size = int(text)
        else:
            fraction = float(text)
            if not 0 < fraction < 1:
                raise ValueError
            size = round(fraction * training_images)
    except ValueError:
        raise UsageError(f"{option} {text!r} is neither a count of images nor a fraction between 0 and 1") from None
    if size < 1:
        raise UsageError(f"{option} {text} holds out no image of {training_images:,}; ask for more")
    if size >= training_images:
        raise UsageError(f"{option} {text} holds out {size:,} images, but {pool} has only "
                         f"{training_images:,}; hold out fewer so some are left to train on")
    return size


def held_out_indices(labels: torch.Tensor, size: int, seed: int, option: str = "--val-split",
                     pool: str = "the training set") -> torch.Tensor:
    """`size` indices, as even over the classes as the counts allow, chosen by `seed`, sorted.

    Each class gives size // classes images, and the classes first in a seeded order give
    one more each for the remainder; which images a class gives is a seeded permutation.
    Every class keeps at least one image: what a small class cannot give, the others give, in
    the same seeded order. `option` and `pool` are for messages.
    """
    generator = torch.Generator().manual_seed(seed % 2**63)
    classes = torch.unique(labels).tolist()
    members = {label: torch.nonzero(labels == label).flatten() for label in classes}
    if size > len(labels) - len(classes):
        raise UsageError(f"{option} holds out {size:,} of the {len(labels):,} images of {pool}, which would leave a "
                         f"class of its {len(classes):,} nothing to train on; hold out fewer")
    share, extra = divmod(size, len(classes))
    order = [classes[index] for index in torch.randperm(len(classes), generator=generator).tolist()]
    wanted = {label: share + (label in order[:extra]) for label in classes}
    short = 0
    for label in classes:
        if wanted[label] >= len(members[label]):
            short += wanted[label] - (len(members[label]) - 1)
            wanted[label] = len(members[label]) - 1
    while short:  # the classes with images to spare give one more each, in the seeded order
        for label in order:
            if short and wanted[label] < len(members[label]) - 1:
                wanted[label] += 1
                short -= 1
    chosen = [members[label][torch.randperm(len(members[label]), generator=generator)[:wanted[label]]]
              for label in classes]
    return torch.cat(chosen).sort().values


def split_off(data: Split, size: int, seed: int) -> tuple[Split, Split, ValidationSplit]:
    """The training images left to train on, the validation images, and the record of the split."""
    held = held_out_indices(data.labels, size, seed)
    keep = torch.ones(len(data), dtype=torch.bool)
    keep[held] = False
    record = ValidationSplit(size=size, seed=seed, of=len(data), fingerprint=_fingerprint(data, held))
    return data.part(data.name, keep), data.part(VALIDATION_NAME, held), record


def rebuild(data: Split, record: ValidationSplit, where: str) -> tuple[Split, Split]:
    """The split a model file records, cut again from `data`; an error when `data` is not what it was cut from."""
    mismatch = (f"{where} was trained with {record.describe()}, but the training set here has a different ")
    if len(data) != record.of:
        raise CifarctlError(mismatch + f"size ({len(data):,} images); use the data dir it was trained on")
    train_part, validation, rebuilt = split_off(data, record.size, record.seed)
    if record.fingerprint and rebuilt.fingerprint != record.fingerprint:
        raise CifarctlError(mismatch + "content; use the data dir it was trained on")
    return train_part, validation


def _fingerprint(data: Split, held: torch.Tensor) -> str:
    digest = hashlib.blake2b(digest_size=8)
    digest.update(held.numpy().astype("int64").tobytes())
    digest.update(data.labels[held].cpu().numpy().astype("int64").tobytes())
    digest.update(data.images[held[:: max(1, len(held) // 256)]].cpu().numpy().tobytes())
    return digest.hexdigest()
