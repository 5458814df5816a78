"""Getting a dataset into the data dir: download, import a local copy, or confirm it is there.

CIFAR-10 and CIFAR-100 are downloaded, or imported from their archive, their extracted
folder or an image-folder copy; the user's own datasets are imported from image folders.
Every path ends the same way: the data files are verified, cached as arrays, and
recorded in a manifest, all inside a scratch folder that is renamed into place last.
"""

from __future__ import annotations

import shutil
import tarfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cifarctl.atomic_writes import atomic_replace_dir, temporary_dir_beside, write_error
from cifarctl.data import image_folder, python_format
from cifarctl.data.batches_format import MAX_BATCH_BYTES, MAX_META_BYTES
from cifarctl.data.catalog import BUILTIN_DATASETS, Classes, DatasetSpec, OfficialSource, Place, official_source
from cifarctl.data.fetch import FetchOptions, fetch_archive
from cifarctl.data.manifest import STATE_FOLDER
from cifarctl.data.store import (
    dataset_classes,
    install,
    layout,
    lock_path,
    verified_dataset,
    verified_manifest,
)
from cifarctl.errors import ChecksumError, DatasetCorruptError, DatasetMissingError, UsageError
from cifarctl.events import Events
from cifarctl.input_files import md5_of
from cifarctl.locks import exclusive_lock
from cifarctl.output_paths import check_output_apart_from_inputs
from cifarctl.path_kinds import resolved

SOURCE_FIX = "get a fresh copy of the dataset and try again"
# The downloaded archive is ours to replace; an imported one is the user's own file.
def downloaded_archive_fix(spec: DatasetSpec) -> str:
    return f"run 'cifarctl download{spec.option()} --force' to fetch it again"


def imported_archive_fix(source: OfficialSource) -> str:
    return (f"check that it is {source.filename} and copied whole, "
            f"or import an extracted {source.base_folder} folder instead")


def source_of(spec: DatasetSpec) -> OfficialSource:
    if spec.torchvision_class is None:
        raise UsageError(f"{spec.name!r} is not a built-in dataset (those are cifar10 and cifar100), so there is "
                         f"nothing to download; import your own images with 'cifarctl download --dataset {spec.name} "
                         "--from FOLDER'")
    return official_source(spec.torchvision_class)


@dataclass
class AcquireReport:
    action: str  # "present", "downloaded" or "imported"
    source: str
    path: Path
    counts: dict[str, int]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # files of the source left out, and why
    folder: FolderImport | None = None  # what an image-folder import found
    classes: tuple[str, ...] = ()  # the dataset's class names, in label order

    def facts(self) -> list[str]:
        """What an image-folder import found, one line each, for the report."""
        return self.folder.describe() if self.folder else []

    def as_json(self) -> dict:
        found = self.folder.as_json() if self.folder else {"classes": None, "resized": None, "test_split": None}
        return {"action": self.action, "source": self.source, "path": str(self.path),
                "counts": self.counts, "seconds": round(self.seconds, 3), "notes": self.notes,
                "skipped": [{"path": str(path), "reason": reason} for path, reason in self.skipped], **found,
                "classes": list(self.classes) or found["classes"]}


DEFAULT_TEST_SPLIT = "0.2"


@dataclass(frozen=True)
class HoldOut:
    """A test split to hold out of an image folder that has no test/: `--test-split`, `--split-seed`."""

    size: str = DEFAULT_TEST_SPLIT  # a count, or a fraction of the images
    seed: int = 0


@dataclass(frozen=True)
class HeldOut:
    size: int
    seed: int
    of: int
    untested: tuple[str, ...] = ()  # classes with no image in the test split (too few images, or too many classes)

    def describe(self) -> str:
        line = (f"test split: {self.size:,} of {self.of:,} images held out, as even over the classes as their "
                f"counts allow (seed {self.seed})")
        if self.untested:
            shown = ", ".join(self.untested[:5]) + (", ..." if len(self.untested) > 5 else "")
            line += (f"; {len(self.untested):,} classes have no test image ({shown}): evaluate cannot measure them "
                     "(hold out more with --test-split)")
        return line

    def as_json(self) -> dict:
        return {"size": self.size, "seed": self.seed, "of": self.of, "classes_without_test_images": list(self.untested)}


