"""A tiny, learnable CIFAR-10 written in the official on-disk formats.

Each class has its own colour and a bright square in its own position, so even the
tutorial's small Net learns it within a few hundred steps.
"""

from __future__ import annotations

import hashlib
import pickle
import tarfile
from pathlib import Path

import numpy as np

LONG_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SHORT_NAMES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TRAIN_FILES = [f"data_batch_{index}" for index in range(1, 6)]


def make_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` images as (N, 32, 32, 3) uint8 and their labels, balanced over the classes."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    rng.shuffle(labels)
    palette = np.array(
        [[200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40], [200, 40, 200],
         [40, 200, 200], [120, 120, 120], [230, 140, 30], [30, 90, 160], [150, 60, 20]],
        dtype=np.int16,
    )
    images = palette[labels][:, None, None, :] + rng.integers(-30, 31, size=(count, 32, 32, 3))
    for index, label in enumerate(labels):
        row, col = divmod(int(label), 5)
        images[index, 4 + row * 14 : 12 + row * 14, 2 + col * 6 : 8 + col * 6, :] = 255
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)


def _to_rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) -> the official (N, 3072) layout: all red, then green, then blue."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), 3072))


def write_batches(root: Path, train_per_batch: int = 60, test_count: int = 100, seed: int = 0) -> Path:
    """Write `root/cifar-10-batches-py/` exactly like the official archive's contents."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(TRAIN_FILES):
        images, labels = make_images(train_per_batch, seed=seed * 100 + index)
        _dump(folder / name, images, labels, f"training batch {index + 1} of 5")
    images, labels = make_images(test_count, seed=seed * 100 + 99)
    _dump(folder / "test_batch", images, labels, "testing batch 1 of 1")
    meta = {"num_cases_per_batch": train_per_batch, "label_names": LONG_NAMES, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    (folder / "readme.html").write_text("<html>fake CIFAR-10 for tests</html>\n")
    return folder


def _dump(path: Path, images: np.ndarray, labels: np.ndarray, batch_label: str) -> None:
    document = {
        "batch_label": batch_label,
        "labels": [int(label) for label in labels],
        "data": _to_rows(images),
        "filenames": [f"image_{index:05d}.png" for index in range(len(labels))],
    }
    path.write_bytes(pickle.dumps(document, protocol=2))


def write_archive(batches_folder: Path, archive: Path) -> str:
    """Pack a `cifar-10-batches-py/` folder as `cifar-10-python.tar.gz`; return its MD5."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(batches_folder, arcname="cifar-10-batches-py")
    return md5_of(archive)


def write_image_folder(root: Path, per_class_train: int = 6, per_class_test: int = 3,
                       names: list[str] = LONG_NAMES, suffix: str = ".png") -> Path:
    """The layout of public PNG/JPG mirrors: `train/<class>/*.png`, `test/<class>/*.png`."""
    from PIL import Image

    for split, per_class in (("train", per_class_train), ("test", per_class_test)):
        images, labels = make_images(per_class * 10, seed=7 if split == "train" else 8)
        for index, (image, label) in enumerate(zip(images, labels)):
            folder = root / split / names[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{index:04d}{suffix}")
    return root


def write_counted_folder(root: Path, train_counts: dict[str, int], test_per_class: int = 20) -> Path:
    """train/<class>/ with the given counts and test/<class>/ with `test_per_class` each; each
    class its own colour and bright square (fake_cifar's learnable images)."""
    from PIL import Image

    for split, counts in (("train", train_counts), ("test", dict.fromkeys(train_counts, test_per_class))):
        for label, (name, count) in enumerate(counts.items()):
            images, labels = make_images(count * 10, seed=label + (0 if split == "train" else 50))
            chosen = images[labels == label][:count]
            folder = root / split / name
            folder.mkdir(parents=True)
            for index, image in enumerate(chosen):
                Image.fromarray(image).save(folder / f"{index:03d}.png")
    return root


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()
