"""The official `cifar-10-batches-py/` format: parse it, validate it, write it.

Its functions match `python_format`'s (CIFAR-100's layout), so `layouts` can offer either."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from cifarctl.atomic_writes import atomic_write
from cifarctl.data.catalog import CIFAR10_CLASSES, CLASS_NAMES, IMAGE_BYTES, NUM_CLASSES, Classes
from cifarctl.data.safe_pickle import load_batch
from cifarctl.errors import CifarctlError, DatasetCorruptError
from cifarctl.input_files import read_regular_file

TRAIN_FILES = tuple(f"data_batch_{index}" for index in range(1, 6))
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"
SPLITS = {"train": TRAIN_FILES, "test": TEST_FILES}
REQUIRED_FILES = TRAIN_FILES + TEST_FILES + (META_FILE,)
FIX = "run 'cifarctl download --force' to fetch a fresh copy"
# The official batches are 31 MB and the meta file 158 bytes; an image-folder import of a
# much larger set of 32x32 images still stays well below these.
MAX_BATCH_BYTES = 1 << 30
MAX_META_BYTES = 1 << 20


def read_file(path: Path, shown_as: Path | None, limit: int) -> bytes:
    try:
        return read_regular_file(path, "data file", limit)
    except CifarctlError as error:
        raise DatasetCorruptError(str(error).replace(str(path), str(shown_as or path), 1)) from None


def read_split(folder: Path, split: str, classes: Classes = CIFAR10_CLASSES, shown_as: Path | None = None,
               fix: str = FIX) -> tuple[np.ndarray, np.ndarray]:
    """The images (N, 3, 32, 32) uint8 and labels (N,) int64 of one split's batch files.

    Errors name files under `shown_as` (where the user put them) instead of `folder`.
    """
    images, labels = [], []
    for name in SPLITS[split]:
        batch_images, batch_labels = read_batch(folder / name, (shown_as or folder) / name, fix)
        images.append(batch_images)
        labels.append(batch_labels)
    return np.concatenate(images), np.concatenate(labels)


def read_batch(path: Path, shown_as: Path | None = None, fix: str = FIX) -> tuple[np.ndarray, np.ndarray]:
    try:
        document = load_batch(read_file(path, shown_as, MAX_BATCH_BYTES))
    except (FileNotFoundError, CifarctlError) as error:
        if isinstance(error, CifarctlError):
            raise

        raise DatasetCorruptError(f"data file {shown_as or path} is missing; {fix}") from None
    except Exception as error:  # any unpickling failure means a damaged or foreign file
        raise DatasetCorruptError(f"data file {shown_as or path} is truncated or corrupt ({short(error)}); "
                                  f"{fix}") from None
    path = shown_as or path
    if not isinstance(document, dict) or "data" not in document or "labels" not in document:
        raise DatasetCorruptError(f"data file {path} is not a CIFAR-10 batch; {fix}")
    data, labels = document["data"], document["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        raise DatasetCorruptError(f"data file {path} does not hold 32x32 RGB uint8 images; {fix}")
    label_array = class_labels(labels, NUM_CLASSES)
    if label_array is None:
        raise DatasetCorruptError(f"data file {path} has labels that are not class numbers 0-9; {fix}")
    if label_array.shape != (len(data),):
        raise DatasetCorruptError(f"data file {path} has labels that do not match its images "
                                  f"({len(label_array):,} labels for {len(data):,} images); {fix}")
    return data.reshape(-1, 3, 32, 32), label_array


def class_labels(labels: object, count: int) -> np.ndarray | None:
    """`labels` as an int64 array when it is a flat sequence of whole numbers 0..count-1, else None.

    Element types are checked first: numpy would silently turn 0.5 into 0 or "1" into 1.
    """
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            return None
        array = labels.astype(np.int64)
    elif isinstance(labels, (list, tuple)):
        if not all(type(label) is int and 0 <= label < count for label in labels):
            return None
        array = np.asarray(labels, dtype=np.int64).reshape(len(labels))
    else:
        return None
    if len(array) and (array.min() < 0 or array.max() >= count):
        return None
    return array


def read_classes(folder: Path, fixed: Classes | None = CIFAR10_CLASSES, shown_as: Path | None = None,
                 fix: str = FIX) -> Classes:
    """CIFAR-10's classes, once the meta file is checked to list them."""
    path, shown = folder / META_FILE, (shown_as or folder) / META_FILE
    try:
        meta = load_batch(read_file(path, shown, MAX_META_BYTES))
        names = tuple(meta["label_names"])
    except CifarctlError:
        raise
    except FileNotFoundError:
        raise DatasetCorruptError(f"data file {shown} is missing; {fix}") from None
    except Exception as error:
        raise DatasetCorruptError(f"data file {shown} is truncated or corrupt ({short(error)}); {fix}") from None
    if names != CLASS_NAMES:
        raise DatasetCorruptError(f"data file {shown} lists classes {names}, not CIFAR-10's; {fix}")
    return CIFAR10_CLASSES


def write_dataset(folder: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]], classes: Classes = CIFAR10_CLASSES,
                  filenames: dict[str, list[str]] | None = None) -> None:
    """Write images (N, 3, 32, 32) uint8 as the official five training batches and one test batch."""
    train, test = splits["train"], splits["test"]
    train_images, train_labels = train
    chunks = np.array_split(np.arange(len(train_images)), len(TRAIN_FILES))
    for number, (name, indices) in enumerate(zip(TRAIN_FILES, chunks), start=1):
        _write_batch(folder / name, train_images[indices], train_labels[indices], f"training batch {number} of 5")
    _write_batch(folder / TEST_FILES[0], *test, "testing batch 1 of 1")
    meta = {"num_cases_per_batch": len(chunks[0]), "label_names": list(CLASS_NAMES), "num_vis": IMAGE_BYTES}
    with atomic_write(folder / META_FILE) as handle:
        pickle.dump(meta, handle, protocol=2)


def _write_batch(path: Path, images: np.ndarray, labels: np.ndarray, batch_label: str) -> None:
    document = {
        "batch_label": batch_label,
        "labels": [int(label) for label in labels],
        "data": np.ascontiguousarray(images.reshape(len(images), IMAGE_BYTES)),
        "filenames": [f"image_{index:05d}.png" for index in range(len(images))],
    }
    with atomic_write(path) as handle:
        pickle.dump(document, handle, protocol=2)


def short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) < 80 else text[:77] + "..."
