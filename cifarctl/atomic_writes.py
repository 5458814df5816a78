"""Writing files so that an interrupted command never leaves a half file under a real name."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cifarctl.errors import CifarctlError
from cifarctl.path_kinds import existing_kind

READ_ONLY_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)
# No room for what was being written: a full disk, a quota, a file-size limit (RLIMIT_FSIZE).
NO_ROOM_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.tmp-\d+-[0-9A-Za-z_]+$")


class WriteError(CifarctlError):
    """Writing a file failed; `errno` says why, so callers can tell read-only from disk-full."""

    def __init__(self, message: str, error_number: int | None = None, path: Path | None = None) -> None:
        super().__init__(message)
        self.errno = error_number
        self.path = path  # the file that could not be written, where known


def temporary_name(path: Path) -> Path:
    """A hidden sibling of `path`, unique to this process, on the same filesystem."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{os.urandom(3).hex()}")


def remove_stale_temporaries(target: Path) -> None:
    """Delete temporary siblings of `target` left by processes that no longer run (kill -9)."""
    for candidate in Path(target).parent.glob(f".{Path(target).name}.tmp-*"):
        pid = candidate.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            if candidate.is_dir():
                shutil.rmtree(candidate, ignore_errors=True)
            else:
                candidate.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """Write to a temporary sibling, fsync, then rename over `path`; clean up on failure."""
    path = Path(path)
    _refuse_to_replace(path)
    ensure_parent_folder(path)
    remove_stale_temporaries(path)
    temporary = temporary_name(path)
    try:
        with open(temporary, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _refuse_to_replace(path)  # again: the path may have changed while we wrote
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise write_error(path, error) from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_together(files: dict[Path, bytes]) -> None:
    """Write files that only make sense together (an exported model and its class names): each
    to a temporary name first, then all renamed into place, so a failure (a full disk, Ctrl-C)
    leaves none of them and any earlier ones as they were. The WriteError names the file that
    failed (`path`)."""
    temporaries: dict[Path, Path] = {}
    renamed: list[Path] = []
    current = None
    try:
        for current, data in files.items():
            _refuse_to_replace(current)
            ensure_parent_folder(current)
            remove_stale_temporaries(current)
            temporaries[current] = temporary_name(current)
            with open(temporaries[current], "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for current, temporary in temporaries.items():
            _refuse_to_replace(current)
            os.replace(temporary, current)
            renamed.append(current)
    except BaseException as error:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)
        for path in renamed:  # only when a later rename failed: the set is never left half in place
            path.unlink(missing_ok=True)
        if isinstance(error, OSError) and current is not None:
            failed = write_error(current, error)
            raise WriteError(str(failed), failed.errno, current) from error
        raise


def atomic_replace_dir(source: Path, target: Path) -> None:
    """Move the finished folder `source` to `target`, replacing an old one only at the end."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(source, target)
    except BaseException:
        if old.exists():
            os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def temporary_dir_beside(target: Path) -> Iterator[Path]:
    """A scratch folder next to `target` (same filesystem, so a rename can finish the job)."""
    ensure_parent_folder(target)
    remove_stale_temporaries(target)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _refuse_to_replace(path: Path) -> None:
    """The last line of defence: a write never replaces a device, FIFO, folder or link."""
    kind = existing_kind(path)
    if kind is not None:
        raise CifarctlError(f"cannot write {path}: it is a {kind}, and cifarctl only replaces regular files")


def write_error(path: Path, error: OSError) -> WriteError:
    """One clear line for the usual ways writing a file fails, naming the file by its real
    name (never the hidden temporary one it was being written as) and, when there is no room,
    the disk (the folder) that is full."""
    path = real_name(Path(path))
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        message = (f"cannot write {path}: {os.strerror(error.errno)}; free some space on the disk that holds "
                   f"{_existing_folder(path.parent)} (or choose another location) and try again")
    elif error.errno == errno.EFBIG:
        message = (f"cannot write {path}: {os.strerror(error.errno)} (larger than the file system, or this "
                   "process's `ulimit -f`, allows); raise the limit or choose another location")
    elif error.errno in READ_ONLY_ERRNOS:
        message = f"cannot write {path}: permission denied; choose a writable location"
    else:
        message = f"cannot write {path}: {error.strerror or error}"
    return WriteError(message, error.errno, path)


def real_name(path: Path) -> Path:
    """The path a temporary one stands for: `data/.pets.tmp-41-x1y2/pets/train` (a folder
    staged beside its target) is `data/pets/train`, `m/.cifar_net.pth.tmp-41-ab12` is
    `m/cifar_net.pth`."""
    parts, real = list(path.parts), []
    index = 0
    while index < len(parts):
        match = _TEMPORARY.match(parts[index])
        if match is None:
            real.append(parts[index])
        else:
            real.append(match["name"])
            if index + 1 < len(parts) and parts[index + 1] == match["name"]:
                index += 1  # the staged folder inside the scratch folder: the same name
        index += 1
    return Path(*real) if real else path


def _existing_folder(folder: Path) -> Path:
    """`folder`, or the nearest folder above it that exists (the one a full disk holds)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def ensure_parent_folder(path: Path) -> None:
    """Create the folder `path` goes in when it is missing; refuse when that is not a folder."""
    parent = path.parent
    if not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise write_error(parent, error) from None
    elif not parent.is_dir():
        raise CifarctlError(f"cannot write {path}: {parent} is not a directory")
