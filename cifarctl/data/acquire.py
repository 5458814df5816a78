"""Getting CIFAR-10 into the data dir: download, import a local copy, or confirm it is there.

Every path ends the same way: the batch files are verified, cached as arrays, and
recorded in a manifest, all inside a scratch folder that is renamed into place last.
"""

from __future__ import annotations

import shutil
import tarfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cifarctl.data import image_folder
from cifarctl.data.batches_format import MAX_BATCH_BYTES, MAX_META_BYTES, REQUIRED_FILES, write_batches
from cifarctl.data.catalog import META_FILE
from cifarctl.data.catalog import OfficialSource, official_source
from cifarctl.data.fetch import FetchOptions, fetch_archive
from cifarctl.data.store import batches_folder, install, lock_path, verified_dataset, verified_manifest
from cifarctl.errors import ChecksumError, DatasetCorruptError, DatasetMissingError, UsageError
from cifarctl.events import Events
from cifarctl.files import (
    atomic_replace_dir,
    check_output_apart_from_inputs,
    exclusive_lock,
    md5_of,
    resolved,
    temporary_dir_beside,
    write_error,
)


SOURCE_FIX = "get a fresh copy of the dataset and try again"
# The downloaded archive is ours to replace; an imported one is the user's own file.
DOWNLOADED_ARCHIVE_FIX = "run 'cifarctl download --force' to fetch it again"
IMPORTED_ARCHIVE_FIX = ("check that it is CIFAR-10's cifar-10-python.tar.gz and copied whole, "
                        "or import an extracted cifar-10-batches-py folder instead")


@dataclass
class AcquireReport:
    action: str  # "present", "downloaded" or "imported"
    source: str
    path: Path
    counts: dict[str, int]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # files of the source left out, and why

    def as_json(self) -> dict:
        return {"action": self.action, "source": self.source, "path": str(self.path),
                "counts": self.counts, "seconds": round(self.seconds, 3), "notes": self.notes,
                "skipped": [{"path": str(path), "reason": reason} for path, reason in self.skipped]}


def present_dataset(data_dir: Path, thorough: bool = False) -> AcquireReport | None:
    """The report for a dataset that is already whole, or None when there is none yet.

    `thorough` also hashes the array cache in full (and rebuilds it if it changed).
    """
    verify = verified_dataset if thorough else verified_manifest
    try:
        manifest = verify(data_dir, official_source().file_md5s)
    except DatasetMissingError:
        return None
    return AcquireReport("present", manifest.source, batches_folder(data_dir), manifest.counts)


def download_dataset(
    data_dir: Path,
    urls: list[str] | None = None,
    archive_md5: str | None = None,
    options: FetchOptions = FetchOptions(),
    force: bool = False,
    events: Events = Events(),
) -> AcquireReport:
    started = time.monotonic()
    source = official_source()
    data_dir = Path(data_dir)
    with _dataset_lock(data_dir, events):
        if not force and (report := _present_or_none(data_dir, "download")) is not None:
            return report
        archive = data_dir / source.filename
        expected = archive_md5 or source.archive_md5
        if force or not archive.is_file() or md5_of(archive) != expected:
            archive.unlink(missing_ok=True)
            fetch_archive(urls or [source.url], archive, expected, options, events)
        check_official = archive_md5 is None or archive_md5 == source.archive_md5
        counts = _install_from_archive(archive, data_dir, source, check_official, f"downloaded {archive.name}",
                                       DOWNLOADED_ARCHIVE_FIX, events)
    return AcquireReport("downloaded", " ".join(urls or [source.url]), batches_folder(data_dir), counts,
                         time.monotonic() - started)


