"""Whether model files are repeated runs of one recipe: the only models a mean ± std describes.

A mean ± std (and its t-interval) says how much a recipe's result moves with the seed. It
means nothing over models of different families, options, recipes or datasets, and it is
false over one set of weights counted twice (`net.pth net.ckpt`). So models are pooled only
when every one records the run that made it (a model file's `made_by`, a checkpoint's
settings, or, for the tutorial's bare state_dict, the checkpoint of the same weights beside
it), the records are equal apart from what does not change the recipe (the seed, the CPU
threads, how often it was measured while training, the length a time budget fitted), the
seeds differ and no two hold the same weights. Anything else is a table of separate models.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cifarctl.errors import CifarctlError
from cifarctl.inference.model_files import TrainedModel, load_trained_model
from cifarctl.inference.provenance import PLAIN_STATE_DICT

# Settings that differ between repeated runs of one recipe without changing it.
NOT_THE_RECIPE = ("seed", "threads", "eval_every")


@dataclass(frozen=True)
class RunRecord:
    """One model as a sample of its recipe: the settings of the run that made it, and its weights."""

    path: Path
    settings: dict[str, Any] | None  # TrainSettings.as_dict() of the run; None when nothing records it
    weights: str  # a fingerprint of the weights
    missing: str | None = None  # why there are no settings


def weights_fingerprint(network: nn.Module) -> str:
    """The same text for the same weights (names, kinds, shapes and bytes), wherever they were read from."""
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}\n".encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def run_record(trained: TrainedModel, companion: Path | None = None) -> RunRecord:
    """`trained` as a sample; a model without a record of its run (the tutorial's bare
    state_dict) takes the settings of `companion`, its run's checkpoint, when that holds the
    same weights."""
    weights = weights_fingerprint(trained.network)
    if trained.run_settings is not None:
        return RunRecord(trained.path, trained.run_settings, weights)
    if companion is not None and companion.is_file():
        try:
            other = load_trained_model(companion)
        except CifarctlError:  # a damaged or foreign checkpoint records nothing we can use
            other = None
        if other is not None and other.run_settings is not None and weights_fingerprint(other.network) == weights:
            return RunRecord(trained.path, other.run_settings, weights)
    if trained.made_by is PLAIN_STATE_DICT:
        why = "it is a plain state_dict (the tutorial's format), with no checkpoint of the same weights beside it"
    else:
        why = trained.made_by.missing or "it has no record"
    return RunRecord(trained.path, None, weights, why)


def not_repeats(records: list[RunRecord]) -> str | None:
    """None when the models are repeated runs of one recipe; else why not, in a phrase."""
    for record in records:
        if record.settings is None:
            return f"{record.path} does not record the run that made it: {record.missing}"
    first = records[0]
    for record in records[1:]:
        differences = _differences(_recipe(first.settings), _recipe(record.settings))
        if differences:
            return f"{first.path} and {record.path} were trained differently ({differences})"
    for index, record in enumerate(records):
        for other in records[:index]:
            if record.weights == other.weights:
                return f"{other.path} and {record.path} hold the same weights"
            if record.settings.get("seed") == other.settings.get("seed"):
                return f"{other.path} and {record.path} were both trained with seed {record.settings.get('seed')}"
    return None


def _recipe(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that make the recipe, flattened: `recipe.lr`, `options.width`, ..."""
    flat: dict[str, Any] = {}

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                add(f"{prefix}{key}.", item)
        else:
            flat[prefix[:-1]] = value

    add("", {key: value for key, value in settings.items() if key not in NOT_THE_RECIPE})
    if flat.get("time_budget") is not None:  # each run fits its own length into the same budget
        flat.pop("steps", None)
    return flat


def _differences(first: dict[str, Any], second: dict[str, Any]) -> str:
    """"model net against fast, recipe.lr 0.001 against 0.01" (the first three differences)."""
    keys = [key for key in dict.fromkeys([*first, *second]) if first.get(key) != second.get(key)]

    def shown(value: Any) -> str:
        text = "not set" if value is None else f"{len(value)} names" if isinstance(value, list) else str(value)
        return text if len(text) <= 40 else text[:37] + "..."

    said = [f"{key} {shown(first.get(key))} against {shown(second.get(key))}" for key in keys[:3]]
    return ", ".join(said) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
