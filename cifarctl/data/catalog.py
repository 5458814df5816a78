"""What CIFAR-10 is: its classes and where the official archive comes from.

The URL and checksums are torchvision's own `CIFAR10` class attributes. They are read from
torchvision's source with `ast` instead of importing it, because importing torchvision
loads torch (seconds), and `cifarctl download` on a present dataset must answer at once.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cifarctl.errors import CifarctlError

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SHORT_NAMES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SHAPE = (3, 32, 32)
IMAGE_BYTES = 3 * 32 * 32
TRAIN_FILES = tuple(f"data_batch_{index}" for index in range(1, 6))
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"


@dataclass(frozen=True)
class OfficialSource:
    url: str
    filename: str
    base_folder: str
    archive_md5: str
    file_md5s: dict[str, str]  # data_batch_1..5, test_batch and batches.meta


@lru_cache(maxsize=1)
def official_source() -> OfficialSource:
    attributes = _torchvision_cifar10_attributes()
    try:
        files = {name: md5 for name, md5 in attributes["train_list"] + attributes["test_list"]}
        files[attributes["meta"]["filename"]] = attributes["meta"]["md5"]
        return OfficialSource(
            url=attributes["url"],
            filename=attributes["filename"],
            base_folder=attributes["base_folder"],
            archive_md5=attributes["tgz_md5"],
            file_md5s=files,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CifarctlError(f"torchvision's CIFAR10 class has an unexpected layout ({error}); "
                            "pass --url and --md5 explicitly") from None


def _torchvision_cifar10_attributes() -> dict:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        raise CifarctlError("torchvision is not installed; install it with 'pip install torchvision'")
    source_file = Path(spec.submodule_search_locations[0]) / "datasets" / "cifar.py"
    try:
        tree = ast.parse(source_file.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == "CIFAR10":
                return {
                    target.id: ast.literal_eval(statement.value)
                    for statement in node.body
                    if isinstance(statement, ast.Assign)
                    for target in statement.targets
                    if isinstance(target, ast.Name)
                }
    except (OSError, SyntaxError, ValueError):
        pass
    return _imported_attributes()  # an unusual install: fall back to the slow, sure way


def _imported_attributes() -> dict:
    from torchvision.datasets import CIFAR10

    names = ("url", "filename", "base_folder", "tgz_md5", "train_list", "test_list", "meta")
    return {name: getattr(CIFAR10, name) for name in names}


def class_index(name: str) -> int:
    """The label index of a long (airplane) or tutorial short (plane) class name."""
    key = name.strip().lower()
    for names in (CLASS_NAMES, SHORT_NAMES):
        if key in names:
            return names.index(key)
    raise ValueError(f"{name!r} is not a CIFAR-10 class; use one of: {', '.join(SHORT_NAMES)}")
