"""The CIFAR-100 python layout: `train`, `test` and `meta` pickles in one folder.

CIFAR-100's official `cifar-100-python/` uses it, and so do the datasets cifarctl imports
from the user's own image folders: a format that any number of classes fits, that
torchvision's CIFAR100 class parses, and that is documented on the dataset's web page:

    train, test  {"data": (N, 3072) uint8, "fine_labels": [...], "coarse_labels": [...],
                  "filenames": [...], "batch_label": str}
    meta         {"fine_label_names": [...], "coarse_label_names": [...]}

An imported dataset has no superclasses: its `coarse_label_names` is empty and its splits
carry no `coarse_labels`.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from cifarctl.atomic_writes import atomic_write
from cifarctl.data.batches_format import FIX, MAX_BATCH_BYTES, MAX_META_BYTES, class_labels, read_file, short
from cifarctl.data.catalog import (
    IMAGE_BYTES,
    MAX_CLASSES,
    MIN_CLASSES,
    Classes,
    class_name,
    class_name_problem,
    name_key,
)
from cifarctl.data.safe_pickle import load_batch
from cifarctl.errors import CifarctlError, DatasetCorruptError

META_FILE = "meta"
# One data file per split, read back whole with at most MAX_BATCH_BYTES (1 GiB): 3,072 bytes an
# image, and room left for the file names.
MAX_SPLIT_IMAGES = 300_000
SPLITS = {"train": ("train",), "test": ("test",)}
REQUIRED_FILES = ("train", "test", META_FILE)


def _load(path: Path, shown: Path, limit: int, fix: str) -> Any:
    try:
        return load_batch(read_file(path, shown, limit))
    except CifarctlError:
        raise
    except FileNotFoundError:
        raise DatasetCorruptError(f"data file {shown} is missing; {fix}") from None
    except Exception as error:  # any unpickling failure means a damaged or foreign file
        raise DatasetCorruptError(f"data file {shown} is truncated or corrupt ({short(error)}); {fix}") from None


def read_classes(folder: Path, fixed: Classes | None, shown_as: Path | None = None, fix: str = FIX) -> Classes:
    """The classes the meta file lists; for a built-in dataset (`fixed`), they must be its own."""
    shown = (shown_as or folder) / META_FILE
    meta = _load(folder / META_FILE, shown, MAX_META_BYTES, fix)
    names = meta.get("fine_label_names") if isinstance(meta, dict) else None
    coarse = meta.get("coarse_label_names", []) if isinstance(meta, dict) else None
    if not _names(names) or not _names(coarse, allow_empty=True):
        raise DatasetCorruptError(f"data file {shown} does not list the class names; {fix}")
    if fixed is not None:
        if tuple(names) != fixed.names or tuple(coarse) != fixed.superclasses:
            raise DatasetCorruptError(f"data file {shown} lists other classes than the dataset's own; {fix}")
        return fixed
    if not MIN_CLASSES <= len(names) <= MAX_CLASSES or len({name_key(name) for name in names}) != len(names):
        raise DatasetCorruptError(f"data file {shown} lists {len(names):,} class names (or repeats one); "
                                  f"a dataset has {MIN_CLASSES} to {MAX_CLASSES:,} distinct classes; {fix}")
    for name in names:
        problem = class_name_problem(name) or (None if name == class_name(name) else "is not in Unicode's NFC")
        if problem is not None:
            raise DatasetCorruptError(f"data file {shown} lists the class name {name!r}, which {problem}; {fix}")
    return Classes(tuple(names))


def _names(value: Any, allow_empty: bool = False) -> bool:
    return (isinstance(value, list) and (allow_empty or bool(value))
            and all(isinstance(name, str) and 0 < len(name) <= 255 for name in value))


def read_split(folder: Path, split: str, classes: Classes, shown_as: Path | None = None,
               fix: str = FIX) -> tuple[np.ndarray, np.ndarray]:
    """One split's images (N, 3, 32, 32) uint8 and fine labels (N,) int64, validated."""
    (name,) = SPLITS[split]
    shown = (shown_as or folder) / name
    document = _load(folder / name, shown, MAX_BATCH_BYTES, fix)
    if not isinstance(document, dict) or "data" not in document or "fine_labels" not in document:
        raise DatasetCorruptError(f"data file {shown} is not a CIFAR-100-layout data file; {fix}")
    data = document["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        raise DatasetCorruptError(f"data file {shown} does not hold 32x32 RGB uint8 images; {fix}")
    labels = class_labels(document["fine_labels"], len(classes))
    if labels is None:
        raise DatasetCorruptError(f"data file {shown} has labels that are not class numbers "
                                  f"0-{len(classes) - 1}; {fix}")
    if labels.shape != (len(data),):
        raise DatasetCorruptError(f"data file {shown} has labels that do not match its images "
                                  f"({len(labels):,} labels for {len(data):,} images); {fix}")
    coarse = document.get("coarse_labels")
    if classes.superclasses and coarse is not None:
        coarse_labels = class_labels(coarse, len(classes.superclasses))
        expected = np.asarray(classes.superclass_of, dtype=np.int64)[labels]
        if coarse_labels is None or coarse_labels.shape != labels.shape or not np.array_equal(coarse_labels, expected):
            raise DatasetCorruptError(f"data file {shown} has superclass labels that do not match its classes; {fix}")
    return data.reshape(-1, 3, 32, 32), labels


def write_dataset(folder: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]], classes: Classes,
                  filenames: dict[str, list[str]] | None = None) -> None:
    """Write images (N, 3, 32, 32) uint8 with their labels as `train`, `test` and `meta`."""
    for split, (images, labels) in splits.items():
        document = {
            "batch_label": {"train": "training batch 1 of 1", "test": "testing batch 1 of 1"}[split],
            "fine_labels": [int(label) for label in labels],
            "data": np.ascontiguousarray(images.reshape(len(images), IMAGE_BYTES)),
            "filenames": list((filenames or {}).get(split)
                              or [f"image_{index:06d}.png" for index in range(len(images))]),
        }
        if classes.superclasses:
            document["coarse_labels"] = [classes.superclass_of[int(label)] for label in labels]
        with atomic_write(folder / SPLITS[split][0]) as handle:
            pickle.dump(document, handle, protocol=2)
    meta = {"fine_label_names": list(classes.names), "coarse_label_names": list(classes.superclasses)}
    with atomic_write(folder / META_FILE) as handle:
        pickle.dump(meta, handle, protocol=2)
