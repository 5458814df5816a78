"""The settings a family's runs can be given by name, their legal ranges, and search spaces over them.

`tune` searches a space: each family declares its default beside its recipe (the entry's
`search_space`, written as `--space` takes it: `lr=0.2:2:log`, `width=32,64,96`), and the
command line replaces or adds dimensions. The same names and limits check the best settings
`tune` writes into `cifarctl.toml` and the `[train.MODEL]` section `train` reads back.
No torch and no Optuna here: a dimension is plain data that `training/tuning.py` hands to Optuna.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cifarctl.errors import UsageError

if TYPE_CHECKING:
    from cifarctl.models.registry import Family

MAX_LR = 1e6  # far above any useful rate, far below what overflows the optimiser's arithmetic
EXAMPLES = "e.g. lr=0.1:2:log, label_smoothing=0:0.3, width=32,64,96, momentum=0.9"


@dataclass(frozen=True)
class Limits:
    """The values a setting may take: low..high, either end open, whole numbers or not."""

    low: float
    high: float
    integer: bool = False
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below and (not self.integer or float(value).is_integer())

    def describe(self, name: str) -> str:
        """"0 <= momentum < 1", "8 <= width <= 1024, whole numbers"."""
        text = (f"{self.low:g} {'<' if self.low_open else '<='} {name} "
                f"{'<' if self.high_open else '<='} {self.high:g}")
        return text + (", whole numbers" if self.integer else "")


# The recipe's numeric fields a user may set per family (tune, cifarctl.toml's [train.MODEL]).
RECIPE_SETTINGS: dict[str, Limits] = {
    "lr": Limits(0.0, MAX_LR, low_open=True),
    "momentum": Limits(0.0, 1.0, high_open=True),
    "weight_decay": Limits(0.0, 1.0, high_open=True),
    "label_smoothing": Limits(0.0, 1.0, high_open=True),
    "warmup": Limits(0.0, 1.0),
    "lr_end": Limits(0.0, 1.0),
    "batch_size": Limits(1, 65_536, integer=True),
}


def settings_of(family: Family) -> dict[str, Limits]:
    """Every setting of `family` that can be given by name: the recipe's fields, then its model options."""
    options = {option.name: Limits(option.minimum, option.maximum, integer=True) for option in family.options}
    return {**RECIPE_SETTINGS, **options}


@dataclass(frozen=True)
class Dimension:
    """One setting a search varies: a range (linear or log, optionally stepped), a list of choices,
    or a single choice, which fixes it."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[float, ...] = ()
    integer: bool = False

    @property
    def fixed(self) -> bool:
        return len(self.choices) == 1

    def text(self) -> str:
        """As `--space` writes it: `lr=0.2:2:log`, `width=32,64,96`, `momentum=0.9`."""
        if self.choices:
            return f"{self.name}=" + ",".join(_number_text(value) for value in self.choices)
        tail = ":log" if self.log else f":{_number_text(self.step)}" if self.step is not None else ""
        return f"{self.name}={_number_text(self.low)}:{_number_text(self.high)}{tail}"

    def as_json(self) -> dict[str, Any]:
        if self.choices:
            return {"name": self.name, "choices": list(self.choices)}
        return {"name": self.name, "low": self.low, "high": self.high, "log": self.log, "step": self.step}


def _number_text(value: float | None) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_dimension(text: str, settings: dict[str, Limits], family_name: str, where: str = "--space") -> Dimension:
    """`NAME=LOW:HIGH[:log|:STEP]`, `NAME=A,B,C` or `NAME=VALUE`, checked against the setting's limits."""
    name, equals, value = text.partition("=")
    name = name.strip().lower().replace("-", "_")
    if not equals or not name or not value.strip():
        raise UsageError(f"{where} {text!r} is not NAME=RANGE ({EXAMPLES})")
    if name not in settings:
        raise UsageError(f"{where} {text!r}: {family_name} has no setting {name!r}; it takes "
                         f"{', '.join(settings)}")
    limits = settings[name]

    def number(part: str) -> float:
        try:
            found = int(part) if limits.integer else float(part)
        except ValueError:
            kind = "a whole number" if limits.integer else "a number"
            raise UsageError(f"{where} {text!r}: {part.strip()!r} is not {kind}") from None
        if not math.isfinite(found):
            raise UsageError(f"{where} {text!r}: {part.strip()!r} is not a finite number")
        if not limits.contains(found):
            raise UsageError(f"{where} {text!r}: {part.strip()} is outside {limits.describe(name)}")
        return found

    value = value.strip()
    if ":" in value:
        return _range(text, name, value.split(":"), number, limits.integer, where)
    choices = tuple(number(part) for part in value.split(","))
    if len(set(choices)) != len(choices):
        raise UsageError(f"{where} {text!r} names a value twice; give each once")
    return Dimension(name, choices=choices, integer=limits.integer)


