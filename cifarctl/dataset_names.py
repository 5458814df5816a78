"""Dataset names: the built-ins', where they are kept, and the rule a name for the user's own images follows."""

from __future__ import annotations

import re
from pathlib import Path

from cifarctl.errors import UsageError

DEFAULT_DATASET = "cifar10"
# Each built-in's folder and archive under the data dir: torchvision's names, so it finds them too.
BUILTIN_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
BUILTIN_ARCHIVES = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz"}
DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
STATE_FOLDER = ".cifarctl"  # inside a dataset's folder: the manifest and the array cache
MANIFEST = "manifest.json"  # a verified dataset's record of its files
RESERVED_FOLDERS = ({folder.lower() for folder in BUILTIN_FOLDERS.values()}
                    | {archive.lower() for archive in BUILTIN_ARCHIVES.values()}
                    | {"cifar-10", "cifar-100"})


def dataset_name(name: str) -> str:
    """`name` when it names a built-in dataset or is usable for the user's own; UsageError otherwise."""
    return name if name in BUILTIN_FOLDERS else check_dataset_name(name)


def check_dataset_name(name: str) -> str:
    if name.lower() in BUILTIN_FOLDERS or name.lower().replace("-", "") in BUILTIN_FOLDERS:
        raise UsageError(f"{name!r} is not how a built-in dataset is spelled; use {' or '.join(BUILTIN_FOLDERS)}")
    if not DATASET_NAME.fullmatch(name) or name.lower() in RESERVED_FOLDERS:
        raise UsageError(f"{name!r} is not a usable dataset name; use cifar10, cifar100, or a name of "
                         "letters, digits, '.', '_' and '-' (at most 64) for your own images")
    return name


def imported_dataset_names(data_dir: Path) -> list[str]:
    """The names of the datasets imported into `data_dir` (`download --dataset NAME --from`), read
    from its folders alone, for shell completion: a folder of a usable name holding a manifest.
    Nothing is verified and nothing heavy is imported; a data dir that cannot be read has none."""
    try:
        folders = sorted(path.parent.parent.name for path in Path(data_dir).glob(f"*/{STATE_FOLDER}/{MANIFEST}"))
    except OSError:
        return []
    return [name for name in folders if DATASET_NAME.fullmatch(name) and name.lower() not in RESERVED_FOLDERS
            and name not in BUILTIN_FOLDERS]
