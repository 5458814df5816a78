"""Starting a run from a trained model file (`train --init-from MODEL`) instead of from scratch.

The file must hold the family and size being trained, for images of the same size; anything
else is refused in one line naming both. Its weights replace the fresh ones after the family's
`prepare` hook (a pretrained `fast` keeps the whitening its other layers learned on) and before
the optimiser and weight averaging see them. When the data's classes differ from the file's
(other names, order or count), the family's `head` (its entry names the module) keeps its
fresh initialisation: one output per new class. `--freeze-backbone` stops everything but the
head learning. The run's settings record the file (path, MD5, what it was trained on), so the
model file written at the end says where it started.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cifarctl.data.memory import Split
from cifarctl.errors import CheckpointError, UsageError
from cifarctl.inference.model_files import TrainedModel, load_trained_model
from cifarctl.input_files import md5_of
from cifarctl.models import ModelInfo
from cifarctl.models.registry import Family, FamilyError
from cifarctl.training.settings import TrainSettings


def read_start(path: Path, settings: TrainSettings, size_given: bool = True) -> TrainedModel:
    """The model file to start from, refused unless it holds the family `settings` train and, when
    a size was given (`size_given`), that size; without one the run takes the file's size."""
    if not Path(path).exists() and not Path(path).is_symlink():
        raise CheckpointError(f"--init-from {path} does not exist; give a model file written by 'cifarctl train'")
    try:
        trained = load_trained_model(path)
    except CheckpointError as error:
        raise CheckpointError(f"--init-from: {error}") from None
    wanted = ModelInfo(settings.model, settings.options)
    same_size = dict(trained.info.options) == dict(settings.options) or not size_given
    if trained.info.name != settings.model or not same_size:
        hint = (f"train --model {trained.info.name}" + "".join(f" --model-option {name}={value}"
                                                             for name, value in trained.info.options.items()))
        raise UsageError(f"--init-from {path} holds {trained.describe()}, but this run trains {wanted.describe()}; "
                         f"start from a model of the same family and size, or {hint} to match it")
    return trained


def start_record(path: Path, trained: TrainedModel, data: Split, freeze_backbone: bool) -> dict[str, Any]:
    """What the settings record of the start: the file, its MD5 and what it learned; whether its
    head is replaced (the classes differ) and whether the backbone is frozen. Refuses images of
    another size than the file's."""
    size = tuple(data.images.shape[-2:])
    if size != tuple(trained.image_size):
        raise UsageError(f"--init-from {path} was trained on {_size(trained.image_size)} images, but "
                         f"{data.classes.title or 'this dataset'} has {_size(size)} ones; start from a model "
                         "trained on images of the same size")
    _head(trained.info.family)  # a family without a head entry cannot be started from
    return {"path": str(path), "md5": md5_of(path), "family": trained.info.name,
            "dataset": trained.dataset, "classes": len(trained.classes),
            "head_replaced": tuple(trained.classes) != tuple(data.classes.names),
            "freeze_backbone": freeze_backbone}


def describe_start(record: dict[str, Any], trained_classes: tuple[str, ...], data: Split) -> str:
    """The line a run says before training: where it starts, and what happens to the head."""
    line = f"starting from {record['path']} ({record['family']} trained on {record['dataset']}, " \
           f"{record['classes']} classes)"
    if record["head_replaced"]:
        same = len(trained_classes) == len(data.classes)
        why = "other classes" if same else f"{len(data.classes)} classes, not {len(trained_classes)}"
        line += f"; its head is replaced by a new one, since this data has {why}"
    if record["freeze_backbone"]:
        line += "; only the head trains (--freeze-backbone)"
    return line


def start_from(network: nn.Module, settings: TrainSettings) -> None:
    """Load the start's weights into a freshly built `network` (all, or all but the head), and
    freeze the backbone when asked. Nothing for a run from scratch."""
    record = settings.init_from
    if record is None:
        return
    family = ModelInfo(settings.model).family
    head = _head(family)
    weights = _weights(Path(record["path"]), record["md5"])
    if record["head_replaced"]:
        weights = {name: tensor for name, tensor in weights.items() if not _in(name, head)}
    missing, unexpected = network.load_state_dict(weights, strict=False)
    if unexpected or any(not _in(name, head) for name in missing):
        raise CheckpointError(f"--init-from {record['path']} does not fit {family.title}: "
                              f"{', '.join((unexpected or missing)[:3])}")
    if record["freeze_backbone"]:
        for name, parameter in network.named_parameters():
            if not _in(name, head):
                parameter.requires_grad_(False)


@functools.lru_cache(maxsize=2)
def _weights(path: Path, md5: str) -> dict[str, torch.Tensor]:
    """The file's weights on the CPU, read once a process (a sweep's runs, a time budget's probes)."""
    if md5_of(path) != md5:
        raise CheckpointError(f"--init-from {path} changed since the run began (its MD5 differs); start the run "
                              "again from the file as it is now")
    trained = load_trained_model(path)
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in trained.network.state_dict().items()}


def _head(family: Family) -> str:
    if not family.head:
        raise FamilyError(f"model family {family.name} names no head in its entry (head=...), so a run cannot start "
                          "from one of its model files")
    return family.head


def _in(name: str, module: str) -> bool:
    return name == module or name.startswith(module + ".")


def _size(size: tuple[int, ...]) -> str:
    return "x".join(map(str, size))
