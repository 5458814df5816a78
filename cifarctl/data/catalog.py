"""Which datasets cifarctl knows: CIFAR-10, CIFAR-100, and the user's own imported folders.

A dataset is named by `--dataset` (cifar10 by default; the rules for names are in
`cifarctl/dataset_names.py`, which the Config checks names with). Each has a `DatasetSpec`:
its folder under the data dir, its on-disk layout, the archive it is downloaded as (built-ins
only) and, for the built-ins, its classes. An imported dataset's classes are its folder names,
read back from its stored meta file.

The URLs and checksums are torchvision's own `CIFAR10`/`CIFAR100` class attributes. They are
read from torchvision's source with `ast` instead of importing it, because importing
torchvision loads torch (seconds), and `cifarctl download` on a present dataset must answer at once.
"""

from __future__ import annotations

import ast
import importlib.util
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cifarctl.dataset_names import BUILTIN_ARCHIVES, BUILTIN_FOLDERS, DEFAULT_DATASET, check_dataset_name
from cifarctl.errors import CifarctlError

IMAGE_SHAPE = (3, 32, 32)
IMAGE_BYTES = 3 * 32 * 32
MIN_CLASSES, MAX_CLASSES = 2, 1000


@dataclass(frozen=True)
class Classes:
    """A dataset's classes in label order: the names reports show, other spellings a user may
    type (CIFAR-10's long names), and the superclass of each (CIFAR-100's coarse labels)."""

    names: tuple[str, ...]
    aliases: tuple[str, ...] = ()  # one more accepted name per class, or none
    superclasses: tuple[str, ...] = ()
    superclass_of: tuple[int, ...] = ()  # per class, an index into superclasses
    title: str = ""  # the dataset's, for messages ("CIFAR-10")

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """The label of a class name, ignoring case and treating spaces as underscores."""
        key = name_key(name)
        for names in (self.names, self.aliases):
            for index, candidate in enumerate(names):
                if name_key(candidate) == key:
                    return index
        shown = ", ".join(self.names[:12]) + (f", ... ({len(self)} in all)" if len(self) > 12 else "")
        what = f"a {self.title} class" if self.title else "one of the dataset's classes"
        raise ValueError(f"{name!r} is not {what}; use one of: {shown}")

    def describe(self) -> str:
        shown = ", ".join(self.names[:5]) + (", ..." if len(self) > 5 else "")
        return f"{len(self)} classes: {shown}"


def name_key(name: str) -> str:
    """What two spellings of one class name have in common: case, a space for '_' and the
    Unicode spelling (`café` as one code point or as `e` and a combining accent) do not count."""
    return unicodedata.normalize("NFC", name).strip().lower().replace(" ", "_")


MAX_CLASS_NAME = 255  # a folder name's limit on most file systems


def class_name(name: str) -> str:
    """A class name as cifarctl keeps it: in NFC, so the two Unicode spellings of `café` (one
    code point, or `e` and a combining accent, as macOS writes folder names) are one class."""
    return unicodedata.normalize("NFC", name)


_KINDS = {"C": "a control or invisible format character", "Z": "a space or line break other than ' '"}


def class_name_problem(name: str) -> str | None:
    """Why `name` cannot name a class, or None. Class names are printed in tables, in
    predict's tab-separated lines and in picture captions, so a class name holds printable
    characters only: no control character (TAB, a line break, ESC), no invisible format
    character (a bidi override, a zero-width space), no space at either end; 1 to 255 of them."""
    if not name or len(name) > MAX_CLASS_NAME:
        return f"is {'empty' if not name else f'{len(name):,} characters long'} (a class name has 1 to 255)"
    for character in name:
        if not character.isprintable():
            kind = _KINDS.get(unicodedata.category(character)[0], "an unassigned or private character")
            named = unicodedata.name(character, "")
            return (f"holds U+{ord(character):04X}{f' {named}' if named else ''}, {kind} (it would break a line, "
                    "a column or a terminal)")
    if name != name.strip():
        return "starts or ends with a space"
    return None


# CIFAR-10: the tutorial's short names are what it prints; the official long names are its meta file's.
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SHORT_NAMES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
NUM_CLASSES = len(CLASS_NAMES)
CIFAR10_CLASSES = Classes(SHORT_NAMES, aliases=CLASS_NAMES, title="CIFAR-10")

# CIFAR-100: 100 fine classes in 20 superclasses of five, as the official meta file names them.
CIFAR100_SUPERCLASSES = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}


def _cifar100_classes() -> Classes:
    superclasses = tuple(CIFAR100_SUPERCLASSES)
    member_of = {fine: superclasses.index(coarse) for coarse, fines in CIFAR100_SUPERCLASSES.items() for fine in fines}
    fine = tuple(sorted(member_of))  # the official label order is alphabetical
    return Classes(fine, superclasses=superclasses, superclass_of=tuple(member_of[name] for name in fine),
                   title="CIFAR-100")


