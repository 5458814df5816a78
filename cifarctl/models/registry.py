"""The model families: what a family's entry holds, and finding every family.

A family is one folder, `cifarctl/models/<name>/`: its `__init__.py` holds the entry,
`FAMILY = Family(...)` (name, options, normalisation, recipe: everything `--help` shows), and
imports no torch; its `network.py` holds the torch code (`build` and the hooks, loaded by
`cifarctl.models.networks`). The families are found by looking at the subpackages of
`cifarctl.models` the first time anything asks (`FAMILIES`, `names()`, `get()`), importing only
their `__init__.py`, so adding a family changes no other file, and `cifarctl --help` and shell
completion stay free of torch.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cifarctl.errors import CifarctlError, UsageError
from cifarctl.recipes import Recipe

DEFAULT = "net"  # the tutorial's Net: `train --model`'s default, listed first; the others follow by name
CIFAR10_MEAN_STD = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))  # the training set's statistics


class FamilyError(CifarctlError):
    """A family's folder is wrong (an entry or network module that breaks the rules): a bug in
    that folder, not in the command line, said in one line that names the file to fix."""


@dataclass(frozen=True)
class ModelOption:
    """A whole-number option of a family (e.g. Net's width), with the limits `train` applies."""

    name: str
    default: int
    minimum: int
    maximum: int
    help: str

    def check(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{where}: {self.name} {value!r} is not a whole number")
        if not self.minimum <= value <= self.maximum:
            raise UsageError(f"{where}: {self.name} {value!r} is outside {self.minimum}..{self.maximum}")
        return value


@dataclass(frozen=True)
class Family:
    name: str  # what `--model` takes: the name of the family's folder
    title: str  # how reports name it ("Net")
    summary: str  # one line for --help
    recipe: Recipe  # its default way of training
    options: tuple[ModelOption, ...] = ()  # keyword arguments of its network's build()
    normalization: tuple[tuple[float, ...], tuple[float, ...]] = CIFAR10_MEAN_STD
    plain_state_dict: bool = False  # saved as a bare state_dict (the tutorial's Net only; needs a `matches` hook)
    cpu_note: str = ""  # said in --help and at the start of a CPU run, e.g. that it is slow there
    images_per_second_cpu: float = 0.0  # rough 2-core CPU training speed, for the first line's estimate
    # Sizes --time-budget picks from, smallest first, each with the epochs it needs to be worth its
    # slower steps: the largest whose measured speed affords that many epochs is trained.
    budget_sizes: tuple[tuple[dict[str, int], float], ...] = ()
    # Module paths in the network (as `model.get_submodule` takes them). `head`: the last layer, one
    # output per class: what `train --init-from` replaces when the classes differ and the one part
    # `--freeze-backbone` trains. `explain_layer`: the last convolutional block, whose output
    # Grad-CAM weighs by its gradient for `predict --explain` (the usual choice: the last layer
    # that still has a picture's layout, so the most class-specific one that can say where).
    head: str = ""
    explain_layer: str = ""
    # What `tune` searches by default, as `--space` writes it ("lr=0.2:2:log", "width=32,64,96"):
    # settings by name (models/search_space.py), each a range, choices, or one value that fixes it.
    search_space: tuple[str, ...] = ()

    @property
    def network_module(self) -> str:
        """Where its torch code lives: `network.py` in the family's folder."""
        return f"{__package__}.{self.name}.network"

    def option(self, name: str) -> ModelOption | None:
        return next((option for option in self.options if option.name == name), None)

    def resolve_options(self, given: dict[str, Any], where: str = "--model") -> dict[str, int]:
        """The family's options with defaults filled in; unknown or out-of-range ones refused."""
        unknown = sorted(set(given) - {option.name for option in self.options})
        if unknown:
            takes = ", ".join(f"--{option.name}" for option in self.options) or "no options"
            raise UsageError(f"{where}: {self.name} does not take --{unknown[0]} (it takes {takes})")
        return {option.name: option.check(given.get(option.name, option.default), where) for option in self.options}

    def describe(self, options: dict[str, Any]) -> str:
        detail = ", ".join(f"{name} {value}" for name, value in options.items())
        return f"{self.title} ({detail})" if detail else self.title


def discover() -> dict[str, Family]:
    """Every subpackage of `cifarctl.models` (over all of its `__path__`) with its `FAMILY`,
    the default first and the others by name. Plain modules there (this one, `networks.py`)
    are machinery, not families."""
    package = importlib.import_module(__package__)
    found: dict[str, Family] = {}
    for folder in pkgutil.iter_modules(package.__path__):
        if not folder.ispkg:
            continue
        module = importlib.import_module(f"{__package__}.{folder.name}")
        family = getattr(module, "FAMILY", None)
        where = getattr(module, "__file__", None) or module.__name__
        if not isinstance(family, Family):
            raise FamilyError(f"{where} defines no FAMILY = Family(...); every folder in cifarctl/models is a family")
        if family.name != folder.name:
            raise FamilyError(f"{where}: the family is named {family.name!r} but its folder {folder.name!r}; "
                              "`--model` takes the folder's name, so the two must be the same")
        found[family.name] = family
    return dict(sorted(found.items(), key=lambda item: (item[0] != DEFAULT, item[0])))


class _Families(Mapping[str, Family]):
    """`FAMILIES`: name -> Family, discovered on first use (importing this module imports no family)."""

    def __init__(self) -> None:
        self._found: dict[str, Family] | None = None

    def _all(self) -> dict[str, Family]:
        if self._found is None:
            self._found = discover()
        return self._found

    def __getitem__(self, name: str) -> Family:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


FAMILIES: Mapping[str, Family] = _Families()


def names() -> tuple[str, ...]:
    return tuple(FAMILIES)


def get(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise UsageError(f"unknown model {name!r}; choose one of: {', '.join(FAMILIES)}") from None


def help_lines() -> str:
    """One clause per family, for `--model`'s help."""
    return "; ".join(f"{family.name}: {family.summary}" + (f" ({family.cpu_note})" if family.cpu_note else "")
                     for family in FAMILIES.values())
