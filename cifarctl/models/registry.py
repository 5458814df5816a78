"""The one list of model families: what each is, what it takes, and how it is trained.

Everything that needs to know the models reads this module: `train --model` choices and
`--help`, shell completion, `describe`, building a model, recognising a saved file and
checking a resume. It imports no torch, so `cifarctl --help` stays instant.

Adding a family = one module under `cifarctl/models/` with `build(**options, num_classes) -> nn.Module`,
plus one `register(Family(...))` call at the end of this file holding its recipe and naming
the optional hooks its module defines (see HOOKS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cifarctl.errors import UsageError
from cifarctl.recipes import Recipe

TUTORIAL_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # transforms.Normalize((0.5,)*3, (0.5,)*3)
CIFAR10_MEAN_STD = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))  # the training set's statistics

# The optional functions a family's module may define, each named in its entry's `hooks`:
HOOKS = {
    "prepare": "prepare(model, normalised_training_images): set data-dependent weights before training",
    "param_groups": "param_groups(model, lr, weight_decay) -> optimiser groups (default: no decay on biases)",
    "freeze_stem": "freeze_stem(model): stop the first layer learning, after the recipe's freeze_stem_after epochs",
    "matches": "matches(state_dict) -> options or None: recognise a bare state_dict (plain_state_dict families)",
}


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
    module: str  # import path of the module with build(**options) and the hooks
    recipe: Recipe  # its default way of training
    hooks: frozenset[str] = frozenset()  # which of HOOKS the module defines
    options: tuple[ModelOption, ...] = ()
    normalization: tuple[tuple[float, ...], tuple[float, ...]] = CIFAR10_MEAN_STD
    plain_state_dict: bool = False  # saved as a bare state_dict (the tutorial's Net only)
    cpu_note: str = ""  # said in --help and at the start of a CPU run, e.g. that it is slow there
    images_per_second_cpu: float = 0.0  # rough 2-core CPU training speed, for the first line's estimate
    # Sizes --time-budget picks from, smallest first, each with the epochs it needs to be worth its
    # slower steps: the largest whose measured speed affords that many epochs is trained.
    budget_sizes: tuple[tuple[dict[str, int], float], ...] = ()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.hooks) - set(HOOKS))
        if unknown:
            raise ValueError(f"family {self.name}: unknown hook {unknown[0]!r}; hooks are {', '.join(HOOKS)}")

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


# The tutorial's recipe: cross-entropy, SGD lr 0.001 momentum 0.9, batch 4, 2 epochs. Its
# optimiser is cifarctl's own momentum SGD (bit-identical to torch.optim.SGD, see
# cifarctl/recipes/sgd.py), because constructing a torch.optim optimiser costs 1.5 s of start-up.
register(Family(
    name="net",
    title="Net",
    summary="the tutorial's small CNN (conv 3-6-16, fc 400-120-84-10)",
    module="cifarctl.models.net.network",
    recipe=Recipe(name="tutorial", epochs=2, batch_size=4, lr=0.001, momentum=0.9, optimizer="tutorial-sgd"),
    hooks=frozenset({"matches"}),
    options=(ModelOption("width", 6, 1, 4096, "channels of the first conv (the tutorial's GPU experiment)"),),
    normalization=TUTORIAL_MEAN_STD,
    plain_state_dict=True,
))

# The usual ResNet-18 recipe for CIFAR-10: Nesterov SGD (momentum 0.9, weight decay 5e-4), a
# per-step one-cycle schedule peaking at 0.1, random crops of the 4-pixel-padded image with
# flips, batch 128, 30 epochs: about 94-95 % on the official test set on a GPU.
register(Family(
    name="resnet18",
    title="ResNet-18",
    summary="torchvision's ResNet-18 with the CIFAR stem (3x3 conv, stride 1, no max-pool), 11.2M parameters",
    module="cifarctl.models.resnet18.network",
    recipe=Recipe(name="resnet", epochs=30, batch_size=128, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4,
                  optimizer="sgd", schedule="onecycle", warmup=0.15, augment="crop-flip", precision="auto",
                  epoch_report=True, log_every=100),
    cpu_note="slow on a CPU: about 40 images/s on 2 cores, meant for a GPU",
    images_per_second_cpu=40.0,
))

# The fast recipe: airbench94's ingredients (docs/benchmarks.md has the ablation behind each),
# at batch 256, where a 2-core CPU is as fast per image as at 1024 and each epoch has 4x the
# steps. Nesterov SGD, momentum 0.85; weight decay airbench's per example (lr x wd = 2e-3 per
# 1024 images); a triangular schedule from 0.2 up to the peak over 23 % of the run and down to
# 0.07 of it, after a flat start that a time budget times; label smoothing 0.2; alternating
# flips and 2-pixel translations; Lookahead every 5 steps; the whitening layer's bias learns
# for 3 epochs, then freezes; the short last batch is dropped; bf16 where the CPU has it.
FAST_BATCH, FAST_LR = 256, 0.6
FAST_WIDE_MIN_EPOCHS = 10.0  # airbench94's widths pay once a budget affords them this many epochs (docs/benchmarks.md)
register(Family(
    name="fast",
    title="FastNet",
    summary="a small airbench-style net and recipe: the best accuracy per minute, fits --time-budget",
    module="cifarctl.models.fast.network",
    recipe=Recipe(name="fast", epochs=10, batch_size=FAST_BATCH, lr=FAST_LR, momentum=0.85, nesterov=True,
                  weight_decay=2e-3 * FAST_BATCH / 1024 / FAST_LR, label_smoothing=0.2, optimizer="sgd",
                  schedule="triangular", warmup=0.23, lr_end=0.07, flat_steps=8, drop_last=True,
                  augment="flip-translate", lookahead=5, freeze_stem_after=3, precision="auto", tta=True,
                  epoch_report=True, log_every=20),
    hooks=frozenset({"prepare", "param_groups", "freeze_stem"}),
    options=(ModelOption("width", 64, 8, 1024, "channels of the first block"),
             ModelOption("widen", 2, 1, 8, "how many times wider the second and third blocks are (airbench94: 4)")),
    budget_sizes=(({"width": 64, "widen": 2}, 0.0), ({"width": 64, "widen": 4}, FAST_WIDE_MIN_EPOCHS)),
))
