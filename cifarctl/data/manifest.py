"""A dataset's manifest: the sizes, mtimes and MD5s of its verified files, believed only when well-formed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cifarctl.atomic_writes import atomic_write
from cifarctl.data import batches_format
from cifarctl.dataset_names import MANIFEST, STATE_FOLDER
from cifarctl.errors import CifarctlError
from cifarctl.input_files import md5_of, read_regular_file
from cifarctl.json_documents import load_json

SPLITS = ("train", "test")
MD5_PATTERN = re.compile(r"[0-9a-f]{32}")
MAX_MANIFEST_BYTES = 1 << 20  # a manifest is about 2 KB
MANIFEST_VERSION = 1  # manifests written before the field was added are version 1 too


@dataclass(frozen=True)
class Manifest:
    source: str
    files: dict[str, dict[str, Any]]  # batch file name -> size, mtime_ns, md5
    counts: dict[str, int]
    cache: dict[str, dict[str, Any]] = field(default_factory=dict)  # .npy name -> size, mtime_ns, md5

    def matches_disk(self, folder: Path) -> bool:
        return all(unchanged(folder / name, record) for name, record in self.files.items())

    def as_json(self) -> dict[str, Any]:
        return {"version": MANIFEST_VERSION, "source": self.source, "files": self.files, "counts": self.counts,
                "cache": self.cache}


def file_record(path: Path, md5: str | None = None) -> dict[str, Any]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "md5": md5 or md5_of(path)}


def unchanged(path: Path, record: dict[str, Any]) -> bool:
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
