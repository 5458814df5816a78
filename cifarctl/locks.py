"""Exclusive advisory locks that go with their process, and that no forked child keeps."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from cifarctl.atomic_writes import READ_ONLY_ERRNOS, WriteError, ensure_parent_folder
from cifarctl.errors import CifarctlError

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
            ensure_parent_folder(lock_path)
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
