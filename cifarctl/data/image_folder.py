"""Read an image-folder copy of CIFAR-10: `train/<class>/*.png|jpg` and `test/<class>/*`.

This is the layout public PNG/JPG mirrors use. Class folders may carry the official long
names (airplane ... truck) or the tutorial's short ones (plane ... truck).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from cifarctl.data.catalog import CLASS_NAMES, NUM_CLASSES, class_index
from cifarctl.errors import DatasetCorruptError, UsageError
from cifarctl.events import Events

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
SPLIT_FOLDERS = ("train", "test")
DECODE_CHUNK = 2000


def is_image_folder(path: Path) -> bool:
    return all((path / split).is_dir() for split in SPLIT_FOLDERS)


def list_split(root: Path, split: str) -> tuple[list[Path], np.ndarray]:
    """Every image file of one split, with its label; class folders are validated."""
    folder = root / split
    files: list[Path] = []
    labels: list[int] = []
    seen: set[int] = set()
    for class_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            label = class_index(class_folder.name)
        except ValueError as error:
            raise UsageError(f"{class_folder}: {error}") from None
        if label in seen:
            raise UsageError(f"{folder} has two folders for class {CLASS_NAMES[label]}")
        seen.add(label)
        images = sorted(p for p in class_folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files.extend(images)
        labels.extend([label] * len(images))
    absent = [CLASS_NAMES[index] for index in range(NUM_CLASSES) if index not in seen]
    if absent:
        raise UsageError(f"{folder} has no folder for class {', '.join(absent)}; expected one per CIFAR-10 class")
    empty = [CLASS_NAMES[index] for index in range(NUM_CLASSES) if index not in set(labels)]
    if empty:
        raise UsageError(f"{folder}: no .png/.jpg images for class {', '.join(empty)}")
    return files, np.asarray(labels, dtype=np.int64)


def decode_images(files: list[Path], workers: int, events: Events, description: str) -> np.ndarray:
    """Decode files into one (N, 3, 32, 32) uint8 array, in parallel chunks."""
    chunks = [files[start : start + DECODE_CHUNK] for start in range(0, len(files), DECODE_CHUNK)]
    processes = workers or os.cpu_count() or 1
    events.task_started(description, len(files), unit="images")
    decoded: list[np.ndarray] = []
    try:
        if processes == 1 or len(chunks) == 1:
            results = map(_decode_chunk, chunks)
            for array in results:
                decoded.append(array)
                events.task_advanced(sum(len(a) for a in decoded))
        else:
            with ProcessPoolExecutor(max_workers=processes) as pool:
                for array in pool.map(_decode_chunk, chunks):
                    decoded.append(array)
                    events.task_advanced(sum(len(a) for a in decoded))
    finally:
        events.task_finished()
    return np.concatenate(decoded) if decoded else np.zeros((0, 3, 32, 32), np.uint8)


def _decode_chunk(paths: list[Path]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    out = np.empty((len(paths), 32, 32, 3), dtype=np.uint8)
    for index, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                if image.size != (32, 32):
                    raise DatasetCorruptError(f"{path} is {image.size[0]}x{image.size[1]}, not 32x32")
                if image.mode != "RGB":
                    raise DatasetCorruptError(f"{path} is {image.mode}, not an RGB image")
                out[index] = np.asarray(image)
        except (UnidentifiedImageError, OSError) as error:
            raise DatasetCorruptError(f"{path} is not a readable image ({error})") from None
    return out.transpose(0, 3, 1, 2).copy()
