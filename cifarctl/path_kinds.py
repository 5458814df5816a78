"""What a path is: the kind of thing at it when not a regular file, and where it leads through links."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from cifarctl.errors import UsageError

NON_REGULAR_KINDS = (
    (stat.S_ISLNK, "symbolic link"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISFIFO, "FIFO (named pipe)"),
    (stat.S_ISSOCK, "socket"),
)


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


def resolved(path: Path, what: str) -> Path:
    """`path` with every symbolic link and `..` followed; a loop of links is one clear error."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as error:  # Python < 3.13 raises RuntimeError("Symlink loop ...")
        if isinstance(error, OSError) and error.errno != errno.ELOOP:
            raise
        raise UsageError(f"{what} {path} is a loop of symbolic links; point it at a real file or folder") from None
