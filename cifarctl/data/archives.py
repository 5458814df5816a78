"""Extracting a dataset's .tar.gz archive safely: only its own data files, each within its size limit."""

from __future__ import annotations

import shutil
import tarfile
import zlib
from pathlib import Path

from cifarctl.atomic_writes import write_error
from cifarctl.data.batches_format import MAX_BATCH_BYTES, MAX_META_BYTES
from cifarctl.data.catalog import DatasetSpec
from cifarctl.data.store import layout
from cifarctl.errors import DatasetCorruptError

MAX_ARCHIVE_MEMBERS = 1000  # the official archives have 9 (CIFAR-10) and 5 (CIFAR-100)
MAX_ARCHIVE_BYTES = 8 << 30  # of all members together, as their headers declare (the official: 178 and 169 MB)


def member_limits(spec: DatasetSpec) -> dict[str, int]:
    """The members installed, with their size limits: the data files, the meta file, and
    CIFAR-10's official readme (kept so the folder is the official release's, as torchvision leaves it)."""
    files = layout(spec)
    limits = dict.fromkeys(files.REQUIRED_FILES, MAX_BATCH_BYTES) | {files.META_FILE: MAX_META_BYTES}
    return limits | ({"readme.html": MAX_META_BYTES} if spec.layout == "cifar10" else {})


def safe_extract(archive: Path, destination: Path, base_folder: str, unreadable_fix: str, spec: DatasetSpec) -> None:
    """Extract the dataset's files from `archive` into `destination/base_folder`, and nothing else.

    Every member must lie under `base_folder` and be a regular file or folder (anything
    else is refused); only the batch files the dataset needs are written, each at most its
    size limit, from an archive of at most MAX_ARCHIVE_MEMBERS members. Whatever else a
    repackaged archive holds never reaches the disk.
    """
    target = destination / base_folder
    target.mkdir(parents=True, exist_ok=True)
    limits = member_limits(spec)
    try:
        with tarfile.open(archive, "r:*") as tar:
            wanted: dict[str, tarfile.TarInfo] = {}
            declared = 0
            for count, member in enumerate(tar, start=1):
                declared += member.size
                if count > MAX_ARCHIVE_MEMBERS or declared > MAX_ARCHIVE_BYTES:
                    raise DatasetCorruptError(f"{archive} holds more than {MAX_ARCHIVE_MEMBERS:,} members or "
                                              f"{MAX_ARCHIVE_BYTES >> 30} GB; {spec.title}'s archive holds a few "
                                              "members and under 200 MB: refusing to extract it")
                name = member.name
                parts = Path(name).parts
                if name.startswith("/") or ".." in parts or not parts or parts[0] != base_folder:
                    raise DatasetCorruptError(f"{archive} contains {name!r}, outside {base_folder}/; "
                                              "refusing to extract")
                if not (member.isfile() or member.isdir()):
                    raise DatasetCorruptError(f"{archive} contains a link or device ({name!r}); refusing to extract")
                if member.isfile() and len(parts) == 2 and parts[1] in limits:
                    if parts[1] in wanted:
                        raise DatasetCorruptError(f"{archive} holds {name!r} twice; refusing to extract")
                    if member.size > limits[parts[1]]:
                        raise DatasetCorruptError(f"{archive} holds a {member.size:,}-byte {name!r}, far larger than "
                                                  f"a {spec.title} data file: refusing to extract it")
                    wanted[parts[1]] = member
            for file_name, member in wanted.items():
                source = tar.extractfile(member)
                with source, open(target / file_name, "xb") as copy:
                    shutil.copyfileobj(source, copy, 1 << 20)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        if isinstance(error, OSError) and error.errno is not None:
            raise write_error(destination, error) from None
        raise DatasetCorruptError(f"{archive} is not a readable .tar.gz archive ({error}); "
                                  f"{unreadable_fix}") from None
