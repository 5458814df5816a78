"""What made a model file: the record `train` writes into it, and its check when read.

As torchvision's reference checkpoints keep their `args`, a described model file keeps
`made_by`: the cifarctl that wrote it (version from the package metadata), torch's and
Python's versions, when it was written, and the run: its settings (`TrainSettings.as_dict()`)
and how it ran (the precision it computed in, its steps, processes and device). The record
describes the weights and nothing is built from it, so one that cannot be read is ignored
with a warning rather than refused (the weights are checked on their own). The tutorial's
bare state_dict has nowhere to keep a record.
"""

from __future__ import annotations

import importlib.metadata
import math
import platform
import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import torch

PROGRAM = "cifarctl"
RUN_KEYS = ("settings", "precision", "steps", "processes", "device")  # what `train` passes in
MAX_DEPTH = 8  # settings nest three deep (settings -> validation -> value)
MAX_TEXT = 256


@dataclass(frozen=True)
class MadeBy:
    """A model file's record of what made it, or why it has none."""

    record: dict[str, Any] | None  # checked: plain data (as JSON has it), the keys below with their types
    missing: str | None = None  # why there is no record (None when there is one)
    damaged: bool = False  # there was one, but it cannot be read (`missing` says why)

    def as_json(self) -> dict[str, Any]:
        return {"made_by": self.record, "made_by_missing": self.missing}


PLAIN_STATE_DICT = MadeBy(None, "a plain state_dict (the tutorial's format): no record of how it was made")
BEFORE_RECORDS = MadeBy(None, "written by a cifarctl from before model files recorded how they were made")
CHECKPOINT = MadeBy(None, "a training checkpoint: the record is written into the model file when the run ends")


def cifarctl_version() -> str:
    """The installed package's version (its metadata), or the source's when it is not installed."""
    try:
        return importlib.metadata.version(PROGRAM)
    except importlib.metadata.PackageNotFoundError:
        from cifarctl import __version__

        return __version__


def made_by_record(run: dict[str, Any], written: datetime | None = None) -> dict[str, Any]:
    """The record for a model file: who wrote it and when, then `run` (settings, precision,
    steps, processes, device), as plain data that `torch.load(weights_only=True)` reads."""
    written = written or datetime.now(timezone.utc)
    return _plain({
        "program": PROGRAM,
        "version": cifarctl_version(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "written": written.isoformat(timespec="seconds"),
        **{key: run[key] for key in RUN_KEYS},
    })


def _plain(value: Any) -> Any:
    """`value` with every table, list and scalar of a plain type: an object of another class
    (torch's TorchVersion, a Path) would make weights_only loading refuse the whole file."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if value is None or type(value) in (str, int, float, bool):
        return value
    return str(value)


def read_made_by(record: Any) -> MadeBy:
    """A described model file's `made_by` entry (None: a file from before the records)."""
    if record is None:
        return BEFORE_RECORDS
    problem = record_problem(record)
    if problem is not None:
        return MadeBy(None, f"the record of how it was made cannot be read ({problem}), so it is ignored",
                      damaged=True)
    return MadeBy(record)


def record_problem(record: Any) -> str | None:
    """What is wrong with a record (a phrase naming the entry), or None when it can be used.
    Entries a newer cifarctl may add are allowed, as long as they are plain data."""
    problem = _plain_problem(record, "made_by", 0)
    if problem is not None:
        return problem
    if not isinstance(record, dict):
        return f"made_by is {_kind(record)}, not a table of entries"
    checks = [(key, record.get(key), valid) for key, valid in _RECORD_ENTRIES.items()]
    settings = record.get("settings")
    if isinstance(settings, dict):
        checks += [(f"settings.{key}", settings.get(key), valid) for key, valid in _SETTINGS_ENTRIES.items()]
        for table, valid in (("options", _is_whole), ("recipe", _is_recipe_field)):
            entries = settings.get(table)
            if isinstance(entries, dict):
                checks += [(f"settings.{table}.{key}", value, valid) for key, value in entries.items()]
        if isinstance(settings.get("recipe"), dict):
            checks.append(("settings.recipe.name", settings["recipe"].get("name"), _is_text))
    for name, value, valid in checks:
        if not valid(value):
            return f"made_by.{name} is {_kind(value)}"
    return None


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT and value.isprintable()


def _is_date(value: Any) -> bool:
    if not _is_text(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_whole(value: Any, least: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _is_positive(value: Any) -> bool:
    return _is_whole(value, 1)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_recipe_field(value: Any) -> bool:
    return value is None or _is_flag(value) or _is_number(value) or _is_text(value)


def _is_flag(value: Any) -> bool:
    return isinstance(value, bool)


def _is_table(value: Any) -> bool:
    return isinstance(value, dict)


def _optional(valid: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or valid(value)


_RECORD_ENTRIES: dict[str, Callable[[Any], bool]] = {
    "program": _is_text, "version": _is_text, "torch": _is_text, "python": _is_text, "written": _is_date,
    "settings": _is_table, "precision": _is_text, "steps": _is_whole, "processes": _is_positive, "device": _is_text,
}
# The run's settings (TrainSettings.as_dict()): what the record shows, or what a repeat needs
_SETTINGS_ENTRIES: dict[str, Callable[[Any], bool]] = {
    "model": _is_text, "options": _is_table, "recipe": _is_table, "seed": _is_whole, "dataset": _is_text,
    "precision": _optional(_is_text), "steps": _optional(_is_positive), "threads": _optional(_is_positive),
    "time_budget": _optional(_is_number), "eval_every": _optional(_is_whole),
    "compile": _optional(_is_flag), "pick_size": _optional(_is_flag), "validation": _optional(_is_table),
    "classes": _optional(lambda value: isinstance(value, (list, tuple)) and all(isinstance(n, str) for n in value)),
    "batch_fitted_from": _optional(_is_positive), "class_weights": _optional(_is_table),
    "sampling": _optional(_is_text), "init_from": _optional(_is_table),
}


def _plain_problem(value: Any, where: str, depth: int) -> str | None:
    """Whether `value` is data a JSON document can hold: tables of named entries, lists, text,
    numbers, true/false and null."""
    if depth > MAX_DEPTH:
        return f"{where} nests deeper than any record"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has an entry named {reprlib.repr(key)}, not by text"
            problem = _plain_problem(item, f"{where}.{key}", depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problem = _plain_problem(item, f"{where}[{index}]", depth + 1)
            if problem is not None:
                return problem
        return None
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    return f"{where} is {_kind(value)}"


def _kind(value: Any) -> str:
    """What a damaged entry holds, in words: `missing`, `a tensor`, `the text 'zero'`."""
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (not a number or text)"
    if isinstance(value, torch.Tensor):
        return "a tensor"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    kinds = {int: "the whole number", float: "the number", str: "the text"}
    kind = kinds.get(type(value))
    return f"{kind} {reprlib.repr(value)}" if kind else f"a {type(value).__name__}"
