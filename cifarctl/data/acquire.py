"""Getting a dataset into the data dir: download, import a local copy, or confirm it is there.

CIFAR-10 and CIFAR-100 are downloaded, or imported from their archive, their extracted
folder or an image-folder copy; the user's own datasets are imported from image folders.
Every path ends the same way: the data files are verified, cached as arrays, and
recorded in a manifest, all inside a scratch folder that is renamed into place last.
The ways in have their own modules: `official_install.py` (the official archive, extracted by
`archives.py`, or its extracted folder), `folder_import.py` (image folders) and
`source_detection.py` (which dataset a source holds); `acquire_report.py` is what they report.
"""

from __future__ import annotations

import time
from pathlib import Path

from cifarctl.data import image_folder
from cifarctl.data.acquire_report import AcquireReport
from cifarctl.data.catalog import DatasetSpec, OfficialSource, Place, official_source
from cifarctl.data.fetch import FetchOptions, fetch_archive
from cifarctl.data.folder_import import install_from_image_folder, requested_test_split
from cifarctl.data.manifest import STATE_FOLDER
from cifarctl.data.official_install import install_from_archive, install_from_official_folder
from cifarctl.data.source_detection import official_folder_in, other_builtin
from cifarctl.data.store import dataset_classes, layout, lock_path, verified_dataset, verified_manifest
from cifarctl.errors import ChecksumError, DatasetCorruptError, DatasetMissingError, UsageError
from cifarctl.events import Events
from cifarctl.input_files import md5_of
from cifarctl.locks import exclusive_lock
from cifarctl.output_paths import check_output_apart_from_inputs
from cifarctl.path_kinds import resolved


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
        counts = install_from_archive(archive, place, source, check_official, f"downloaded {archive.name}",
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
    if (other := other_builtin(origin, place)) is not None:
        raise UsageError(f"--from {origin} is {other.title}'s {'archive' if origin.is_file() else 'folder'}; "
                         f"add --dataset {other.name}")
    folder = None
    if origin.is_dir() and not official_folder_in(origin, place):
        check_output_apart_from_inputs(place.folder, "--data-dir (its dataset folder)", (origin,))
        folder = image_folder.folder_layout(origin)
        if folder is not None:
            _check_data_dir_apart(place, folder)
    request = requested_test_split(origin, folder, test_split, split_seed)
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
            counts = install_from_archive(origin, place, source, archive_md5 is None, f"imported {origin}",
                                          imported_archive_fix(source), events)
        elif source is not None and (official := official_folder_in(origin, place)) is not None:
            counts, notes = install_from_official_folder(official, place, source, events)
        elif folder is not None:
            counts, found = install_from_image_folder(folder, place, workers, events, skipped, request)
            if spec.builtin:
                notes.append(f"stored in the official {spec.title} format, but not byte-identical to the official "
                             f"release, so torchvision's {spec.torchvision_class} class (which checks the official "
                             "MD5s) will not load it")
        else:
            raise UsageError(f"--from {origin}: {_expected_sources(spec, source)}")
    return AcquireReport("imported", str(origin), place.folder, counts, time.monotonic() - started, notes, skipped,
                         found, dataset_classes(place).names)


def _check_data_dir_apart(place: Place, folder: image_folder.FolderLayout) -> None:
    """The data dir is not among the class folders (`cd photos; cifarctl download --from .`
    would read ./data as a class)."""
    data_dir = resolved(place.data_dir, "--data-dir")
    for classes_folder in (folder.train, folder.test):
        if classes_folder is not None and (data_dir == (top := resolved(classes_folder, "--from"))
                                           or top in data_dir.parents):
            raise UsageError(f"--data-dir {place.data_dir} is inside the image folder's class folders "
                             f"({classes_folder}), where it would be read as images; choose a data dir outside it")


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
    ours = ((folder / STATE_FOLDER).is_dir()
            or any((folder / name).exists() for name in layout(place.spec).REQUIRED_FILES))
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