@dataclass(frozen=True)
class FolderImport:
    classes: Classes
    resized: image_folder.Resized
    held_out: HeldOut | None  # None: the folder's own test/

    def describe(self) -> list[str]:
        lines = [self.classes.describe()]
        if self.resized.images:
            lines.append(self.resized.describe())
        if self.held_out:
            lines.append(self.held_out.describe())
        return lines

    def as_json(self) -> dict:
        return {"classes": list(self.classes.names), "resized": self.resized.as_json(),
                "test_split": self.held_out.as_json() if self.held_out else None}


def present_dataset(place: Place, thorough: bool = False) -> AcquireReport | None:
    """The report for a dataset that is already whole, or None when there is none yet.

    `thorough` also hashes the array cache in full (and rebuilds it if it changed).
    """
    verify = verified_dataset if thorough else verified_manifest
    official = official_source(place.spec.torchvision_class).file_md5s if place.spec.builtin else None
    try:
        manifest = verify(place, official)
    except DatasetMissingError:
        return None
    return AcquireReport("present", manifest.source, place.folder, manifest.counts,
                         classes=dataset_classes(place).names)


def download_dataset(
    place: Place,
    urls: list[str] | None = None,
    archive_md5: str | None = None,
    options: FetchOptions = FetchOptions(),
    force: bool = False,
    events: Events = Events(),
) -> AcquireReport:
    started = time.monotonic()
    source = source_of(place.spec)
    with _dataset_lock(place.data_dir, events):
        if not force and (report := _present_or_none(place, f"download{place.spec.option()}")) is not None:
            return report
        archive = place.data_dir / source.filename
        expected = archive_md5 or source.archive_md5
        if force or not archive.is_file() or md5_of(archive) != expected:
            archive.unlink(missing_ok=True)
            fetch_archive(urls or [source.url], archive, expected, options, events)
        check_official = archive_md5 is None or archive_md5 == source.archive_md5
        counts = _install_from_archive(archive, place, source, check_official, f"downloaded {archive.name}",
                                       downloaded_archive_fix(place.spec), events)
    return AcquireReport("downloaded", " ".join(urls or [source.url]), place.folder, counts,
                         time.monotonic() - started, classes=dataset_classes(place).names)


def import_dataset(
    place: Place,
    origin: Path,
    archive_md5: str | None = None,
    force: bool = False,
    workers: int = 0,
    events: Events = Events(),
    test_split: str | None = None,
    split_seed: int | None = None,
) -> AcquireReport:
    """Install a dataset from a local archive, extracted folder or image folder; no network.

    An image folder without test/ has a test split held out of its images: `test_split`
    (a count or a fraction; 0.2 unless given) with `split_seed` (0 unless given)."""
    started = time.monotonic()
    spec, origin = place.spec, Path(origin)
    source = official_source(spec.torchvision_class) if spec.builtin else None
    resolved(origin, "--from")  # a loop of links is said as such, not as a missing file
    if not origin.exists():
        raise UsageError(f"--from {origin}: no such file or folder")
    if (other := _other_builtin(origin, place)) is not None:
        raise UsageError(f"--from {origin} is {other.title}'s {'archive' if origin.is_file() else 'folder'}; "
                         f"add --dataset {other.name}")
    folder = None
    if origin.is_dir() and not _official_folder_in(origin, place):
        check_output_apart_from_inputs(place.folder, "--data-dir (its dataset folder)", (origin,))
        folder = image_folder.folder_layout(origin)
        if folder is not None:
            _check_data_dir_apart(place, folder)
    hold_out = _hold_out(origin, folder, test_split, split_seed)
    _check_not_foreign(place)
    with _dataset_lock(place.data_dir, events):
        if not force and (report := _present_or_none(place, f"download{spec.option()} --from {origin}")) is not None:
            return report
        notes: list[str] = []
        skipped: list[tuple[Path, str]] = []
        found = None
        if origin.is_file() and source is not None:
            expected = archive_md5 or source.archive_md5
            actual = md5_of(origin)
            if actual != expected:
                raise ChecksumError(f"{origin} has MD5 {actual}, expected {expected}; "
                                    "pass --md5 if this archive was repackaged on purpose")
            counts = _install_from_archive(origin, place, source, archive_md5 is None, f"imported {origin}",
                                           imported_archive_fix(source), events)
        elif source is not None and (official := _official_folder_in(origin, place)) is not None:
            counts, notes = _install_from_official_folder(official, place, source, events)
        elif folder is not None:
            counts, found = _install_from_image_folder(folder, place, workers, events, skipped, hold_out)
            if spec.builtin:
                notes.append(f"stored in the official {spec.title} format, but not byte-identical to the official "
                             f"release, so torchvision's {spec.torchvision_class} class (which checks the official "
                             "MD5s) will not load it")
        else:
            raise UsageError(f"--from {origin}: {_expected_sources(spec, source)}")
    return AcquireReport("imported", str(origin), place.folder, counts, time.monotonic() - started, notes, skipped,
                         found, dataset_classes(place).names)


