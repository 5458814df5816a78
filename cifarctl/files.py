"""Writing files so that an interrupted command never leaves a half file under a real name."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
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


def resolved(path: Path, what: str) -> Path:
    """`path` with every symbolic link and `..` followed; a loop of links is one clear error."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as error:  # Python < 3.13 raises RuntimeError("Symlink loop ...")
        if isinstance(error, OSError) and error.errno != errno.ELOOP:
            raise
        raise UsageError(f"{what} {path} is a loop of symbolic links; point it at a real file or folder") from None


def check_input_file(path: Path, what: str) -> None:
    """What a command reads must be a regular file: a FIFO would hang it, a device never end."""
    path = Path(path)
    if not path.exists():
        return  # the caller says what to do about a missing file
    if not path.is_file():
        kind = existing_kind(path.resolve()) or "special file"
        raise CifarctlError(f"{what} {path} is a {kind}, not a regular file; give the path of a file")


def read_regular_file(path: Path, what: str, limit: int) -> bytes:
    """The bytes of `path`, which must be a regular file of at most `limit` bytes.

    Every file cifarctl reads goes through here: a FIFO would hang the command, a device
    (`/dev/zero`) never end, and a file far larger than its kind ever is would fill memory.
    The file is opened without blocking and checked on the open descriptor, so what is read
    is what was checked.
    """
    path = Path(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise CifarctlError(f"{what} {path} is a loop of symbolic links; give the path of a file") from None
        if error.errno == errno.EISDIR:
            raise CifarctlError(f"{what} {path} is a directory, not a file") from None
        raise
    with open(descriptor, "rb", closefd=True) as handle:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in NON_REGULAR_KINDS if test(mode)), "special file")
            raise CifarctlError(f"{what} {path} is a {kind}, not a regular file; give the path of a file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise CifarctlError(f"{what} {path} is larger than {_size(limit)}, far more than such a file holds; "
                            "check that it is the right file")
    return data


def _size(count: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"


def check_free_space(folder: Path, needed: int, what: str) -> None:
    """Refuse to start work whose files will not fit: found after hours of training, it costs the run."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell (an unusual filesystem): the writes themselves will say
    if free < needed:
        raise WriteError(f"{what} needs about {_size(needed)} free in {folder}, which has {_size(free)}; "
                         "free some space or choose another location", errno.ENOSPC)


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


# Descriptors of the locks this process holds: a forked child (an image decoder) closes its
# copies at once, so a lock never outlives the process that took it.
_HELD_LOCKS: set[int] = set()


class LockBusy(CifarctlError):
    """Another process holds the lock and the caller asked not to wait."""


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, on_wait: Callable[[str], None] | None = None, busy: str | None = None,
                   remove: bool = False) -> Iterator[None]:
    """Hold an exclusive advisory lock on `lock_path` for the life of the block.

    Another holder is waited for, or, given `busy` (the sentence to say, with `{holder}`),
    refused at once with `LockBusy`. The lock goes with the process (kill -9 included); the
    holder's pid is written into the file so the user is told who holds it. With `remove`,
    the lock file is deleted when the block ends (a lock beside the user's own files).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, go ahead
        yield
        return
    while True:
        try:
            _check_parent(lock_path)
            # Never through a link: a planted `.x.lock -> /etc/passwd` must not be truncated.
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                                 | getattr(os, "O_CLOEXEC", 0), 0o644)
            handle = open(descriptor, "r+b")  # noqa: SIM115 (kept open while the lock is held)
        except (WriteError, OSError) as error:
            if isinstance(error, OSError) and error.errno == errno.ELOOP:
                raise CifarctlError(f"the lock file {lock_path} is a symbolic link; remove it") from None
            if error.errno not in READ_ONLY_ERRNOS + (errno.ENOSPC, errno.EDQUOT):
                raise
            yield  # a read-only data dir: nobody can change it, so there is nothing to wait for
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(handle)
            if busy is not None:
                handle.close()
                raise LockBusy(busy.format(holder=holder)) from None
            if on_wait is not None:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        if not remove or _still_at(handle, lock_path):
            break
        handle.close()  # the holder before us removed this file as we opened it: lock the new one
    with handle:
        _HELD_LOCKS.add(handle.fileno())
        try:
            _record_holder(handle)
            yield
        finally:
            _HELD_LOCKS.discard(handle.fileno())
            if remove:
                Path(lock_path).unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _still_at(handle: BinaryIO, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except OSError:
        return False


def _record_holder(handle: BinaryIO) -> None:
    try:
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
    except OSError:
        pass  # the pid is only for the message; the lock itself is what counts


def _lock_holder(handle: BinaryIO) -> str:
    try:
        handle.seek(0)
        text = handle.read(32).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return f"process {text}" if text.isdigit() else "another process"


def release_inherited_locks() -> None:
    """In a forked child: close the copies of the parent's lock descriptors.

    A child that kept them would hold the parent's locks after the parent died, and every
    later command on the same data dir would wait for it forever.
    """
    null = os.open(os.devnull, os.O_RDWR)
    for descriptor in list(_HELD_LOCKS):
        with contextlib.suppress(OSError):
            os.dup2(null, descriptor)  # not close: the number stays taken, so no later file reuses it
    os.close(null)
    _HELD_LOCKS.clear()
