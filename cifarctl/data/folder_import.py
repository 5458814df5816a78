"""Importing an image folder: a test split held out where it has none, images decoded, the dataset installed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cifarctl.atomic_writes import atomic_replace_dir, temporary_dir_beside
from cifarctl.data import image_folder, python_format
from cifarctl.data.acquire_report import FolderImport, HeldOutTestSplit
from cifarctl.data.catalog import Classes, Place
from cifarctl.data.class_balance import balance_of
from cifarctl.data.source_detection import check_builtin_classes
from cifarctl.data.store import install, layout
from cifarctl.errors import UsageError
from cifarctl.events import Events
from cifarctl.input_files import md5_of
from cifarctl.output_paths import check_free_space

DEFAULT_TEST_SPLIT = "0.2"


@dataclass(frozen=True)
class RequestedTestSplit:
    """A test split to hold out of an image folder that has no test/: `--test-split`, `--split-seed`."""

    size: str = DEFAULT_TEST_SPLIT  # a count, or a fraction of the images
    seed: int = 0


def requested_test_split(origin: Path, folder: image_folder.FolderLayout | None, test_split: str | None,
                         split_seed: int | None) -> RequestedTestSplit | None:
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
    return RequestedTestSplit(DEFAULT_TEST_SPLIT if test_split is None else test_split, split_seed or 0)


def install_from_image_folder(folder: image_folder.FolderLayout, place: Place, workers: int, events: Events,
                              skipped: list[tuple[Path, str]],
                              request: RequestedTestSplit | None) -> tuple[dict[str, int], FolderImport]:
    skipped.extend((other, "a folder beside train/ and test/ (only those two are read)") for other in folder.others)
    check_builtin_classes(folder, place)
    classes = image_folder.find_classes(folder.train, place.spec.classes)
    if folder.test is not None and place.spec.classes is None:
        image_folder.check_same_classes(folder, classes)
    listed = {"train": image_folder.list_split(folder.train, classes, skipped)}
    held_out = None
    if folder.test is not None:
        listed["test"] = image_folder.list_split(folder.test, classes, skipped)
    else:
        assert request is not None
        listed, held_out = _split_off_test(*listed["train"], classes, request)
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
    check_free_space(place.data_dir, _bytes_to_write(splits, filenames), f"importing {folder.root}")
    with temporary_dir_beside(place.folder) as scratch:
        staged = scratch / place.spec.folder
        staged.mkdir()
        files_format.write_dataset(staged, splits, classes, filenames)
        md5s = {name: md5_of(staged / name) for name in files_format.REQUIRED_FILES}
        counts = install(staged, place.spec, description, md5s)
        atomic_replace_dir(staged, place.folder)
    balance = balance_of(splits["train"][1].tolist(), classes.names)
    return counts, FolderImport(classes, image_folder.Resized.from_sizes(sizes), held_out, balance)


def _bytes_to_write(splits: dict[str, tuple[np.ndarray, np.ndarray]], filenames: dict[str, list[str]]) -> int:
    """What the import writes, about: each split's data file (its images, labels and file
    names) and its array cache beside it, which holds the images and labels again."""
    arrays = sum(images.nbytes + 8 * len(labels) for images, labels in splits.values())
    names = sum(len(name.encode("utf-8", "surrogateescape")) + 16 for names in filenames.values() for name in names)
    return 2 * arrays + names + (1 << 16)


def _split_off_test(files: list[Path], labels: np.ndarray, classes: Classes, request: RequestedTestSplit,
                    ) -> tuple[dict[str, tuple[list[Path], np.ndarray]], HeldOutTestSplit]:
    """Hold out a seeded test split, as even over the classes as their counts allow: the
    validation split's rule (`train --val-split`), so the two behave alike."""
    import torch  # only here: holding out is the one part of an import that needs it

    from cifarctl.data.validation import held_out_indices, validation_size

    pool = "the image folder"
    size = validation_size(request.size, len(labels), "--test-split", pool)
    held = held_out_indices(torch.from_numpy(labels), size, request.seed, "--test-split", pool)
    test = np.zeros(len(labels), dtype=bool)
    test[held.numpy()] = True

    def part(mask: np.ndarray) -> tuple[list[Path], np.ndarray]:
        return [files[index] for index in np.flatnonzero(mask)], labels[mask]

    tested = set(labels[test].tolist())
    untested = tuple(name for index, name in enumerate(classes.names) if index not in tested)
    return {"train": part(~test), "test": part(test)}, HeldOutTestSplit(size, request.seed, len(labels), untested)