def _hold_out(origin: Path, folder: image_folder.FolderLayout | None, test_split: str | None,
              split_seed: int | None) -> HoldOut | None:
    """The test split to hold out, if the folder has no test/ of its own; asking for one
    where there is nothing to hold it out of is refused."""
    asked = "--test-split" if test_split is not None else "--split-seed" if split_seed is not None else None
    if folder is None:
        if asked:
            raise UsageError(f"{asked} holds a test split out of an image folder, and {origin} is not one; drop it")
        return None
    if folder.test is not None:
        if asked:
            raise UsageError(f"{asked}: {folder.test} already is the test split; drop {asked}, or move test/ "
                             "away to hold a test split out of train/")
        return None
    return HoldOut(DEFAULT_TEST_SPLIT if test_split is None else test_split, split_seed or 0)


def _check_data_dir_apart(place: Place, folder: image_folder.FolderLayout) -> None:
    """The data dir is not among the class folders (`cd photos; cifarctl download --from .`
    would read ./data as a class)."""
    data_dir = resolved(place.data_dir, "--data-dir")
    for classes_folder in (folder.train, folder.test):
        if classes_folder is not None and (data_dir == (top := resolved(classes_folder, "--from"))
                                           or top in data_dir.parents):
            raise UsageError(f"--data-dir {place.data_dir} is inside the image folder's class folders ({classes_folder}), "
                             "where it would be read as images; choose a data dir outside it")


def _expected_sources(spec: DatasetSpec, source: OfficialSource | None) -> str:
    folders = "an image folder (<class>/, train/<class>/, or train/<class>/ and test/<class>/)"
    if source is None:
        return f"expected {folders}"
    return f"expected {source.filename}, a {source.base_folder} folder, or {folders}"


def _check_not_foreign(place: Place) -> None:
    """An imported dataset's folder is the data dir's NAME/: never take over a folder that
    something else put there (only one with cifarctl's manifest, or the layout's files)."""
    folder = place.folder
    if place.spec.builtin or not folder.exists():
        return
    ours = (folder / STATE_FOLDER).is_dir() or any((folder / name).exists() for name in layout(place.spec).REQUIRED_FILES)
    if not folder.is_dir() or not ours:
        raise UsageError(f"{folder} already exists and is not a cifarctl dataset; choose another --dataset name "
                         "or move it away")


def ensure_dataset(place: Place, allow_download: bool, events: Events = Events()) -> None:
    """Make sure a whole dataset is there, downloading a built-in like the tutorial does if allowed."""
    if present_dataset(place) is not None:
        return
    spec = place.spec
    if not spec.builtin:
        raise DatasetMissingError(f"no dataset {spec.name!r} in {place.data_dir}; {spec.missing_hint()}")
    if not allow_download:
        raise DatasetMissingError(f"no {spec.title} found in {place.data_dir}; run 'cifarctl download{spec.option()}' "
                                  "(or drop --no-download to fetch it now)")
    events.message(f"{spec.title} not found in {place.data_dir}: downloading it (once)")
    download_dataset(place, events=events)


def _present_or_none(place: Place, command: str) -> AcquireReport | None:
    """The dataset already there, thoroughly checked; None when there is none.

    A dataset is never replaced without --force, not even a damaged one: it may be the
    user's only copy of an import, and the user decides.
    """
    try:
        return present_dataset(place, thorough=True)
    except DatasetCorruptError as error:
        raise DatasetCorruptError(f"{error}; nothing was replaced: 'cifarctl {command} --force' replaces "
                                  "the dataset") from None


def _dataset_lock(data_dir: Path, events: Events):
    return exclusive_lock(lock_path(data_dir),
                          on_wait=lambda: events.message("another cifarctl is writing this data dir; waiting for it"))


def _install_from_archive(archive: Path, place: Place, source: OfficialSource, check_official: bool,
                          description: str, unreadable_fix: str, events: Events) -> dict[str, int]:
    target = place.folder
    with temporary_dir_beside(target) as scratch:
        events.message(f"extracting {archive.name}")
        _safe_extract(archive, scratch, source.base_folder, unreadable_fix, place.spec)
        extracted = scratch / source.base_folder
        md5s = _checked_md5s(extracted, place.spec, source, check_official)
        counts = install(extracted, place.spec, description, md5s, Path(f"{archive.name}:{source.base_folder}"),
                         SOURCE_FIX)
        atomic_replace_dir(extracted, target)
    return counts