CIFAR100_CLASSES = _cifar100_classes()


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # what --dataset takes
    title: str  # how messages name it ("CIFAR-10")
    folder: str  # under the data dir, where torchvision looks for it
    layout: str  # "cifar10" (data_batch_1..5, test_batch, batches.meta) or "cifar100" (train, test, meta)
    classes: Classes | None  # fixed classes; None: the imported dataset's own, read from its meta file
    archive: str | None = None  # the archive downloads are saved as (built-ins only)
    torchvision_class: str | None = None  # whose attributes give the URL and checksums

    @property
    def builtin(self) -> bool:
        return self.archive is not None

    def option(self) -> str:
        """How a command line selects it ("" for the default)."""
        return "" if self.name == DEFAULT_DATASET else f" --dataset {self.name}"

    def missing_hint(self) -> str:
        if self.builtin:
            return f"run 'cifarctl download{self.option()}' first"
        return f"import it with 'cifarctl download --dataset {self.name} --from FOLDER'"


BUILTIN_DATASETS = {
    "cifar10": DatasetSpec("cifar10", "CIFAR-10", BUILTIN_FOLDERS["cifar10"], "cifar10", CIFAR10_CLASSES,
                           BUILTIN_ARCHIVES["cifar10"], "CIFAR10"),
    "cifar100": DatasetSpec("cifar100", "CIFAR-100", BUILTIN_FOLDERS["cifar100"], "cifar100", CIFAR100_CLASSES,
                            BUILTIN_ARCHIVES["cifar100"], "CIFAR100"),
}


def dataset_spec(name: str) -> DatasetSpec:
    """The built-in dataset of that name, or the user's imported dataset called `name`."""
    if name in BUILTIN_DATASETS:
        return BUILTIN_DATASETS[name]
    check_dataset_name(name)
    return DatasetSpec(name, name, name, "cifar100", None)


@dataclass(frozen=True)
class Place:
    """One dataset in one data dir: everything that reads or writes a dataset takes this."""

    data_dir: Path
    spec: DatasetSpec

    @property
    def folder(self) -> Path:
        return Path(self.data_dir) / self.spec.folder

    @property
    def archive(self) -> Path | None:
        return Path(self.data_dir) / self.spec.archive if self.spec.archive else None


def locate(data_dir: Path, dataset: str = DEFAULT_DATASET) -> Place:
    return Place(Path(data_dir), dataset_spec(dataset))


@dataclass(frozen=True)
class OfficialSource:
    url: str
    filename: str
    base_folder: str
    archive_md5: str
    file_md5s: dict[str, str]  # every data file and the meta file


@lru_cache(maxsize=4)
def official_source(torchvision_class: str = "CIFAR10") -> OfficialSource:
    attributes = _torchvision_attributes(torchvision_class)
    try:
        files = dict(attributes["train_list"] + attributes["test_list"])
        files[attributes["meta"]["filename"]] = attributes["meta"]["md5"]
        return OfficialSource(
            url=attributes["url"],
            filename=attributes["filename"],
            base_folder=attributes["base_folder"],
            archive_md5=attributes["tgz_md5"],
            file_md5s=files,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CifarctlError(f"torchvision's {torchvision_class} class has an unexpected layout ({error}); "
                            "pass --url and --md5 explicitly") from None


ATTRIBUTES = ("url", "filename", "base_folder", "tgz_md5", "train_list", "test_list", "meta")


def _torchvision_attributes(class_name: str) -> dict:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        raise CifarctlError("torchvision is not installed; install it with 'pip install torchvision'")
    source_file = Path(spec.submodule_search_locations[0]) / "datasets" / "cifar.py"
    try:
        classes = {node.name: node for node in ast.parse(source_file.read_text(encoding="utf-8")).body
                   if isinstance(node, ast.ClassDef)}
        attributes: dict = {}
        # CIFAR100 subclasses CIFAR10 and overrides what differs: read the base first.
        for name in ("CIFAR10", class_name):
            for statement in classes[name].body:
                if isinstance(statement, ast.Assign):
                    for target in statement.targets:
                        if isinstance(target, ast.Name):
                            attributes[target.id] = ast.literal_eval(statement.value)
        if all(name in attributes for name in ATTRIBUTES):
            return attributes
    except (OSError, SyntaxError, ValueError, KeyError):
        pass
    return _imported_attributes(class_name)  # an unusual install: fall back to the slow, sure way


def _imported_attributes(class_name: str) -> dict:
    import torchvision.datasets

    dataset_class = getattr(torchvision.datasets, class_name)
    return {name: getattr(dataset_class, name) for name in ATTRIBUTES}

