"""Writing files so that an interrupted command never leaves a half file under a real name."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cifarctl.errors import CifarctlError, UsageError

CHUNK = 1 << 20
READ_ONLY_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


class WriteError(CifarctlError):
    """Writing a file failed; `errno` says why, so callers can tell read-only from disk-full."""

    def __init__(self, message: str, error_number: int | None = None) -> None:
        super().__init__(message)
        self.errno = error_number


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
    _check_parent(path)
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
    _check_parent(target)
    remove_stale_temporaries(target)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def existing_kind(path: Path) -> str | None:
    """What is at `path` when it is something other than a regular file (None otherwise).

    The path itself is examined, not what a symbolic link points to: replacing a link
    would replace the link, not the file the user had in mind.
    """
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISREG(mode):
        return None
    for test, kind in NON_REGULAR_KINDS:
        if test(mode):
            return kind
    return "special file"


NON_REGULAR_KINDS = (
    (stat.S_ISLNK, "symbolic link"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISFIFO, "FIFO (named pipe)"),
    (stat.S_ISSOCK, "socket"),
)


def _refuse_to_replace(path: Path) -> None:
    """The last line of defence: a write never replaces a device, FIFO, folder or link."""
    kind = existing_kind(path)
    if kind is not None:
        raise CifarctlError(f"cannot write {path}: it is a {kind}, and cifarctl only replaces regular files")


def check_output_path(path: Path, option: str, inputs: tuple[Path, ...] = ()) -> None:
    """Fail fast, before any long work, when `path` cannot be written as a file.

    The path must be absent or a regular file (never a device, FIFO, socket, folder or
    symbolic link), not one of the command's `inputs`, and its folder must exist and accept
    a new file (probed by creating one). `cifarctl.data.guards.check_output_file` adds the
    rules about datasets.
    """
    path = Path(path)
    for source in inputs:
        if Path(source).exists() and path.exists() and path.resolve() == Path(source).resolve():
            raise UsageError(f"{option} {path} is the file this command reads; write to another path")
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


def check_input_file(path: Path, what: str) -> None:
    """What a command reads must be a regular file: a FIFO would hang it, a device never end."""
    path = Path(path)
    if not path.exists():
        return  # the caller says what to do about a missing file
    if not path.is_file():
        kind = existing_kind(path.resolve()) or "special file"
        raise CifarctlError(f"{what} {path} is a {kind}, not a regular file; give the path of a file")


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_error(path: Path, error: OSError) -> WriteError:
    """One clear line for the usual ways writing a file fails."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        message = f"cannot write {path}: {os.strerror(error.errno)}; free some space and try again"
    elif error.errno in READ_ONLY_ERRNOS:
        message = f"cannot write {path}: permission denied; choose a writable location"
    else:
        message = f"cannot write {path}: {error.strerror or error}"
    return WriteError(message, error.errno)


def _check_parent(path: Path) -> None:
    parent = path.parent
    if not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise write_error(parent, error) from None
    elif not parent.is_dir():
        raise CifarctlError(f"cannot write {path}: {parent} is not a directory")


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, on_wait: callable = None) -> Iterator[None]:
    """Hold an exclusive advisory lock on `lock_path` (waits for another holder to finish)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, go ahead
        yield
        return
    try:
        _check_parent(lock_path)
        handle = open(lock_path, "a+b")
    except (WriteError, OSError) as error:
        if error.errno not in READ_ONLY_ERRNOS:
            raise
        yield  # a read-only data dir: nobody can change it, so there is nothing to wait for
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
