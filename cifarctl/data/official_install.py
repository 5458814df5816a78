"""Installing the official release from its archive or its extracted folder, checked against its MD5s."""

from __future__ import annotations

import shutil
from pathlib import Path

from cifarctl.atomic_writes import atomic_replace_dir, temporary_dir_beside, write_error
from cifarctl.data.archives import safe_extract
from cifarctl.data.catalog import DatasetSpec, OfficialSource, Place
from cifarctl.data.store import install, layout
from cifarctl.errors import ChecksumError, DatasetCorruptError, UsageError
from cifarctl.events import Events
from cifarctl.input_files import md5_of

SOURCE_FIX = "get a fresh copy of the dataset and try again"


def install_from_archive(archive: Path, place: Place, source: OfficialSource, check_official: bool,
                         description: str, unreadable_fix: str, events: Events) -> dict[str, int]:
    target = place.folder
    with temporary_dir_beside(target) as scratch:
        events.message(f"extracting {archive.name}")
        safe_extract(archive, scratch, source.base_folder, unreadable_fix, place.spec)
        extracted = scratch / source.base_folder
        md5s = _checked_md5s(extracted, place.spec, source, check_official)
        counts = install(extracted, place.spec, description, md5s, Path(f"{archive.name}:{source.base_folder}"),
                         SOURCE_FIX)
        atomic_replace_dir(extracted, target)
    return counts


def install_from_official_folder(folder: Path, place: Place, source: OfficialSource,
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
