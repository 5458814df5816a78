"""Fitting a run to its data: the batch of a small folder, the class weights of an imbalanced one.

A recipe's batch is tuned for CIFAR-10's 40,000-50,000 images; a 720-image folder at the fast
recipe's 256 gets two steps an epoch and, dropping the short last batch, leaves 29 % of its
images out of every epoch. Without `--batch-size` the batch is halved until an epoch has
MIN_STEPS_PER_EPOCH steps (and, without `--lr`, the rate with it: the linear scaling rule, which
keeps the fast recipe's weight decay per image too). `--class-weights` weights the loss by
inverse class frequency (`auto`: when the largest class has more than 3x the smallest's
images), or by the weights a file gives. docs/benchmarks.md has the measurements behind both.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cifarctl.data.class_balance import Balance
from cifarctl.data.memory import Split
from cifarctl.errors import CifarctlError, UsageError
from cifarctl.input_files import read_regular_file
from cifarctl.json_documents import load_json
from cifarctl.models import registry
from cifarctl.training.settings import TrainSettings

MIN_STEPS_PER_EPOCH = 8  # docs/benchmarks.md, "Small folders": 2 steps an epoch lost 9 points on 720 images
MIN_FITTED_BATCH = 16
REPORTED_DROP = 0.01  # a share of the images left out of every epoch worth saying in the first line
MAX_WEIGHTS_FILE = 1 << 20
MAX_WEIGHT = 1e6
AUTO, NONE = "auto", "none"


@dataclass(frozen=True)
class DataFit:
    """What the command left to the data: the batch (no --batch-size), the rate with it (no
    --lr), and the class weights (`--class-weights`: auto, none, or a file)."""

    batch: bool = False
    lr: bool = False
    class_weights: str = NONE


def fit_to_data(settings: TrainSettings, data: Split, processes: int, fit: DataFit) -> TrainSettings:
    """`settings` with the batch and class weights this data calls for (the same for a resume of it)."""
    settings = _fitted_batch(settings, len(data), processes, fit)
    weights = class_weights(fit.class_weights, balance_of_split(data))
    return dataclasses.replace(settings, class_weights=weights)


def balance_of_split(data: Split) -> Balance:
    counts = torch.bincount(data.labels.cpu(), minlength=len(data.classes)).tolist()
    return Balance(tuple(counts), tuple(data.classes.names))


def _fitted_batch(settings: TrainSettings, images: int, processes: int, fit: DataFit) -> TrainSettings:
    batch = settings.batch_size
    if not fit.batch:
        return settings
    while batch // 2 >= MIN_FITTED_BATCH and images // (batch * processes) < MIN_STEPS_PER_EPOCH:
        batch //= 2
    if batch == settings.batch_size:
        return settings
    recipe = settings.recipe.replace(batch_size=batch)
    if fit.lr:
        recipe = recipe.replace(lr=settings.recipe.lr * batch / settings.batch_size)
    return dataclasses.replace(settings, recipe=recipe, batch_fitted_from=settings.batch_size)


def batch_note(settings: TrainSettings, images: int, processes: int) -> str:
    """What the first line says of the batch and the data: `batch fitted to 720 images (11 steps an
    epoch, 16 images left out of each; the recipe's 256 gave 2 steps and left out 29 %)`, or what a
    batch leaves out of each epoch when that is over 1 % of the images; "" when there is nothing to say."""
    recipe = settings.recipe
    steps = recipe.steps_per_epoch(images, processes)
    left_out = max(0, images - steps * recipe.batch_size * processes) if recipe.drop_last else 0
    was = settings.batch_fitted_from
    if was is not None:
        old_steps = recipe.replace(batch_size=was).steps_per_epoch(images, processes)
        old_left = max(0, images - old_steps * was * processes) if recipe.drop_last else 0
        left = f", {left_out:,} image{'s' if left_out != 1 else ''} left out of each" if left_out else ""
        old = f" and left out {100 * old_left / images:.0f} %" if old_left else ""
        scaled = math.isclose(recipe.lr, registry.get(settings.model).recipe.lr * recipe.batch_size / was)
        return (f"batch {'and lr ' if scaled else ''}fitted to {images:,} images ({steps} steps an epoch{left}; "
                f"the recipe's batch {was} gave {old_steps} step{'s' if old_steps != 1 else ''}{old})")
    if left_out and left_out >= REPORTED_DROP * images:
        return f"{left_out:,} of {images:,} images left out of each epoch ({steps} step{'s' if steps != 1 else ''})"
    return ""


# --- class weights --------------------------------------------------------------------------
def check_class_weights_option(value: str) -> str:
    """`--class-weights auto|none|FILE`: a file must exist and hold numbers (read again with the data)."""
    if value in (AUTO, NONE):
        return value
    read_weights_file(Path(value))
    return value


def class_weights(choice: str, balance: Balance) -> dict[str, Any] | None:
    """What the loss weights by, as recorded in the settings: None (no weights), or the source
    (`auto`, or the file) and one weight per class."""
    if choice == NONE or (choice == AUTO and not balance.imbalanced):
        return None
    if choice == AUTO:
        weights = balance.inverse_frequency()
        return {"source": AUTO, "weights": [round(weight, 6) for weight in weights]}
    given = read_weights_file(Path(choice))
    return {"source": "file", "file": choice, "weights": _in_class_order(given, balance.names, choice)}


def read_weights_file(path: Path) -> list[float] | dict[str, float]:
    """A JSON list (one number per class, in label order) or object (class name -> number), or
    plain text: numbers separated by spaces, commas or lines."""
    what = "--class-weights"
    try:
        text = read_regular_file(path, what, MAX_WEIGHTS_FILE).decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: no such file; give auto, none, or a file of one weight per class"
                         ) from None
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path} is not text; give a JSON list or object, or numbers separated by "
                         "spaces") from None
    except CifarctlError as error:
        raise UsageError(str(error)) from None
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        try:
            document = load_json(stripped)
        except ValueError as error:
            raise UsageError(f"{what} {path} is not valid JSON ({error})") from None
    else:
        document = [word for word in re.split(r"[\s,]+", stripped) if word]
    if isinstance(document, dict):
        return {str(name): _weight(value, path, str(name)) for name, value in document.items()}
    if not isinstance(document, list) or not document:
        raise UsageError(f"{what} {path} holds no weights; give one number per class")
    return [_weight(value, path, f"number {index + 1}") for index, value in enumerate(document)]


def _weight(value: Any, path: Path, where: str) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not 0 <= number <= MAX_WEIGHT:
        raise UsageError(f"--class-weights {path}: {where} is {str(value)[:40]!r}, not a weight in "
                         f"0..{MAX_WEIGHT:g}")
    return number


def _in_class_order(given: list[float] | dict[str, float], names: tuple[str, ...], file: str) -> list[float]:
    if isinstance(given, list):
        if len(given) != len(names):
            raise UsageError(f"--class-weights {file} has {len(given)} weights, but the dataset has "
                             f"{len(names)} classes; give one weight per class, in label order")
        weights = given
    else:
        missing = [name for name in names if name not in given]
        unknown = [name for name in given if name not in names]
        if missing or unknown:
            wrong = f"names no class {unknown[0]!r}" if unknown else f"has no weight for {missing[0]!r}"
            raise UsageError(f"--class-weights {file} {wrong}; the dataset has {len(names)} classes "
                             f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})")
        weights = [given[name] for name in names]
    if not any(weights):
        raise UsageError(f"--class-weights {file} weights every class 0; give at least one a positive weight")
    return [float(weight) for weight in weights]


def loss_weights(settings: TrainSettings, device: torch.device) -> torch.Tensor | None:
    """The loss's per-class weights (None: every class weighs the same)."""
    if settings.class_weights is None:
        return None
    return torch.tensor(settings.class_weights["weights"], dtype=torch.float32, device=device)


def describe_weights(settings: TrainSettings) -> str:
    """`class weights 0.55-5.5 (inverse class frequency, --class-weights auto)`, for the first lines."""
    record = settings.class_weights
    if record is None:
        return ""
    weights = record["weights"]
    source = "inverse class frequency, --class-weights auto" if record["source"] == AUTO \
        else f"from {record.get('file')}"
    return f"class weights {min(weights):.3g}-{max(weights):.3g} ({source})"
