"""The one list of model families: what each is, what it takes, and how it is trained.

Everything that needs to know the models reads this module: `train --model` choices and
`--help`, shell completion, `describe`, building a model, recognising a saved file and
checking a resume. It imports no torch, so `cifarctl --help` stays instant.

Adding a family = one module under `cifarctl/models/` with `build(**options) -> nn.Module`
(and, optionally, `matches(state_dict) -> dict | None` to recognise a bare state_dict),
plus one `register(Family(...))` call at the end of this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cifarctl.errors import UsageError

TUTORIAL_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # transforms.Normalize((0.5,)*3, (0.5,)*3)
CIFAR10_MEAN_STD = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))  # the training set's statistics


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
    name: str  # what `--model` takes
    title: str  # how reports name it ("Net")
    summary: str  # one line for --help
    module: str  # import path of the module with build(**options)
    recipe: str  # import path of the module with RECIPE, its default way of training
    options: tuple[ModelOption, ...] = ()
    normalization: tuple[tuple[float, ...], tuple[float, ...]] = CIFAR10_MEAN_STD
    plain_state_dict: bool = False  # saved as a bare state_dict (the tutorial's Net only)
    cpu_note: str = ""  # said in --help and at the start of a CPU run, e.g. that it is slow there
    images_per_second_cpu: float = 0.0  # rough 2-core CPU training speed, for the first line's estimate

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


FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    FAMILIES[family.name] = family
    return family


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


register(Family(
    name="net",
    title="Net",
    summary="the tutorial's small CNN (conv 3-6-16, fc 400-120-84-10)",
    module="cifarctl.models.net",
    recipe="cifarctl.recipes.tutorial",
    options=(ModelOption("width", 6, 1, 4096, "channels of the first conv (the tutorial's GPU experiment)"),),
    normalization=TUTORIAL_MEAN_STD,
    plain_state_dict=True,
))
register(Family(
    name="resnet18",
    title="ResNet-18",
    summary="torchvision's ResNet-18 with the CIFAR stem (3x3 conv, stride 1, no max-pool), 11.2M parameters",
    module="cifarctl.models.resnet18",
    recipe="cifarctl.recipes.resnet",
    cpu_note="slow on a CPU: about 40 images/s on 2 cores, meant for a GPU",
    images_per_second_cpu=40.0,
))
register(Family(
    name="fast",
    title="FastNet",
    summary="a small airbench-style net and recipe: the best accuracy per minute, fits --time-budget",
    module="cifarctl.models.fast",
    recipe="cifarctl.recipes.fast",
    options=(ModelOption("width", 64, 8, 1024, "channels of the first block (the others have twice as many)"),),
))