def _install_from_official_folder(folder: Path, place: Place, source: OfficialSource,
                                  events: Events) -> tuple[dict[str, int], list[str]]:
    target, required = place.folder, layout(place.spec).REQUIRED_FILES
    if folder.resolve() == target.resolve():
        raise UsageError(f"--from {folder} is the data dir's own dataset folder; nothing to import")
    notes = []
    with temporary_dir_beside(target) as scratch:
        staged = scratch / source.base_folder
        staged.mkdir()
        for name in required:
            if not (folder / name).is_file():
                raise DatasetCorruptError(f"{folder} has no {name}; it is not a complete {source.base_folder} folder")
            try:
                shutil.copy2(folder / name, staged / name)
            except OSError as error:
                raise write_error(target / name, error) from None
        md5s = {name: md5_of(staged / name) for name in required}
        if any(md5s[name] != source.file_md5s[name] for name in required):
            notes.append(f"files differ from the official release; their contents were validated instead "
                         f"(torchvision's {place.spec.torchvision_class} class, which checks the official MD5s, "
                         "will not load them)")
        counts = install(staged, place.spec, f"imported {folder}", md5s, folder, SOURCE_FIX)
        atomic_replace_dir(staged, target)
    return counts, notes


def _install_from_image_folder(folder: image_folder.FolderLayout, place: Place, workers: int, events: Events,
                               skipped: list[tuple[Path, str]],
                               hold_out: HoldOut | None) -> tuple[dict[str, int], FolderImport]:
    skipped.extend((other, "a folder beside train/ and test/ (only those two are read)") for other in folder.others)
    _check_builtin_classes(folder, place)
    classes = image_folder.find_classes(folder.train, place.spec.classes)
    if folder.test is not None and place.spec.classes is None:
        image_folder.check_same_classes(folder, classes)
    listed = {"train": image_folder.list_split(folder.train, classes, skipped)}
    held_out = None
    if folder.test is not None:
        listed["test"] = image_folder.list_split(folder.test, classes, skipped)
    else:
        assert hold_out is not None
        listed, held_out = _split_off_test(*listed["train"], classes, hold_out)
    for split, (files, _) in listed.items():
        if place.spec.layout == "cifar100" and len(files) > python_format.MAX_SPLIT_IMAGES:
            raise UsageError(f"--from {folder.root}: its {split} split has {len(files):,} images; a dataset of this "
                             f"layout holds at most {python_format.MAX_SPLIT_IMAGES:,} per split (one data file of "
                             "at most 1 GB each); import a part of the folder")
    splits, filenames, sizes = {}, {}, Counter()
    for split, (files, labels) in listed.items():
        images, found = image_folder.decode_images(files, workers, events, f"decoding {split} images")
        sizes.update(found)
        order = np.random.default_rng(0).permutation(len(labels))  # mixed classes, as in the official batches
        splits[split] = (images[order], labels[order])
        filenames[split] = [image_folder.stored_name(files[index], folder.root) for index in order]
    files_format = layout(place.spec)
    description = f"imported image folder {folder.root}"
    if held_out is not None:
        description += f" (test split held out: {held_out.size:,} of {held_out.of:,} images, seed {held_out.seed})"
    with temporary_dir_beside(place.folder) as scratch:
        staged = scratch / place.spec.folder
        staged.mkdir()
        files_format.write_dataset(staged, splits, classes, filenames)
        md5s = {name: md5_of(staged / name) for name in files_format.REQUIRED_FILES}
        counts = install(staged, place.spec, description, md5s)
        atomic_replace_dir(staged, place.folder)
    return counts, FolderImport(classes, image_folder.Resized.from_sizes(sizes), held_out)


def _split_off_test(files: list[Path], labels: np.ndarray, classes: Classes,
                    hold_out: HoldOut) -> tuple[dict[str, tuple[list[Path], np.ndarray]], HeldOut]:
    """Hold out a seeded test split, as even over the classes as their counts allow: the
    validation split's rule (`train --val-split`), so the two behave alike."""
    import torch  # only here: holding out is the one part of an import that needs it

    from cifarctl.data.validation import held_out_indices, validation_size

    pool = "the image folder"
    size = validation_size(hold_out.size, len(labels), "--test-split", pool)
    held = held_out_indices(torch.from_numpy(labels), size, hold_out.seed, "--test-split", pool)
    test = np.zeros(len(labels), dtype=bool)
    test[held.numpy()] = True

    def part(mask: np.ndarray) -> tuple[list[Path], np.ndarray]:
        return [files[index] for index in np.flatnonzero(mask)], labels[mask]

    tested = set(labels[test].tolist())
    untested = tuple(name for index, name in enumerate(classes.names) if index not in tested)
    return {"train": part(~test), "test": part(test)}, HeldOut(size, hold_out.seed, len(labels), untested)


