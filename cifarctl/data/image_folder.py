"""Read a folder of labelled images: a CIFAR image-folder copy, or the user's own classes.

Layouts (FOLDER is what `--from` names):

    FOLDER/train/<class>/*  and  FOLDER/test/<class>/*   the public PNG/JPG mirrors' layout
    FOLDER/train/<class>/*                              no test/: a test split is held out
    FOLDER/<class>/*                                    torchvision's ImageFolder: the same

A built-in dataset's class folders must name its classes (CIFAR-10's official long names or
the tutorial's short ones; CIFAR-100's fine labels). The user's own dataset's classes are its
folder names, in sorted order as torchvision's ImageFolder orders them. Images of any size
and mode are brought to 32x32 RGB by `data.pixels`' rules: the centred square, resized with
antialiasing. Hidden entries (`.ipynb_checkpoints`, macOS `._*` files) are skipped; anything
else out of place is named.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cifarctl.cpu_threads import capped_to_cpus
from cifarctl.data.catalog import MAX_CLASSES, MIN_CLASSES, Classes, class_name, class_name_problem, name_key
from cifarctl.data.pixels import CROP_RULE, SIDE, read_image
from cifarctl.errors import DatasetCorruptError, UsageError
from cifarctl.events import Events
from cifarctl.interrupts import prepare_worker, stop_workers

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
DECODE_CHUNK = 2000
SIZES_SHOWN, SIZES_RECORDED = 3, 10  # most common stored sizes named in the report, and in --json
NAMES_SHOWN = 5  # class names a message lists before "..."


@dataclass(frozen=True)
class FolderLayout:
    """Where an image folder keeps its class folders."""

    root: Path
    train: Path  # the folder of the training class folders: root/train, or root itself
    test: Path | None  # root/test; None: a test split is held out of `train`
    others: tuple[Path, ...] = ()  # folders beside train/ and test/, not read (valid/, ...)


def folder_layout(root: Path) -> FolderLayout | None:
    """The layout of `root`; None when it holds no class folders at all (so is no image folder).

    train/ is the training split's folder when it holds class folders (an image lying beside
    them is named as skipped), but a class folder when it holds only images: CIFAR-100 has a
    class `train`, and so may the user's vehicles.
    """
    if not root.is_dir():
        return None
    folders = sorted(path for path in _visible(root) if path.is_dir())
    train, test = root / "train", root / "test"
    if train in folders and (not _holds_images(train) or _holds_folders(train)):
        test_folder = test if test in folders else None
        others = tuple(path for path in folders if path not in (train, test_folder))
        return FolderLayout(root, train, test_folder, others)
    if test in folders and train not in folders and not _holds_images(test):
        raise UsageError(f"{root} has a test/ folder but no train/ folder; put the training images in "
                         f"{train}/<class>/, or the test/ folder's classes beside it without test/")
    return FolderLayout(root, root, None) if folders else None


def _holds_folders(folder: Path) -> bool:
    return any(path.is_dir() for path in _visible(folder))


def _holds_images(folder: Path) -> bool:
    """Whether image files lie directly in `folder` (so it is a class folder, not a split's)."""
    return any(path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() for path in _visible(folder))


# What file managers and archivers leave in folders: never a user's image, never worth a word.
LITTER = {"thumbs.db", "desktop.ini", "__macosx"}


def find_classes(folder: Path, fixed: Classes | None) -> Classes:
    """A built-in dataset's own classes (its folders must name them), or else the class
    folders in `folder`, in sorted order (as torchvision's ImageFolder orders them)."""
    if fixed is not None:
        return fixed
    names = class_folder_names(folder)
    if not MIN_CLASSES <= len(names) <= MAX_CLASSES:
        raise UsageError(f"{folder} has {len(names):,} class folder{'' if len(names) == 1 else 's'}; a dataset needs "
                         f"{MIN_CLASSES} to {MAX_CLASSES:,} classes, one folder of images each")
    seen: dict[str, str] = {}
    for name in names:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"class folder {name!r} in {folder} has a name that is not valid UTF-8; "
                             "rename it") from None
        problem = class_name_problem(class_name(name))
        if problem is not None:
            raise UsageError(f"class folder {name!r} in {folder}: a class name {problem}; rename the folder")
        if (key := name_key(name)) in seen:
            spelt = (f": {seen[key]!a} and {name!a} are the same letters, spelt two ways in Unicode"
                     if class_name(seen[key]) == class_name(name) else "")
            raise UsageError(f"class folders {seen[key]!r} and {name!r} in {folder} name one class (class names "
                             f"ignore case and Unicode spelling, and a space is an underscore{spelt}); merge them "
                             "or rename one")
        seen[key] = name
    return Classes(tuple(class_name(name) for name in names))


def check_same_classes(layout: FolderLayout, classes: Classes) -> None:
    """The user's test/ must have a folder for every class of train/, and no other."""
    assert layout.test is not None
    in_test = {name_key(path.name): path.name for path in _visible(layout.test) if path.is_dir()}
    in_train = {name_key(name) for name in classes.names}
    only_test = sorted(name for key, name in in_test.items() if key not in in_train)
    only_train = [name for name in classes.names if name_key(name) not in in_test]
    problems = [f"{where}/ has {_listed(names)} that {other}/ lacks"
                for where, names, other in (("test", only_test, "train"), ("train", only_train, "test")) if names]
    if problems:
        raise UsageError(f"{layout.root}: train/ and test/ must hold the same class folders, but "
                         f"{'; and '.join(problems)}")


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN]) + (f", ... ({len(names):,} in all)" if len(names) > NAMES_SHOWN else "")
    return ("class " if len(names) == 1 else "classes ") + shown