def import_dataset(
    data_dir: Path,
    origin: Path,
    archive_md5: str | None = None,
    force: bool = False,
    workers: int = 0,
    events: Events = Events(),
) -> AcquireReport:
    """Install CIFAR-10 from a local archive, batches folder or image folder; no network."""
    started = time.monotonic()
    source = official_source()
    data_dir, origin = Path(data_dir), Path(origin)
    resolved(origin, "--from")  # a loop of links is said as such, not as a missing file
    if not origin.exists():
        raise UsageError(f"--from {origin}: no such file or folder")
    if origin.is_dir() and not _batches_folder_in(origin):
        check_output_apart_from_inputs(batches_folder(data_dir), "--data-dir (its dataset folder)", (origin,))
    with _dataset_lock(data_dir, events):
        if not force and (report := _present_or_none(data_dir, f"download --from {origin}")) is not None:
            return report
        notes: list[str] = []
        skipped: list[tuple[Path, str]] = []
        if origin.is_file():
            expected = archive_md5 or source.archive_md5
            actual = md5_of(origin)
            if actual != expected:
                raise ChecksumError(f"{origin} has MD5 {actual}, expected {expected}; "
                                    "pass --md5 if this archive was repackaged on purpose")
            counts = _install_from_archive(origin, data_dir, source, archive_md5 is None, f"imported {origin}",
                                           IMPORTED_ARCHIVE_FIX, events)
        elif (batches := _batches_folder_in(origin)) is not None:
            counts, notes = _install_from_batches(batches, data_dir, source, events)
        elif image_folder.is_image_folder(origin):
            counts = _install_from_image_folder(origin, data_dir, workers, events, skipped)
            notes.append("stored in the official batch format, but not byte-identical to the official release, "
                         "so torchvision's CIFAR10 class (which checks the official MD5s) will not load it")
        else:
            raise UsageError(f"--from {origin}: expected cifar-10-python.tar.gz, a cifar-10-batches-py folder, "
                             "or an image folder with train/<class>/ and test/<class>/")
    return AcquireReport("imported", str(origin), batches_folder(data_dir), counts,
                         time.monotonic() - started, notes, skipped)


def ensure_dataset(data_dir: Path, allow_download: bool, events: Events = Events()) -> None:
    """Make sure a whole dataset is there, downloading it like the tutorial does if allowed."""
    if present_dataset(data_dir) is not None:
        return
    if not allow_download:
        raise DatasetMissingError(f"no CIFAR-10 found in {data_dir}; run 'cifarctl download' "
                                  "(or drop --no-download to fetch it now)")
    events.message(f"CIFAR-10 not found in {data_dir}: downloading it (once)")
    download_dataset(data_dir, events=events)


def _present_or_none(data_dir: Path, command: str) -> AcquireReport | None:
    """The dataset already there, thoroughly checked; None when there is none.

    A dataset is never replaced without --force, not even a damaged one: it may be the
    user's only copy of an import, and the user decides.
    """
    try:
        return present_dataset(data_dir, thorough=True)
    except DatasetCorruptError as error:
        raise DatasetCorruptError(f"{error}; nothing was replaced: 'cifarctl {command} --force' replaces "
                                  "the dataset") from None


def _dataset_lock(data_dir: Path, events: Events):
    return exclusive_lock(lock_path(data_dir),
                          on_wait=lambda: events.message("another cifarctl is writing this data dir; waiting for it"))


def _install_from_archive(archive: Path, data_dir: Path, source: OfficialSource, check_official: bool,
                          description: str, unreadable_fix: str, events: Events) -> dict[str, int]:
    target = batches_folder(data_dir)
    with temporary_dir_beside(target) as scratch:
        events.message(f"extracting {archive.name}")
        _safe_extract(archive, scratch, source.base_folder, unreadable_fix)
        extracted = scratch / source.base_folder
        md5s = _checked_md5s(extracted, source, check_official)
        counts = install(extracted, description, md5s, Path(f"{archive.name}:{source.base_folder}"), SOURCE_FIX)
        atomic_replace_dir(extracted, target)
    return counts


def _install_from_batches(folder: Path, data_dir: Path, source: OfficialSource,
                          events: Events) -> tuple[dict[str, int], list[str]]:
    target = batches_folder(data_dir)
    if folder.resolve() == target.resolve():
        raise UsageError(f"--from {folder} is the data dir's own dataset folder; nothing to import")
    notes = []
    with temporary_dir_beside(target) as scratch:
        staged = scratch / source.base_folder
        staged.mkdir()
        for name in REQUIRED_FILES:
            if not (folder / name).is_file():
                raise DatasetCorruptError(f"{folder} has no {name}; it is not a complete cifar-10-batches-py folder")
            try:
                shutil.copy2(folder / name, staged / name)
            except OSError as error:
                raise write_error(target / name, error) from None
        md5s = {name: md5_of(staged / name) for name in REQUIRED_FILES}
        if any(md5s[name] != source.file_md5s[name] for name in REQUIRED_FILES):
            notes.append("files differ from the official release; their contents were validated instead "
                         "(torchvision's CIFAR10 class, which checks the official MD5s, will not load them)")
        counts = install(staged, f"imported {folder}", md5s, folder, SOURCE_FIX)
        atomic_replace_dir(staged, target)
    return counts, notes


