"""Checks on output paths before any work starts: writable files, apart from the inputs, each other and full disks."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cifarctl.atomic_writes import WriteError, write_error
from cifarctl.errors import UsageError
from cifarctl.path_kinds import existing_kind, resolved
from cifarctl.sizes import size_text


def check_output_path(path: Path, option: str, inputs: tuple[Path, ...] = ()) -> None:
    """Fail fast, before any long work, when `path` cannot be written as a file.

    The path must be absent or a regular file (never a device, FIFO, socket, folder or
    symbolic link), not one of the command's `inputs`, and its folder must exist and accept
    a new file (probed by creating one). `cifarctl.data.guards.check_output_file` adds the
    rules about datasets.
    """
    path = Path(path)
    check_output_apart_from_inputs(path, option, inputs)
    parent = path.parent
    kind = existing_kind(path)
    if kind == "directory":
        raise UsageError(f"{option} {path} is a directory; give a file name")
    if kind == "symbolic link":
        raise UsageError(f"{option} {path} is a symbolic link (to {os.readlink(path)}); give the real path "
                         "of the file to write, so it is clear what gets replaced")
    if kind is not None:
        raise UsageError(f"{option} {path} is a {kind}, not a regular file; give the path of a file to write")
    if not parent.is_dir():
        problem = "is not a directory" if parent.exists() else "does not exist"
        raise UsageError(f"{option} {path}: the folder {parent} {problem}; create it or choose another path")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{path.name}.probe-"):
            pass
    except OSError as error:
        raise write_error(path, error) from None


# Files this command has read on its own account (the config file): inputs of every output check.
_READ_FILES: list[Path] = []


def remember_input(path: Path) -> None:
    _READ_FILES.append(Path(path))


def forget_inputs() -> None:
    """At the start of a command (in-process runs share this module)."""
    _READ_FILES.clear()


def check_output_apart_from_inputs(path: Path, option: str, inputs: Iterable[Path]) -> None:
    """An output is never one of the command's inputs, nor inside a folder the command reads.

    Compared by where the paths lead (symbolic links, `..`, hard links to the same file), so
    `predict photo.png --save ./photo.png` and `predict photos/ --save photos/grid.png` are
    both refused before anything is read or written.
    """
    target = resolved(path, option)
    for source in (*inputs, *_READ_FILES):
        source = Path(source)
        try:
            is_folder = source.is_dir()
        except OSError:
            continue
        try:
            origin = resolved(source, "input")
        except UsageError:
            continue  # a loop of links cannot be read, so nothing of it can be overwritten
        if target == origin or _same_file(path, source):
            raise UsageError(f"{option} {path} is the file this command reads ({source}); write to another path")
        if is_folder and origin in target.parents and os.path.lexists(path):
            raise UsageError(f"{option} {path} is one of the files inside the folder this command reads "
                             f"({source}); write to a new name or outside that folder")


def check_outputs_distinct(outputs: Iterable[tuple[Path | None, str]], folders: Iterable[str] = ()) -> None:
    """Two outputs of one command never name the same file, nor one a path inside the other
    file (an output folder, named by its option in `folders`, may hold the others)."""
    folders = set(folders)
    seen: list[tuple[Path, str, Path]] = []
    for path, option in outputs:
        if path is None:
            continue
        target = resolved(Path(path), option)
        for other, other_option, other_target in seen:
            if (target == other_target or (other_option not in folders and other_target in target.parents)
                    or (option not in folders and target in other_target.parents)):
                raise UsageError(f"{option} {path} and {other_option} {other} name the same place; "
                                 "give each output its own path")
        seen.append((Path(path), option, target))


def _same_file(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def check_free_space(folder: Path, needed: int, what: str) -> None:
    """Refuse to start work whose files will not fit: found after hours of training, it costs the run."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell (an unusual filesystem): the writes themselves will say
    if free < needed:
        raise WriteError(f"{what} needs about {size_text(needed)} free in {folder}, which has {size_text(free)}; "
                         "free some space or choose another location", errno.ENOSPC)
