"""A dataset on disk: where it lives, whether it is whole, and a fast array cache.

Layout under the data dir (the tutorial's `./data`, shared with torchvision):

    cifar-10-python.tar.gz          the downloaded archive (kept, as torchvision keeps it)
    cifar-10-batches-py/            the official batch files
    cifar-10-batches-py/.cifarctl/  manifest.json (sizes, mtimes, MD5s) and *.npy arrays
    cifar-100-python.tar.gz, cifar-100-python/        CIFAR-100, the same way
    NAME/                           a dataset imported from the user's images (CIFAR-100's layout)

The manifest is written only after every file was verified, so later runs trust files
whose size and mtime still match it, and load the arrays in milliseconds. The arrays are
checked too (recorded size, mtime and MD5; dtype, shape and label range on every load) and
rebuilt from the data files when they do not match. A read-only data dir is used as it
is: what cannot be recorded is verified again in memory next time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cifarctl.atomic_writes import READ_ONLY_ERRNOS, WriteError, atomic_write
from cifarctl.data import batches_format, python_format
from cifarctl.data.catalog import BUILTIN_DATASETS, IMAGE_SHAPE, Classes, DatasetSpec, Place, locate
from cifarctl.errors import CifarctlError, DatasetCorruptError, DatasetMissingError
from cifarctl.input_files import md5_of, read_regular_file
from cifarctl.json_documents import load_json

BATCHES_FOLDER = "cifar-10-batches-py"
STATE_FOLDER = ".cifarctl"
MANIFEST = "manifest.json"
SPLITS = ("train", "test")
MD5_PATTERN = re.compile(r"[0-9a-f]{32}")
MAX_MANIFEST_BYTES = 1 << 20  # a manifest is about 2 KB
MANIFEST_VERSION = 1  # manifests written before the field was added are version 1 too
OFFICIAL_SOURCE = "existing folder (the official release)"
UNOFFICIAL_SOURCE = "existing folder, not the official release (its contents were validated)"

Arrays = tuple[np.ndarray, np.ndarray]  # images (N, 3, 32, 32) uint8, labels (N,) int64


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


def cache_files(folder: Path, split: str) -> tuple[Path, Path]:
    state = folder / STATE_FOLDER
    return state / f"{split}_images.npy", state / f"{split}_labels.npy"


@dataclass(frozen=True)
class Manifest:
    source: str
    files: dict[str, dict[str, Any]]  # batch file name -> size, mtime_ns, md5
    counts: dict[str, int]
    cache: dict[str, dict[str, Any]] = field(default_factory=dict)  # .npy name -> size, mtime_ns, md5

    def matches_disk(self, folder: Path) -> bool:
        return all(_unchanged(folder / name, record) for name, record in self.files.items())

    def as_json(self) -> dict[str, Any]:
        return {"version": MANIFEST_VERSION, "source": self.source, "files": self.files, "counts": self.counts,
                "cache": self.cache}


def file_record(path: Path, md5: str | None = None) -> dict[str, Any]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "md5": md5 or md5_of(path)}


def _unchanged(path: Path, record: dict[str, Any]) -> bool:
    try:
        stat = path.stat()
    except OSError:
        return False
    return stat.st_size == record["size"] and stat.st_mtime_ns == record["mtime_ns"]


# --- the manifest on disk: validated before it is believed ---------------------------------

def read_manifest(folder: Path, required: tuple[str, ...] = batches_format.REQUIRED_FILES) -> Manifest | None:
    """The recorded manifest, or None when it is missing, unreadable or not of the right shape
    (`required`: the data files it must record)."""
    try:
        text = read_regular_file(folder / STATE_FOLDER / MANIFEST, "manifest", MAX_MANIFEST_BYTES).decode("utf-8")
        document = load_json(text)
    except (OSError, ValueError, CifarctlError):  # ValueError covers bad or deep JSON and bytes that are not UTF-8
        return None
    return manifest_from_json(document, required)


def manifest_from_json(document: Any, required: tuple[str, ...] = batches_format.REQUIRED_FILES) -> Manifest | None:
    if not isinstance(document, dict) or not isinstance(document.get("source"), str):
        return None
    if document.get("version", 1) != MANIFEST_VERSION:  # a newer cifarctl's: verify again, as without one
        return None
    files, counts, cache = document.get("files"), document.get("counts"), document.get("cache", {})
    if not isinstance(files, dict) or not all(_is_record(files.get(name)) for name in required):
        return None
    if not isinstance(counts, dict) or not all(_is_count(counts.get(split)) for split in SPLITS):
        return None
    if not isinstance(cache, dict) or not all(_is_record(record) for record in cache.values()):
        return None
    return Manifest(document["source"], {name: files[name] for name in required},
                    {split: counts[split] for split in SPLITS}, dict(cache))


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_record(record: Any) -> bool:
    return (isinstance(record, dict) and _is_count(record.get("size")) and _is_count(record.get("mtime_ns"))
            and isinstance(record.get("md5"), str) and MD5_PATTERN.fullmatch(record["md5"]) is not None)


def write_manifest(folder: Path, manifest: Manifest) -> Manifest:
    (folder / STATE_FOLDER).mkdir(exist_ok=True)
    with atomic_write(folder / STATE_FOLDER / MANIFEST) as handle:
        handle.write(json.dumps(manifest.as_json(), indent=2).encode())
    return manifest


@contextlib.contextmanager
def _unless_read_only() -> Iterator[None]:
    """Skip recording (manifest, cache) where the data dir cannot be written: the data was
    verified in memory and is used as it is; the next run verifies it again."""
    try:
        yield
    except (WriteError, OSError) as error:
        if error.errno not in READ_ONLY_ERRNOS:
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


# --- the array cache -------------------------------------------------------------------------

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


def save_cache(folder: Path, splits: dict[str, Arrays]) -> dict[str, dict[str, Any]]:
    """Store each split as .npy arrays; return their records for the manifest."""
    (folder / STATE_FOLDER).mkdir(exist_ok=True)
    records = {}
    for split, arrays in splits.items():
        for path, array in zip(cache_files(folder, split), arrays):
            with atomic_write(path) as handle:
                np.save(handle, array, allow_pickle=False)
            records[path.name] = file_record(path)
    return records


def _record(folder: Path, manifest: Manifest, splits: dict[str, Arrays]) -> Manifest:
    """Cache `splits` and write the manifest, as far as the data dir can be written."""
    with _unless_read_only():
        manifest = dataclasses.replace(manifest, cache=save_cache(folder, splits))
        write_manifest(folder, manifest)
    return manifest


def _rebuilt(place: Place, manifest: Manifest) -> tuple[Manifest, dict[str, Arrays]]:
    _, splits = parse_splits(place.folder, place.spec)
    return _record(place.folder, dataclasses.replace(manifest, counts=counts_of(splits)), splits), splits


def cache_intact(folder: Path, manifest: Manifest, split: str, hash_always: bool = False) -> bool:
    """The split's .npy files are the ones recorded; an unchanged size and mtime is trusted
    unless `hash_always`, anything else must still have the recorded MD5."""
    for path in cache_files(folder, split):
        record = manifest.cache.get(path.name)
        if record is None:
            return False
        try:
            size = path.stat().st_size
        except OSError:
            return False
        if size != record["size"]:
            return False
        if (hash_always or not _unchanged(path, record)) and md5_of(path) != record["md5"]:
            return False
    return True


def _valid_arrays(images: np.ndarray, labels: np.ndarray, count: int, classes: int) -> bool:
    return (images.dtype == np.uint8 and images.shape == (count, *IMAGE_SHAPE)
            and labels.dtype.kind in "iu" and labels.shape == (count,)
            and (count == 0 or (int(labels.min()) >= 0 and int(labels.max()) < classes)))


def _cached_arrays(folder: Path, manifest: Manifest, split: str, classes: int) -> Arrays | None:
    if not cache_intact(folder, manifest, split):
        return None
    images_path, labels_path = cache_files(folder, split)
    try:
        images = np.load(images_path, allow_pickle=False)
        labels = np.load(labels_path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if not _valid_arrays(images, labels, manifest.counts[split], classes):
        return None
    return images, labels.astype(np.int64, copy=False)


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
    arrays = _cached_arrays(place.folder, manifest, split, len(classes))
    if arrays is None:  # a missing, changed or damaged cache is rebuilt from the verified data files
        _, splits = _rebuilt(place, manifest)
        arrays = splits[split]
    return arrays, classes
