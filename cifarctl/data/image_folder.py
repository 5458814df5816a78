"""Read an image-folder copy of CIFAR-10: `train/<class>/*.png|jpg` and `test/<class>/*`.

This is the layout public PNG/JPG mirrors use. Class folders may carry the official long
names (airplane ... truck) or the tutorial's short ones (plane ... truck). Hidden entries
(`.ipynb_checkpoints`, macOS `._*` files) are skipped; anything else out of place is named.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from cifarctl.data.catalog import MAX_CLASSES, MIN_CLASSES, Classes
from cifarctl.errors import DatasetCorruptError, UsageError
from cifarctl.events import Events
from cifarctl.interrupts import prepare_worker

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
SPLIT_FOLDERS = ("train", "test")
DECODE_CHUNK = 2000


def is_image_folder(path: Path) -> bool:
    return all((path / split).is_dir() for split in SPLIT_FOLDERS)


# What file managers and archivers leave in folders: never a user's image, never worth a word.
LITTER = {"thumbs.db", "desktop.ini", "__macosx"}


def find_classes(root: Path, fixed: Classes | None) -> Classes:
    """A built-in dataset's own classes (its folders must name them), or else the class
    folders under train/, in sorted order (as torchvision's ImageFolder orders them)."""
    if fixed is not None:
        return fixed
    folder = root / "train"
    names = sorted(path.name for path in _visible(folder) if path.is_dir())
    if not MIN_CLASSES <= len(names) <= MAX_CLASSES:
        raise UsageError(f"{folder} has {len(names):,} class folders; a dataset needs {MIN_CLASSES} to "
                         f"{MAX_CLASSES:,} classes, one folder each")
    return Classes(tuple(names))


def list_split(root: Path, split: str, classes: Classes,
               skipped: list[tuple[Path, str]] | None = None) -> tuple[list[Path], np.ndarray]:
    """Every image file of one split, at any depth under its class folder, with its label.

    Class folders are validated. Every other file under a class folder (not an image, a
    link to a folder, unreadable) is appended to `skipped` with the reason, so the import
    can say what it left out; hidden files and file-manager litter are passed over quietly.
    """
    skipped = [] if skipped is None else skipped
    folder = root / split
    files: list[Path] = []
    labels: list[int] = []
    seen: set[int] = set()
    for class_folder in sorted(p for p in _visible(folder) if p.is_dir()):
        try:
            label = classes.index(class_folder.name)
        except ValueError as error:
            raise UsageError(f"{class_folder} is not a class folder ({error}); "
                             "move it out of the image folder, or rename it") from None
        if label in seen:
            raise UsageError(f"{folder} has two folders for class {classes.names[label]}")
        seen.add(label)
        images = sorted(_images_under(class_folder, skipped))
        files.extend(images)
        labels.extend([label] * len(images))
    absent = [classes.names[index] for index in range(len(classes)) if index not in seen]
    if absent:
        raise UsageError(f"{folder} has no folder for class {', '.join(absent)}; expected one per class")
    empty = [classes.names[index] for index in range(len(classes)) if index not in set(labels)]
    if empty:
        raise UsageError(f"{folder}: no .png/.jpg images for class {', '.join(empty)}")
    return files, np.asarray(labels, dtype=np.int64)


def _visible(folder: Path) -> list[Path]:
    """The entries of `folder` that are not hidden (tools leave .ipynb_checkpoints, ._* ...)."""
    return [path for path in folder.iterdir() if not _ignored(path.name)]


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.lower() in LITTER


def _images_under(class_folder: Path, skipped: list[tuple[Path, str]]) -> list[Path]:
    """The image files anywhere under `class_folder`; everything else goes to `skipped`."""
    images: list[Path] = []

    def unreadable(error: OSError) -> None:
        skipped.append((Path(error.filename or class_folder), f"cannot be listed ({error.strerror or error})"))

    for top, folders, names in os.walk(class_folder, onerror=unreadable):
        for name in list(folders):
            if _ignored(name):
                folders.remove(name)
            elif Path(top, name).is_symlink():
                skipped.append((Path(top, name), "a link to a folder (not followed)"))
        for name in names:
            path = Path(top, name)
            if _ignored(name):
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append((path, f"not a {'/'.join(sorted(IMAGE_SUFFIXES))} image"))
            elif not path.is_file():
                skipped.append((path, "not a regular file"))
            else:
                images.append(path)
    return images


def usable_cpus() -> int:
    """CPUs this process may run on (a container or taskset may allow fewer than exist)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def decode_processes(workers: int, chunks: int, cpus: int) -> int:
    """How many processes to decode with: what was asked (0 = one per CPU), but never more
    than there are CPUs to run them or chunks to give them."""
    return max(1, min(workers or cpus, cpus, chunks))


def decode_images(files: list[Path], workers: int, events: Events, description: str) -> np.ndarray:
    """Decode files into one (N, 3, 32, 32) uint8 array, in parallel chunks."""
    chunks = [files[start : start + DECODE_CHUNK] for start in range(0, len(files), DECODE_CHUNK)]
    processes = decode_processes(workers, len(chunks), usable_cpus())
    events.task_started(description, len(files), unit="images")
    decoded: list[np.ndarray] = []
    try:
        if processes == 1:
            results = map(_decode_chunk, chunks)
            for array in results:
                decoded.append(array)
                events.task_advanced(sum(len(a) for a in decoded))
        else:
            pool = ProcessPoolExecutor(max_workers=processes, initializer=prepare_worker)
            try:
                for array in pool.map(_decode_chunk, chunks):
                    decoded.append(array)
                    events.task_advanced(sum(len(a) for a in decoded))
            except BaseException:
                # Stopped (Ctrl-C, SIGTERM) or failed: drop the chunks not started and do not
                # wait for the rest; the workers die with this process (see prepare_worker).
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
    finally:
        events.task_finished()
    return np.concatenate(decoded) if decoded else np.zeros((0, 3, 32, 32), np.uint8)


def _decode_chunk(paths: list[Path]) -> np.ndarray:
    out = np.empty((len(paths), 32, 32, 3), dtype=np.uint8)
    for index, path in enumerate(paths):
        out[index] = _decode_one(path)
    return out.transpose(0, 3, 1, 2).copy()


def _decode_one(path: Path) -> np.ndarray:
    """One 32x32 RGB image; its size is checked from the header, before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.size != (32, 32):
                    raise DatasetCorruptError(f"{path} is {image.size[0]}x{image.size[1]}, not 32x32")
                if image.mode != "RGB":
                    raise DatasetCorruptError(f"{path} is {image.mode}, not an RGB image")
                return np.asarray(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DatasetCorruptError(f"{path} is far too large to be a CIFAR-10 image ({error})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise DatasetCorruptError(f"{path} is not a readable image ({error})") from None
