"""Outputs never land inside a dataset: the rules every command's output check adds to the file rules."""

from __future__ import annotations

from pathlib import Path

from cifarctl.data.catalog import BUILTIN_DATASETS
from cifarctl.data.manifest import MANIFEST, STATE_FOLDER
from cifarctl.data.store import dataset_paths, layout
from cifarctl.errors import UsageError
from cifarctl.output_paths import check_output_path
from cifarctl.path_kinds import resolved


def check_output_file(path: Path, option: str, data_dir: Path | None = None, inputs: tuple[Path, ...] = ()) -> None:
    """Fail fast, before any long work, when `path` cannot be written as a file (see
    `cifarctl.output_paths.check_output_path`) or lies inside any dataset folder (and the datasets
    of `data_dir` when one is given)."""
    check_outside_any_dataset(path, option)
    if data_dir is not None:
        check_output_outside_dataset(path, data_dir, option)
    check_output_path(path, option, inputs)


def check_outside_any_dataset(path: Path, option: str) -> None:
    """Refuse an output inside a folder that holds a dataset, whatever data dir it is."""
    for folder in resolved(path, option).parents:
        if _holds_dataset(folder):
            raise UsageError(f"{option} {path} is inside the dataset folder {folder}; "
                             "choose a path outside the dataset")


def _holds_dataset(folder: Path) -> bool:
    """A built-in dataset's folder with its meta file, or any folder cifarctl recorded a dataset in."""
    for spec in BUILTIN_DATASETS.values():
        if folder.name == spec.folder and (folder / layout(spec).META_FILE).exists():
            return True
    return (folder / STATE_FOLDER / MANIFEST).exists()


def check_output_outside_dataset(path: Path, data_dir: Path, option: str) -> None:
    """Refuse an output that would overwrite part of the dataset in `data_dir`."""
    target = resolved(path, option)
    for protected in dataset_paths(data_dir):
        protected = resolved(protected, "--data-dir")
        if target == protected or protected in target.parents:
            raise UsageError(f"{option} {path} is inside the dataset ({protected}); "
                             "choose a path outside the data dir's dataset")