def _range(text: str, name: str, parts: list[str], number, integer: bool, where: str) -> Dimension:
    if len(parts) not in (2, 3):
        raise UsageError(f"{where} {text!r}: a range is LOW:HIGH, LOW:HIGH:log or LOW:HIGH:STEP")
    low, high = number(parts[0]), number(parts[1])
    if not low < high:
        raise UsageError(f"{where} {text!r}: the range's low end must be below its high end")
    log, step = False, None
    if len(parts) == 3:
        if parts[2].strip().lower() == "log":
            log = True
            if low <= 0:
                raise UsageError(f"{where} {text!r}: a log range needs a low end above 0")
        else:
            try:
                step = int(parts[2]) if integer else float(parts[2])
            except ValueError:
                raise UsageError(f"{where} {text!r}: {parts[2].strip()!r} is neither 'log' nor a step") from None
            if not (math.isfinite(step) and 0 < step <= high - low):
                raise UsageError(f"{where} {text!r}: the step must be above 0 and at most the range's width")
    return Dimension(name, low, high, log=log, step=step, integer=integer)


def search_space(family: Family, overrides: list[str] | tuple[str, ...] = ()) -> tuple[Dimension, ...]:
    """The family's declared space with `--space` overrides: each replaces the dimension of its
    name or adds one. At least one dimension must be left to search."""
    from cifarctl.models.registry import FamilyError

    settings = settings_of(family)
    try:
        declared = [parse_dimension(text, settings, family.name, where="search space") for text in family.search_space]
    except UsageError as error:  # a bug in the family's entry, not in the command line
        raise FamilyError(f"cifarctl/models/{family.name}/__init__.py: {error}") from None
    dimensions = {dimension.name: dimension for dimension in declared}
    given: set[str] = set()
    for text in overrides:
        dimension = parse_dimension(text, settings, family.name)
        if dimension.name in given:
            raise UsageError(f"--space {dimension.name} is given twice; give each setting once")
        given.add(dimension.name)
        dimensions[dimension.name] = dimension
    if not any(not dimension.fixed for dimension in dimensions.values()):
        raise UsageError(f"nothing to search: {family.name}'s space has no range or choice left; give one with "
                         f"--space ({EXAMPLES})")
    return tuple(dimensions.values())


def checked_settings(family: Family, values: dict[str, Any], where: str) -> tuple[dict[str, int], dict[str, Any]]:
    """Settings given by name (a `[train.MODEL]` section) as (model options, recipe changes),
    each known to the family and within its limits."""
    settings = settings_of(family)
    options: dict[str, int] = {}
    recipe: dict[str, Any] = {}
    for name, value in values.items():
        if name not in settings:
            raise UsageError(f"{where}: {family.name} has no setting {name!r}; it takes {', '.join(settings)}")
        limits = settings[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                limits.integer and not isinstance(value, int)) or not limits.contains(value):
            raise UsageError(f"{where}: {name} = {value!r} is outside {limits.describe(name)}")
        if name in RECIPE_SETTINGS:
            recipe[name] = value if limits.integer else float(value)
        else:
            options[name] = value
    return options, recipe
