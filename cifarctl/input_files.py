"""Reading the files a command is given: regular files only, within a size limit, hashed in chunks."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

from cifarctl.errors import CifarctlError
from cifarctl.path_kinds import NON_REGULAR_KINDS, existing_kind
from cifarctl.sizes import size_text

CHUNK = 1 << 20


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
        raise CifarctlError(f"{what} {path} is larger than {size_text(limit)}, far more than such a file holds; "
                            "check that it is the right file")
    return data


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
