"""What getting a dataset reports: where it came from, its counts, and what an image-folder import found."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cifarctl.data import image_folder
from cifarctl.data.catalog import Classes
from cifarctl.data.class_balance import Balance


@dataclass
class AcquireReport:
    action: str  # "present", "downloaded" or "imported"
    source: str
    path: Path
    counts: dict[str, int]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # files of the source left out, and why
    folder: FolderImport | None = None  # what an image-folder import found
    classes: tuple[str, ...] = ()  # the dataset's class names, in label order

    def facts(self) -> list[str]:
        """What an image-folder import found, one line each, for the report."""
        return self.folder.describe() if self.folder else []

    def as_json(self) -> dict:
        found = self.folder.as_json() if self.folder else {"classes": None, "resized": None, "test_split": None,
                                                              "balance": None}
        return {"action": self.action, "source": self.source, "path": str(self.path),
                "counts": self.counts, "seconds": round(self.seconds, 3), "notes": self.notes,
                "skipped": [{"path": str(path), "reason": reason} for path, reason in self.skipped], **found,
                "classes": list(self.classes) or found["classes"]}


@dataclass(frozen=True)
class HeldOutTestSplit:
    """The test split an import held out of an image folder that had none: how many of how many images."""

    size: int
    seed: int
    of: int
    untested: tuple[str, ...] = ()  # classes with no image in the test split (too few images, or too many classes)

    def describe(self) -> str:
        line = (f"test split: {self.size:,} of {self.of:,} images held out, as even over the classes as their "
                f"counts allow (seed {self.seed})")
        if self.untested:
            shown = ", ".join(self.untested[:5]) + (", ..." if len(self.untested) > 5 else "")
            line += (f"; {len(self.untested):,} classes have no test image ({shown}): evaluate cannot measure them "
                     "(hold out more with --test-split)")
        return line

    def as_json(self) -> dict:
        return {"size": self.size, "seed": self.seed, "of": self.of, "classes_without_test_images": list(self.untested)}


@dataclass(frozen=True)
class FolderImport:
    classes: Classes
    resized: image_folder.Resized
    held_out: HeldOutTestSplit | None  # None: the folder's own test/
    balance: Balance | None = None  # the training images per class

    def describe(self) -> list[str]:
        lines = [self.classes.describe()]
        if self.balance is not None:
            lines.append(self.balance.plan())
        if self.resized.images:
            lines.append(self.resized.describe())
        if self.held_out:
            lines.append(self.held_out.describe())
        return lines

    def as_json(self) -> dict:
        return {"classes": list(self.classes.names), "resized": self.resized.as_json(),
                "test_split": self.held_out.as_json() if self.held_out else None,
                "balance": self.balance.as_json() if self.balance else None}
