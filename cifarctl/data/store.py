"""The dataset on disk: where it lives, whether it is whole, and a fast array cache.

Layout under the data dir (the tutorial's `./data`, shared with torchvision):

    cifar-10-python.tar.gz          the downloaded archive (kept, as torchvision keeps it)
    cifar-10-batches-py/            the official batch files
    cifar-10-batches-py/.cifarctl/  manifest.json (sizes, mtimes, MD5s) and *.npy arrays

The manifest is written only after every file's checksum was verified, so later runs
trust files whose size and mtime still match it, and load the arrays in milliseconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cifarctl.data.batches_format import FIX, REQUIRED_FILES, check_meta, read_split
from cifarctl.data.catalog import TEST_FILES, TRAIN_FILES
from cifarctl.errors import DatasetCorruptError, DatasetMissingError
from cifarctl.files import atomic_write, md5_of

BATCHES_FOLDER = "cifar-10-batches-py"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
STATE_FOLDER = ".cifarctl"
MANIFEST = "manifest.json"
SPLITS = {"train": TRAIN_FILES, "test": TEST_FILES}


def batches_folder(data_dir: Path) -> Path:
    return Path(data_dir) / BATCHES_FOLDER


def dataset_paths(data_dir: Path) -> tuple[Path, ...]:
    """What cifarctl keeps of the dataset in `data_dir`; nothing else may be written there."""
    return batches_folder(data_dir), Path(data_dir) / ARCHIVE_NAME


def lock_path(data_dir: Path) -> Path:
    return Path(data_dir) / ".cifarctl.lock"


@dataclass(frozen=True)
class Manifest:
    source: str
    files: dict[str, dict[str, int | str]]
    counts: dict[str, int]

    def matches_disk(self, folder: Path) -> bool:
        for name, recorded in self.files.items():
            try:
                stat = (folder / name).stat()
            except OSError:
                return False
            if stat.st_size != recorded["size"] or stat.st_mtime_ns != recorded["mtime_ns"]:
                return False
        return set(self.files) >= set(REQUIRED_FILES)


def read_manifest(folder: Path) -> Manifest | None:
    try:
        document = json.loads((folder / STATE_FOLDER / MANIFEST).read_text())
        return Manifest(document["source"], document["files"], document["counts"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_manifest(folder: Path, source: str, md5s: dict[str, str], counts: dict[str, int]) -> Manifest:
    files = {}
    for name in REQUIRED_FILES:
        stat = (folder / name).stat()
        files[name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "md5": md5s[name]}
    manifest = Manifest(source, files, counts)
    (folder / STATE_FOLDER).mkdir(exist_ok=True)
    with atomic_write(folder / STATE_FOLDER / MANIFEST) as handle:
        handle.write(json.dumps({"source": source, "files": files, "counts": counts}, indent=2).encode())
    return manifest


def missing_files(folder: Path) -> list[str]:
    return [name for name in REQUIRED_FILES if not (folder / name).is_file()]


def verified_manifest(data_dir: Path, official_md5s: dict[str, str] | None = None) -> Manifest:
    """The manifest of a whole, verified dataset; raises if the dataset is missing or damaged.

    Without a manifest (a folder torchvision downloaded, or one copied in by hand), every
    file is checked against `official_md5s` and parsed once, then a manifest is written.
    """
    folder = batches_folder(data_dir)
    missing = missing_files(folder)
    if len(missing) == len(REQUIRED_FILES):
        raise DatasetMissingError(f"no CIFAR-10 found in {data_dir}; run 'cifarctl download' first")
    if missing:
        raise DatasetCorruptError(f"the dataset in {folder} is incomplete (missing {', '.join(missing)}); {FIX}")
    manifest = read_manifest(folder)
    if manifest is not None:
        if manifest.matches_disk(folder):
            return manifest
        return _recheck(folder, manifest)
    md5s = {name: md5_of(folder / name) for name in REQUIRED_FILES}
    if official_md5s is not None:
        for name in REQUIRED_FILES:
            if md5s[name] != official_md5s[name]:
                raise DatasetCorruptError(f"data file {folder / name} does not match its official checksum; {FIX}")
    counts = build_cache(folder)
    return write_manifest(folder, "existing folder", md5s, counts)


def _recheck(folder: Path, manifest: Manifest) -> Manifest:
    """Files changed on disk since they were verified: a touched file is fine, a changed one is not."""
    for name in REQUIRED_FILES:
        path, recorded = folder / name, manifest.files.get(name)
        if recorded is None:
            raise DatasetCorruptError(f"data file {path} was never verified; {FIX}")
        size = path.stat().st_size
        if size != recorded["size"]:
            raise DatasetCorruptError(
                f"data file {path} is truncated or corrupt ({size:,} bytes, expected {recorded['size']:,}); {FIX}")
        if md5_of(path) != recorded["md5"]:
            raise DatasetCorruptError(f"data file {path} is corrupt (its checksum changed); {FIX}")
    md5s = {name: str(manifest.files[name]["md5"]) for name in REQUIRED_FILES}
    return write_manifest(folder, manifest.source, md5s, manifest.counts)


def build_cache(folder: Path, shown_as: Path | None = None, fix: str = FIX) -> dict[str, int]:
    """Parse the batch files once and store each split as .npy arrays; return the counts.

    `shown_as` and `fix` word the errors for files that are being imported from elsewhere.
    """
    check_meta(folder, shown_as, fix)
    counts = {}
    (folder / STATE_FOLDER).mkdir(exist_ok=True)
    for split, names in SPLITS.items():
        images, labels = read_split(folder, names, shown_as, fix)
        _save_array(folder / STATE_FOLDER / f"{split}_images.npy", images)
        _save_array(folder / STATE_FOLDER / f"{split}_labels.npy", labels)
        counts[split] = len(labels)
    return counts


def _save_array(path: Path, array: np.ndarray) -> None:
    with atomic_write(path) as handle:
        np.save(handle, array, allow_pickle=False)


def load_arrays(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split's images (N, 3, 32, 32) uint8 and labels (N,) int64, from the cache."""
    folder = batches_folder(data_dir)
    manifest = verified_manifest(data_dir)
    for attempt in range(2):
        try:
            images = np.load(folder / STATE_FOLDER / f"{split}_images.npy", allow_pickle=False)
            labels = np.load(folder / STATE_FOLDER / f"{split}_labels.npy", allow_pickle=False)
            if images.shape == (manifest.counts[split], 3, 32, 32) and labels.shape == (len(images),):
                return images, labels.astype(np.int64, copy=False)
        except (OSError, ValueError, EOFError):
            pass
        if attempt == 0:
            build_cache(folder)  # a missing or damaged cache is rebuilt from the batch files
    raise DatasetCorruptError(f"the array cache in {folder / STATE_FOLDER} cannot be rebuilt; {FIX}")
