"""A dataset on disk: where it lives, whether it is whole, and its arrays, loaded from the cache.

Layout under the data dir (the tutorial's `./data`, shared with torchvision):

    cifar-10-python.tar.gz          the downloaded archive (kept, as torchvision keeps it)
    cifar-10-batches-py/            the official batch files
    cifar-10-batches-py/.cifarctl/  manifest.json (sizes, mtimes, MD5s) and *.npy arrays
    cifar-100-python.tar.gz, cifar-100-python/        CIFAR-100, the same way
    NAME/                           a dataset imported from the user's images (CIFAR-100's layout)

The manifest (`manifest.py`) is written only after every file was verified, so later runs
trust files whose size and mtime still match it, and load the arrays in milliseconds. The
arrays (`array_cache.py`) are checked too (recorded size, mtime and MD5; dtype, shape and
label range on every load) and rebuilt from the data files when they do not match. A
read-only data dir is used as it is: what cannot be recorded is verified again in memory
next time.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

from cifarctl.atomic_writes import NO_ROOM_ERRNOS, READ_ONLY_ERRNOS, WriteError
from cifarctl.data import batches_format, python_format
from cifarctl.data.array_cache import Arrays, cache_intact, cached_arrays, save_cache
from cifarctl.data.catalog import BUILTIN_DATASETS, Classes, DatasetSpec, Place, locate
from cifarctl.data.manifest import (
    MANIFEST,
    SPLITS,
    STATE_FOLDER,
    Manifest,
    file_record,
    read_manifest,
    write_manifest,
)
from cifarctl.errors import DatasetCorruptError, DatasetMissingError
from cifarctl.input_files import md5_of

BATCHES_FOLDER = "cifar-10-batches-py"
OFFICIAL_SOURCE = "existing folder (the official release)"
UNOFFICIAL_SOURCE = "existing folder, not the official release (its contents were validated)"


def layout(spec: DatasetSpec):
    """The module that reads and writes the spec's on-disk format (both offer the same functions)."""
    return batches_format if spec.layout == "cifar10" else python_format


def batches_folder(data_dir: Path) -> Path:
    return locate(data_dir).folder


def dataset_paths(data_dir: Path) -> tuple[Path, ...]:
    """What cifarctl keeps of datasets in `data_dir`; nothing else may be written there: the
    built-ins' folders and archives, and every folder holding an imported dataset."""
    paths = []
    for spec in BUILTIN_DATASETS.values():
        place = Place(Path(data_dir), spec)
        paths += [place.folder, place.archive]
    with contextlib.suppress(OSError):
        paths += sorted(manifest.parent.parent for manifest in Path(data_dir).glob(f"*/{STATE_FOLDER}/{MANIFEST}")
                        if manifest.parent.parent not in paths)
    return tuple(paths)


def lock_path(data_dir: Path) -> Path:
    return Path(data_dir) / ".cifarctl.lock"


@contextlib.contextmanager
def _unless_read_only() -> Iterator[None]:
    """Skip recording (manifest, cache) where the data dir cannot be written, read-only or
    full: the data was verified in memory and is used as it is; the next run verifies it
    again. The records are a saving, never a reason for `evaluate` or `train` to fail."""
    try:
        yield
    except (WriteError, OSError) as error:
        if error.errno not in READ_ONLY_ERRNOS + NO_ROOM_ERRNOS:
            raise


def describe_dataset(place: Place) -> str:
    """One line saying what the place holds, from its manifest (no verification)."""
    manifest = read_manifest(place.folder, layout(place.spec).REQUIRED_FILES)
    if manifest is None:
        return f"dataset: no {place.spec.title} recorded in {place.folder}"
    return (f"dataset: {place.spec.title}, {manifest.counts['train']:,} training and {manifest.counts['test']:,} "
            f"test images in {place.folder}, from {manifest.source}")


# --- verifying the batch files ---------------------------------------------------------------

def missing_files(folder: Path, required: tuple[str, ...] = batches_format.REQUIRED_FILES) -> list[str]:
    return [name for name in required if not (folder / name).is_file()]


def verified_manifest(place: Place, official_md5s: dict[str, str] | None = None) -> Manifest:
    """The manifest of a whole, verified dataset; raises if the dataset is missing or damaged.

    Without a usable manifest (a folder torchvision downloaded, or files copied in by hand:
    `cp cifar-10-batches-py/*` leaves the hidden .cifarctl/ behind), the files are checked
    against `official_md5s`, parsed and validated, and a new manifest is recorded.
    """
    folder, required = place.folder, layout(place.spec).REQUIRED_FILES
    missing = missing_files(folder, required)
    if len(missing) == len(required):
        raise DatasetMissingError(f"no {_called(place.spec)} found in {place.data_dir}; {place.spec.missing_hint()}")
    if missing:
        raise DatasetCorruptError(f"the dataset in {folder} is incomplete (missing {', '.join(missing)}); "
                                  f"{fix_for(place.spec)}")
    manifest = read_manifest(folder, required)
    if manifest is None:
        return _adopt(place, official_md5s)
    if manifest.matches_disk(folder):
        return manifest
    return _recheck(place, manifest)


def _called(spec: DatasetSpec) -> str:
    return spec.title if spec.builtin else f"dataset {spec.name!r}"


def fix_for(spec: DatasetSpec) -> str:
    """What to do about a damaged dataset: fetch it again, or import the user's images again."""
    if spec.builtin:
        return f"run 'cifarctl download{spec.option()} --force' to fetch a fresh copy"
    return f"import it again with 'cifarctl download --dataset {spec.name} --from FOLDER --force'"


