"""Telling which dataset a source holds: a built-in's archive, its extracted folder, or its classes."""

from __future__ import annotations

from pathlib import Path

from cifarctl.data import image_folder
from cifarctl.data.catalog import BUILTIN_DATASETS, Classes, DatasetSpec, Place
from cifarctl.data.store import layout
from cifarctl.errors import UsageError


def check_builtin_classes(folder: image_folder.FolderLayout, place: Place) -> None:
    """A built-in dataset's image-folder copy names its classes; folders that do not are the
    user's own classes (then the dataset needs a name) or the other built-in's (then say which)."""
    fixed = place.spec.classes
    if fixed is None:
        return
    names = image_folder.class_folder_names(folder.train)
    unknown = [name for name in names if not _names_a_class(fixed, name)]
    if not unknown and 0 < len(names) < len(fixed):
        raise UsageError(f"--from {folder.root} has {len(names)} of {place.spec.title}'s {len(fixed)} classes; for a "
                         f"dataset of just these, name it: cifarctl download --dataset NAME --from {folder.root}")
    if len(unknown) * 2 < len(names):
        return  # a stray folder among the dataset's classes: list_split names it, to be moved or renamed
    for other in BUILTIN_DATASETS.values():
        if other.classes is not None and other is not place.spec and names and all(
                _names_a_class(other.classes, name) for name in names):
            raise UsageError(f"--from {folder.root}: its class folders are {other.title}'s classes; add "
                             f"--dataset {other.name}")
    raise UsageError(f"--from {folder.root}: {folder.train / unknown[0]} is not a {place.spec.title} class "
                     f"({', '.join(fixed.names[:5])}, ...); to import classes of your own, name the dataset: "
                     f"cifarctl download --dataset NAME --from {folder.root}")


def _names_a_class(classes: Classes, name: str) -> bool:
    try:
        classes.index(name)
    except ValueError:
        return False
    return True


def other_builtin(origin: Path, place: Place) -> DatasetSpec | None:
    """The other built-in dataset `origin` is a copy of (its archive's name or its extracted folder)."""
    for other in BUILTIN_DATASETS.values():
        if other is place.spec:
            continue
        if origin.name == other.archive or official_folder_in(origin, Place(place.data_dir, other)) is not None:
            return other
    return None


def official_folder_in(path: Path, place: Place) -> Path | None:
    """`path` or its child named as the official extracted folder, when it holds the first data file."""
    if not place.spec.builtin:
        return None
    first = layout(place.spec).REQUIRED_FILES[0]
    for candidate in (path, path / place.spec.folder):
        if (candidate / first).is_file():
            return candidate
    return None