def _check_builtin_classes(folder: image_folder.FolderLayout, place: Place) -> None:
    """A built-in dataset's image-folder copy names its classes; folders that do not are the
    user's own classes (then the dataset needs a name) or the other built-in's (then say which)."""
    fixed = place.spec.classes
    if fixed is None:
        return
    names = image_folder.class_folder_names(folder.train)
    unknown = [name for name in names if not _names_a_class(fixed, name)]
    if not unknown and 0 < len(names) < len(fixed):
        raise UsageError(f"--from {folder.root} has {len(names)} of {place.spec.title}'s {len(fixed)} classes; for a "
                         f"dataset of just these, name it: cifarctl download --dataset NAME --from {folder.root}")
    if len(unknown) * 2 < len(names):
        return  # a stray folder among the dataset's classes: list_split names it, to be moved or renamed
    for other in BUILTIN_DATASETS.values():
        if other.classes is not None and other is not place.spec and names and all(
                _names_a_class(other.classes, name) for name in names):
            raise UsageError(f"--from {folder.root}: its class folders are {other.title}'s classes; add "
                             f"--dataset {other.name}")
    raise UsageError(f"--from {folder.root}: {folder.train / unknown[0]} is not a {place.spec.title} class "
                     f"({', '.join(fixed.names[:5])}, ...); to import classes of your own, name the dataset: "
                     f"cifarctl download --dataset NAME --from {folder.root}")


def _names_a_class(classes: Classes, name: str) -> bool:
    try:
        classes.index(name)
    except ValueError:
        return False
    return True


def _other_builtin(origin: Path, place: Place) -> DatasetSpec | None:
    """The other built-in dataset `origin` is a copy of (its archive's name or its extracted folder)."""
    for other in BUILTIN_DATASETS.values():
        if other is place.spec:
            continue
        if origin.name == other.archive or _official_folder_in(origin, Place(place.data_dir, other)) is not None:
            return other
    return None


def _official_folder_in(path: Path, place: Place) -> Path | None:
    """`path` or its child named as the official extracted folder, when it holds the first data file."""
    if not place.spec.builtin:
        return None
    first = layout(place.spec).REQUIRED_FILES[0]
    for candidate in (path, path / place.spec.folder):
        if (candidate / first).is_file():
            return candidate
    return None


def _checked_md5s(folder: Path, spec: DatasetSpec, source: OfficialSource, check_official: bool) -> dict[str, str]:
    required = layout(spec).REQUIRED_FILES
    missing = [name for name in required if not (folder / name).is_file()]
    if missing:
        raise DatasetCorruptError(f"the archive has no {', '.join(missing)}; it is not a {spec.title} python archive")
    md5s = {name: md5_of(folder / name) for name in required}
    if check_official:
        for name in required:
            if md5s[name] != source.file_md5s[name]:
                raise ChecksumError(f"{name} in the archive has MD5 {md5s[name]}, expected "
                                    f"{source.file_md5s[name]}; the archive is damaged")
    return md5s


MAX_ARCHIVE_MEMBERS = 1000  # the official archives have 9 (CIFAR-10) and 5 (CIFAR-100)
MAX_ARCHIVE_BYTES = 8 << 30  # of all members together, as their headers declare (the official: 178 and 169 MB)


def member_limits(spec: DatasetSpec) -> dict[str, int]:
    """The members installed, with their size limits: the data files, the meta file, and
    CIFAR-10's official readme (kept so the folder is the official release's, as torchvision leaves it)."""
    files = layout(spec)
    limits = dict.fromkeys(files.REQUIRED_FILES, MAX_BATCH_BYTES) | {files.META_FILE: MAX_META_BYTES}
    return limits | ({"readme.html": MAX_META_BYTES} if spec.layout == "cifar10" else {})


def _safe_extract(archive: Path, destination: Path, base_folder: str, unreadable_fix: str, spec: DatasetSpec) -> None:
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
                    raise DatasetCorruptError(f"{archive} contains {name!r}, outside {base_folder}/; refusing to extract")
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
