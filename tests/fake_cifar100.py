"""A tiny, learnable CIFAR-100 written in the official `cifar-100-python/` layout.

Class c has colour c % 10 and a bright square at position c // 10, so the hundred classes
are told apart by pixels alone. Coarse labels follow the official superclasses.
"""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np

from cifarctl.data.catalog import CIFAR100_CLASSES

PALETTE = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40], [200, 40, 200],
                    [40, 200, 200], [120, 120, 120], [230, 140, 30], [30, 90, 160], [150, 60, 20]], dtype=np.int16)


def make_images(per_class: int, seed: int, classes: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(N, 32, 32, 3) uint8 images and their labels, `per_class` of each class, shuffled."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    rng.shuffle(labels)
    images = PALETTE[labels % 10][:, None, None, :] + rng.integers(-25, 26, size=(len(labels), 32, 32, 3))
    for index, label in enumerate(labels):
        row, col = divmod(int(label) // 10, 5)
        images[index, 3 + row * 16 : 11 + row * 16, 1 + col * 6 : 7 + col * 6, :] = 255
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)


def write_cifar100(root: Path, train_per_class: int = 8, test_per_class: int = 3, seed: int = 0) -> Path:
    """Write `root/cifar-100-python/` with train, test and meta as the official archive holds them."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, per_class, offset in (("train", train_per_class, 1), ("test", test_per_class, 2)):
        images, labels = make_images(per_class, seed * 10 + offset)
        document = {
            "filenames": [f"image_{index:05d}.png" for index in range(len(labels))],
            "batch_label": f"{name}ing batch 1 of 1",
            "fine_labels": [int(label) for label in labels],
            "coarse_labels": [CIFAR100_CLASSES.superclass_of[int(label)] for label in labels],
            "data": np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), 3072)),
        }
        (folder / name).write_bytes(pickle.dumps(document, protocol=2))
    meta = {"fine_label_names": list(CIFAR100_CLASSES.names), "coarse_label_names": list(CIFAR100_CLASSES.superclasses)}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    (folder / "file.txt~").write_text("")  # the official archive carries this stray editor backup
    return folder


def write_archive(folder: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-100-python")