def list_split(folder: Path, classes: Classes,
               skipped: list[tuple[Path, str]] | None = None) -> tuple[list[Path], np.ndarray]:
    """Every image file under `folder`'s class folders (at any depth), with its label.

    Class folders are validated. Every other file under a class folder (not an image, a
    link to a folder, unreadable) is appended to `skipped` with the reason, so the import
    can say what it left out; hidden files and file-manager litter are passed over quietly.
    """
    skipped = [] if skipped is None else skipped
    files: list[Path] = []
    labels: list[int] = []
    seen: set[int] = set()
    entries = sorted(_visible(folder))
    skipped.extend((path, "beside the class folders, not in one (not read)") for path in entries if not path.is_dir())
    for class_folder in (path for path in entries if path.is_dir()):
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
        raise UsageError(f"{folder}: no {'/'.join(sorted(IMAGE_SUFFIXES))} images in the folder of "
                         f"{_listed(empty)}; every class needs images (or remove its folder)")
    return files, np.asarray(labels, dtype=np.int64)


def class_folder_names(folder: Path) -> list[str]:
    """The names of the (not hidden) folders in `folder`, sorted."""
    return sorted(path.name for path in _visible(folder) if path.is_dir())


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


def decode_processes(workers: int, chunks: int, cpus: int | None = None) -> int:
    """How many processes to decode with: what was asked (0 = one per CPU), but never more
    than there are CPUs to run them (`capped_to_cpus`) or chunks to give them."""
    return max(1, min(capped_to_cpus(workers, cpus=cpus).count, chunks))


def decode_images(files: list[Path], workers: int, events: Events,
                  description: str) -> tuple[np.ndarray, Counter[tuple[int, int]]]:
    """Decode files into one (N, 3, 32, 32) uint8 array, in parallel chunks, with how many
    images were stored at each size (width, height)."""
    chunks = [files[start : start + DECODE_CHUNK] for start in range(0, len(files), DECODE_CHUNK)]
    processes = decode_processes(workers, len(chunks))
    events.task_started(description, len(files), unit="images")
    decoded: list[np.ndarray] = []
    sizes: Counter[tuple[int, int]] = Counter()

    def collect(result: tuple[np.ndarray, list[tuple[int, int]]]) -> None:
        decoded.append(result[0])
        sizes.update(result[1])
        events.task_advanced(sum(len(a) for a in decoded))

    try:
        if processes == 1:
            for result in map(_decode_chunk, chunks):
                collect(result)
        else:
            pool = ProcessPoolExecutor(max_workers=processes, initializer=prepare_worker)
            try:
                for result in pool.map(_decode_chunk, chunks):
                    collect(result)
            except BaseException:
                # Stopped (Ctrl-C, SIGTERM) or failed: drop the chunks not started and end
                # the running ones, so the command stops now (see stop_workers).
                stop_workers(pool)
                raise
            pool.shutdown(wait=True)
    finally:
        events.task_finished()
    images = np.concatenate(decoded) if decoded else np.zeros((0, 3, SIDE, SIDE), np.uint8)
    return images, sizes


def _decode_chunk(paths: list[Path]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    out = np.empty((len(paths), 3, SIDE, SIDE), dtype=np.uint8)
    sizes = []
    for index, path in enumerate(paths):
        out[index], size = _decode_one(path)
        sizes.append(size)
    return out, sizes


def _decode_one(path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """One image as 32x32 RGB (the rules of `data.pixels`), and the size it is stored at.
    An image of more pixels than Pillow's limit is refused from its header, before decoding."""
    from PIL import Image

    try:
        return read_image(path, "crop")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DatasetCorruptError(f"{path} is far too large to import ({error}); shrink it or "
                                  "move it out of the folder") from None
    except Exception as error:
        raise DatasetCorruptError(f"{path} is not a readable image ({str(error) or type(error).__name__}); "
                                  "replace it or move it out of the folder") from None


@dataclass(frozen=True)
class Resized:
    """What the import did to the images' sizes: how many it resized, from which sizes."""

    images: int  # not stored at 32x32
    of: int
    sizes: tuple[tuple[tuple[int, int], int], ...]  # every stored size with its count, most common first

    @classmethod
    def from_sizes(cls, sizes: Counter[tuple[int, int]]) -> Resized:
        ordered = tuple(sorted(sizes.items(), key=lambda item: (-item[1], item[0])))
        return cls(sum(count for size, count in ordered if size != (SIDE, SIDE)), sum(sizes.values()), ordered)

    def describe(self) -> str:
        shown = ", ".join(f"{_size(size)} ({count:,})" for size, count in self.sizes[:SIZES_SHOWN])
        more = len(self.sizes) - SIZES_SHOWN
        shown += f", and {more:,} other size{'' if more == 1 else 's'}" if more > 0 else ""
        images = f"{self.images:,} image{'' if self.images == 1 else 's'}"
        return f"resized {images} to {SIDE}x{SIDE} ({CROP_RULE}); sizes found: {shown}"

    def as_json(self) -> dict:
        return {"images": self.images, "of": self.of, "rule": CROP_RULE, "distinct_sizes": len(self.sizes),
                "sizes": [{"size": _size(size), "images": count} for size, count in self.sizes[:SIZES_RECORDED]]}


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def stored_name(path: Path, root: Path) -> str:
    """How the dataset's files record where an image came from: its path under the image folder."""
    return os.fsencode(path.relative_to(root)).decode("utf-8", "replace").replace(os.sep, "/")