def _install_from_image_folder(root: Path, data_dir: Path, workers: int, events: Events,
                               skipped: list[tuple[Path, str]]) -> dict[str, int]:
    splits = {}
    for split in image_folder.SPLIT_FOLDERS:
        files, labels = image_folder.list_split(root, split, skipped)
        images = image_folder.decode_images(files, workers, events, f"decoding {split} images")
        order = np.random.default_rng(0).permutation(len(labels))  # mixed classes, as in the official batches
        splits[split] = (images[order], labels[order])
    target = batches_folder(data_dir)
    with temporary_dir_beside(target) as scratch:
        staged = scratch / "cifar-10-batches-py"
        staged.mkdir()
        write_batches(staged, splits["train"], splits["test"])
        md5s = {name: md5_of(staged / name) for name in REQUIRED_FILES}
        counts = install(staged, f"imported image folder {root}", md5s)
        atomic_replace_dir(staged, target)
    return counts


def _batches_folder_in(path: Path) -> Path | None:
    for candidate in (path, path / "cifar-10-batches-py"):
        if (candidate / "data_batch_1").is_file():
            return candidate
    return None


def _checked_md5s(folder: Path, source: OfficialSource, check_official: bool) -> dict[str, str]:
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise DatasetCorruptError(f"the archive has no {', '.join(missing)}; it is not a CIFAR-10 python archive")
    md5s = {name: md5_of(folder / name) for name in REQUIRED_FILES}
    if check_official:
        for name in REQUIRED_FILES:
            if md5s[name] != source.file_md5s[name]:
                raise ChecksumError(f"{name} in the archive has MD5 {md5s[name]}, expected "
                                    f"{source.file_md5s[name]}; the archive is damaged")
    return md5s


MAX_ARCHIVE_MEMBERS = 1000  # the official archive has 9 (a folder, 7 batch files, a readme)
MAX_ARCHIVE_BYTES = 8 << 30  # of all members together, as their headers declare (the official: 178 MB)
# The members installed, with their size limits: the batch files, and the official readme
# (kept so the folder is the official release's, as torchvision leaves it).
MAX_MEMBER_BYTES = {name: MAX_BATCH_BYTES for name in REQUIRED_FILES} | {META_FILE: MAX_META_BYTES,
                                                                          "readme.html": MAX_META_BYTES}


def _safe_extract(archive: Path, destination: Path, base_folder: str, unreadable_fix: str) -> None:
    """Extract the dataset's files from `archive` into `destination/base_folder`, and nothing else.

    Every member must lie under `base_folder` and be a regular file or folder (anything
    else is refused); only the batch files the dataset needs are written, each at most its
    size limit, from an archive of at most MAX_ARCHIVE_MEMBERS members. Whatever else a
    repackaged archive holds never reaches the disk.
    """
    target = destination / base_folder
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            wanted: dict[str, tarfile.TarInfo] = {}
            declared = 0
            for count, member in enumerate(tar, start=1):
                declared += member.size
                if count > MAX_ARCHIVE_MEMBERS or declared > MAX_ARCHIVE_BYTES:
                    raise DatasetCorruptError(f"{archive} holds more than {MAX_ARCHIVE_MEMBERS:,} members or "
                                              f"{MAX_ARCHIVE_BYTES >> 30} GB; CIFAR-10's archive holds 9 members "
                                              "and 178 MB: refusing to extract it")
                name = member.name
                parts = Path(name).parts
                if name.startswith("/") or ".." in parts or not parts or parts[0] != base_folder:
                    raise DatasetCorruptError(f"{archive} contains {name!r}, outside {base_folder}/; refusing to extract")
                if not (member.isfile() or member.isdir()):
                    raise DatasetCorruptError(f"{archive} contains a link or device ({name!r}); refusing to extract")
                if member.isfile() and len(parts) == 2 and parts[1] in MAX_MEMBER_BYTES:
                    if parts[1] in wanted:
                        raise DatasetCorruptError(f"{archive} holds {name!r} twice; refusing to extract")
                    if member.size > MAX_MEMBER_BYTES[parts[1]]:
                        raise DatasetCorruptError(f"{archive} holds a {member.size:,}-byte {name!r}, far larger than "
                                                  "a CIFAR-10 batch file: refusing to extract it")
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