def _adopt(place: Place, official_md5s: dict[str, str] | None) -> Manifest:
    """A folder with no manifest: the official files are known by their MD5s; others (an
    import whose manifest was lost) are validated by content, as `download --from` does."""
    folder, required = place.folder, layout(place.spec).REQUIRED_FILES
    md5s = {name: md5_of(folder / name) for name in required}
    official = official_md5s is not None and all(md5s[name] == official_md5s.get(name) for name in required)
    _, splits = parse_splits(folder, place.spec)
    files = {name: file_record(folder / name, md5s[name]) for name in required}
    manifest = Manifest(OFFICIAL_SOURCE if official else UNOFFICIAL_SOURCE, files, counts_of(splits))
    return _record(folder, manifest, splits)


def _recheck(place: Place, manifest: Manifest) -> Manifest:
    """Files changed on disk since they were verified: a touched file is fine, a changed one is not."""
    folder, fix = place.folder, fix_for(place.spec)
    for name in layout(place.spec).REQUIRED_FILES:
        path, recorded = folder / name, manifest.files[name]
        size = path.stat().st_size
        if size != recorded["size"]:
            raise DatasetCorruptError(
                f"data file {path} is truncated or corrupt ({size:,} bytes, expected {recorded['size']:,}); {fix}")
        if md5_of(path) != recorded["md5"]:
            raise DatasetCorruptError(f"data file {path} is corrupt (its checksum changed); {fix}")
    files = {name: file_record(folder / name, manifest.files[name]["md5"]) for name in manifest.files}
    refreshed = dataclasses.replace(manifest, files=files)
    with _unless_read_only():
        write_manifest(folder, refreshed)
    return refreshed


# --- parsing, installing and loading ----------------------------------------------------------

def parse_splits(folder: Path, spec: DatasetSpec, shown_as: Path | None = None,
                 fix: str | None = None) -> tuple[Classes, dict[str, Arrays]]:
    """The classes and every split, parsed from the data files and validated (meta, shapes,
    dtypes, labels). `shown_as` and `fix` word the errors for files imported from elsewhere."""
    fix = fix or fix_for(spec)
    files = layout(spec)
    classes = files.read_classes(folder, spec.classes, shown_as, fix)
    return classes, {split: files.read_split(folder, split, classes, shown_as, fix) for split in SPLITS}


def counts_of(splits: dict[str, Arrays]) -> dict[str, int]:
    return {split: len(labels) for split, (_, labels) in splits.items()}


def install(folder: Path, spec: DatasetSpec, source: str, md5s: dict[str, str], shown_as: Path | None = None,
            fix: str | None = None) -> dict[str, int]:
    """Validate a freshly staged dataset folder, cache its arrays and write its manifest."""
    _, splits = parse_splits(folder, spec, shown_as, fix)
    files = {name: file_record(folder / name, md5s[name]) for name in layout(spec).REQUIRED_FILES}
    manifest = Manifest(source, files, counts_of(splits), save_cache(folder, splits))
    write_manifest(folder, manifest)
    return manifest.counts


def _record(folder: Path, manifest: Manifest, splits: dict[str, Arrays]) -> Manifest:
    """Cache `splits` and write the manifest, as far as the data dir can be written."""
    with _unless_read_only():
        manifest = dataclasses.replace(manifest, cache=save_cache(folder, splits))
        write_manifest(folder, manifest)
    return manifest


def _rebuilt(place: Place, manifest: Manifest) -> tuple[Manifest, dict[str, Arrays]]:
    _, splits = parse_splits(place.folder, place.spec)
    return _record(place.folder, dataclasses.replace(manifest, counts=counts_of(splits)), splits), splits


def verified_dataset(place: Place, official_md5s: dict[str, str] | None = None) -> Manifest:
    """Like `verified_manifest`, and the cache is hashed in full (rebuilt if it changed):
    the thorough check `download` makes of a dataset that is already there."""
    manifest = verified_manifest(place, official_md5s)
    if all(cache_intact(place.folder, manifest, split, hash_always=True) for split in SPLITS):
        return manifest
    return _rebuilt(place, manifest)[0]


def dataset_classes(place: Place) -> Classes:
    """The place's classes: a built-in's own, or an imported dataset's from its verified meta file."""
    if place.spec.classes is not None:
        return place.spec.classes
    verified_manifest(place)
    return _recorded_classes(place)


def _recorded_classes(place: Place) -> Classes:
    """A built-in's own classes, or those of an imported dataset's meta file (verified by the caller)."""
    if place.spec.classes is not None:
        return place.spec.classes
    return layout(place.spec).read_classes(place.folder, None, None, fix_for(place.spec))


def load_arrays(place: Place, split: str) -> Arrays:
    """One split's images (N, 3, 32, 32) uint8 and labels (N,) int64, from the cache."""
    return load_labelled(place, split)[0]


def load_labelled(place: Place, split: str) -> tuple[Arrays, Classes]:
    """One split's arrays and the dataset's classes, verifying the dataset once."""
    manifest = verified_manifest(place)
    classes = _recorded_classes(place)
    arrays = cached_arrays(place.folder, manifest, split, len(classes))
    if arrays is None:  # a missing, changed or damaged cache is rebuilt from the verified data files
        _, splits = _rebuilt(place, manifest)
        arrays = splits[split]
    return arrays, classes
