"""The array cache beside a dataset's files: each split as .npy arrays, checked against the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cifarctl.atomic_writes import atomic_write
from cifarctl.data.catalog import IMAGE_SHAPE
from cifarctl.data.manifest import STATE_FOLDER, Manifest, file_record, unchanged
from cifarctl.input_files import md5_of

Arrays = tuple[np.ndarray, np.ndarray]  # images (N, 3, 32, 32) uint8, labels (N,) int64


def cache_files(folder: Path, split: str) -> tuple[Path, Path]:
    state = folder / STATE_FOLDER
    return state / f"{split}_images.npy", state / f"{split}_labels.npy"


def save_cache(folder: Path, splits: dict[str, Arrays]) -> dict[str, dict[str, Any]]:
    """Store each split as .npy arrays; return their records for the manifest."""
    (folder / STATE_FOLDER).mkdir(exist_ok=True)
    records = {}
    for split, arrays in splits.items():
        for path, array in zip(cache_files(folder, split), arrays):
            with atomic_write(path) as handle:
                np.save(_ThroughPython(handle), array, allow_pickle=False)
            records[path.name] = file_record(path)
    return records


class _ThroughPython:
    """A file numpy writes to in chunks with Python's own `write`: `ndarray.tofile`, which
    np.save uses on a real file, reports a full disk as "921600 requested and 19872 written",
    without the reason, so the cache could not be told apart from a failing disk and skipped."""

    def __init__(self, handle) -> None:
        self.write = handle.write


def cache_intact(folder: Path, manifest: Manifest, split: str, hash_always: bool = False) -> bool:
    """The split's .npy files are the ones recorded; an unchanged size and mtime is trusted
    unless `hash_always`, anything else must still have the recorded MD5."""
    for path in cache_files(folder, split):
        record = manifest.cache.get(path.name)
        if record is None:
            return False
        try:
            size = path.stat().st_size
        except OSError:
            return False
        if size != record["size"]:
            return False
        if (hash_always or not unchanged(path, record)) and md5_of(path) != record["md5"]:
            return False
    return True


def _valid_arrays(images: np.ndarray, labels: np.ndarray, count: int, classes: int) -> bool:
    return (images.dtype == np.uint8 and images.shape == (count, *IMAGE_SHAPE)
            and labels.dtype.kind in "iu" and labels.shape == (count,)
            and (count == 0 or (int(labels.min()) >= 0 and int(labels.max()) < classes)))


def cached_arrays(folder: Path, manifest: Manifest, split: str, classes: int) -> Arrays | None:
    if not cache_intact(folder, manifest, split):
        return None
    images_path, labels_path = cache_files(folder, split)
    try:
        images = np.load(images_path, allow_pickle=False)
        labels = np.load(labels_path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if not _valid_arrays(images, labels, manifest.counts[split], classes):
        return None
    return images, labels.astype(np.int64, copy=False)
