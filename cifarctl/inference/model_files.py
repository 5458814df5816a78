"""Model files: what `train` writes and what `evaluate`, `predict` and `export` load.

- The tutorial's `Net` is saved as its plain `state_dict`, exactly what the tutorial saves,
  so `net.load_state_dict(torch.load(PATH, weights_only=True))` works.
- Every other family is saved as a small dict of plain types and tensors that says what it
  holds: family, options, input normalisation, the dataset and its class names (one output
  each), test-time augmentation. The Net is saved so too when trained on another dataset
  than CIFAR-10, since a bare state_dict cannot say which classes its outputs are.
- A model trained with a validation split records it (size, seed, fingerprint), so
  `evaluate --split val` can rebuild it; the tutorial's Net is then saved described too,
  since a bare state_dict has nowhere to keep it.
- A described file also records what made it (`made_by`: the cifarctl version, the run's
  settings and how it ran; see `provenance.py`); the bare state_dict cannot.
- `load_trained_model` reads either (or a training checkpoint), validates it against the
  registry's limits before building anything, and returns a ready network.
"""

from __future__ import annotations

import copy
import functools
import reprlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cifarctl.data.catalog import DEFAULT_DATASET, MAX_CLASSES, SHORT_NAMES, Classes, class_name_problem
from cifarctl.data.pixels import SIDE
from cifarctl.errors import CheckpointError, UsageError
from cifarctl.inference.provenance import (
    BEFORE_RECORDS,
    CHECKPOINT,
    PLAIN_STATE_DICT,
    MadeBy,
    made_by_record,
    read_made_by,
)
from cifarctl.models import (
    ModelInfo,
    build_model,
    expected_shapes,
    hooks_of,
    registry,
)
from cifarctl.recipes.precision import inference_layout, resolve_precision
from cifarctl.torch_files import CHECKPOINT_VERSION, is_checkpoint, load_state, save_state, version_problem

MODEL_FORMAT = "cifarctl-model"
MODEL_VERSION = 1


@dataclass
class TrainedModel:
    network: nn.Module
    info: ModelInfo
    mean: tuple[float, ...]
    std: tuple[float, ...]
    tta: bool  # whether the family's recipe predicts with test-time augmentation by default
    path: Path
    precision: str = "fp32"  # what the family's recipe computes in on this device
    validation: dict[str, Any] | None = None  # the split held out while it trained, if any
    classes: tuple[str, ...] = SHORT_NAMES  # what each output means, in order
    dataset: str = DEFAULT_DATASET  # what it was trained on
    made_by: MadeBy = BEFORE_RECORDS  # what made it: the cifarctl version, the run's settings (or why unknown)
    run_settings: dict[str, Any] | None = None  # the settings of the run that made it, where the file records them
    image_size: tuple[int, int] = (SIDE, SIDE)  # (height, width) of the images it was trained on

    def describe(self) -> str:
        return self.info.describe()

    @functools.cached_property
    def inference_network(self) -> nn.Module:
        """The network as it predicts fastest: a copy in eval mode, in its family's inference form."""
        network = hooks_of(self.info.family).for_inference(copy.deepcopy(self.network).eval())
        return network.to(memory_format=inference_layout(self.precision, next(network.parameters()).device))


def model_document(info: ModelInfo, state_dict: dict[str, torch.Tensor], tta: bool,
                   validation: dict[str, Any] | None = None, dataset: str = DEFAULT_DATASET,
                   classes: tuple[str, ...] = SHORT_NAMES, made_by: dict[str, Any] | None = None) -> Any:
    """What `train` saves: a bare state_dict for the tutorial's Net on CIFAR-10, a described
    dict otherwise (and for the Net too when a validation split must be recorded). A described
    dict records what made it when `made_by` gives the run (see `provenance.made_by_record`);
    the bare state_dict has nowhere to keep that."""
    family = info.family
    if family.plain_state_dict and validation is None and tuple(classes) == SHORT_NAMES:
        return state_dict
    mean, std = family.normalization
    document = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "family": info.name,
        "options": dict(info.options),
        "normalization": {"mean": list(mean), "std": list(std)},
        "dataset": dataset,
        "classes": list(classes),
        "tta": tta,
        "image_size": [SIDE, SIDE],  # every dataset cifarctl stores is 32x32; `train --init-from` checks it
        "state_dict": state_dict,
    }
    if validation is not None:
        document["validation"] = dict(validation)
    if made_by is not None:
        document["made_by"] = made_by_record(made_by)
    return document


def save_trained_model(path: Path, info: ModelInfo, state_dict: dict[str, torch.Tensor], tta: bool,
                       validation: dict[str, Any] | None = None, dataset: str = DEFAULT_DATASET,
                       classes: tuple[str, ...] = SHORT_NAMES, *, made_by: dict[str, Any] | None = None) -> None:
    """Write a model file; `made_by` is the run that made the weights: `settings`
    (`TrainSettings.as_dict()`), `precision` (as computed), `steps`, `processes`, `device`."""
    save_state(model_document(info, state_dict, tta, validation, dataset, classes, made_by), path)


def load_trained_model(path: Path, device: torch.device | str = "cpu") -> TrainedModel:
    """Any model file `train` wrote (or its checkpoint, or a tutorial state_dict), validated."""
    path = Path(path)
    document = load_state(path, missing_hint="; train one with 'cifarctl train' or pass --model PATH")
    info, state_dict, tta = _read_document(document, path)
    dataset, classes = _recorded_classes(document, path)
    info = replace(info, classes=len(classes))
    validation = _recorded_validation(document)
    _check_tensors(state_dict, info, path)
    network = build_model(info)
    _check_number_kinds(state_dict, network.state_dict(), info, path)
    network.load_state_dict(state_dict)
    mean, std = info.family.normalization
    precision = resolve_precision(info.family.recipe.precision, torch.device(device))
    network = network.to(device, memory_format=inference_layout(precision, torch.device(device))).eval()
    made_by = _recorded_made_by(document)
    return TrainedModel(network, info, mean, std, tta, path, precision, validation, classes, dataset, made_by,
                        _recorded_run_settings(document, made_by), _recorded_image_size(document, path))


def check_classes_match(trained: TrainedModel, classes: Classes, dataset: str) -> None:
    """A model measures only data of the classes it was trained on (by name, in order)."""
    if tuple(trained.classes) == tuple(classes.names):
        return
    had = Classes(tuple(trained.classes)).describe()
    if trained.dataset == dataset:
        raise UsageError(f"{trained.path} was trained on {dataset} when it had {had}; "
                         f"{dataset} has {classes.describe()} now (it was imported again): train the model again, "
                         "or import the images it was trained on under another name")
    raise UsageError(f"{trained.path} was trained on {trained.dataset} ({had}), but --dataset {dataset} has "
                     f"{classes.describe()}; pass --dataset {trained.dataset}, or a model trained on {dataset}")


def _recorded_classes(document: Any, path: Path) -> tuple[str, tuple[str, ...]]:
    """The dataset and class names a model file or checkpoint records; a bare state_dict (the
    tutorial's) and files from before datasets were recorded are CIFAR-10's."""
    if not isinstance(document, dict):
        return DEFAULT_DATASET, SHORT_NAMES
    if is_checkpoint(document):
        settings = document.get("settings")
        record = settings if isinstance(settings, dict) else {}
    elif document.get("format") == MODEL_FORMAT:
        record = document
    else:
        return DEFAULT_DATASET, SHORT_NAMES
    dataset, classes = record.get("dataset", DEFAULT_DATASET), record.get("classes", list(SHORT_NAMES))
    if (not isinstance(dataset, str) or not isinstance(classes, list) or not 2 <= len(classes) <= MAX_CLASSES
            or not all(isinstance(name, str) and 0 < len(name) <= 255 for name in classes)):
        raise CheckpointError(f"{path} records its dataset or class names in a form that cannot be read; it is damaged")
    for name in classes:  # printed in tables, tab-separated lines and captions: the import's rule
        problem = class_name_problem(name)
        if problem is not None:
            raise CheckpointError(f"{path} records the class name {name!r}, which {problem}; it was not written by "
                                  "this cifarctl, or the images it learned were imported under names it now refuses")
    return dataset, tuple(classes)


def _recorded_validation(document: Any) -> dict[str, Any] | None:
    """The validation split a model file or checkpoint records (checked when it is used)."""
    if not isinstance(document, dict):
        return None
    if is_checkpoint(document):
        settings = document.get("settings")
        return settings.get("validation") if isinstance(settings, dict) else None
    return document.get("validation") if document.get("format") == MODEL_FORMAT else None


def _recorded_image_size(document: Any, path: Path) -> tuple[int, int]:
    """The (height, width) a model file records; files without the record (and bare state_dicts,
    and checkpoints) were trained on 32x32 images, the only size cifarctl has stored."""
    if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT or "image_size" not in document:
        return SIDE, SIDE
    size = document["image_size"]
    if (not isinstance(size, list) or len(size) != 2
            or not all(isinstance(side, int) and not isinstance(side, bool) and 0 < side <= 65_536 for side in size)):
        raise CheckpointError(f"{path} records its image size in a form that cannot be read; it is damaged")
    return size[0], size[1]


def _recorded_made_by(document: Any) -> MadeBy:
    """What a model file records of what made it; a checkpoint or a bare state_dict has no record."""
    if is_checkpoint(document):
        return CHECKPOINT
    if isinstance(document, dict) and document.get("format") == MODEL_FORMAT:
        return read_made_by(document.get("made_by"))
    return PLAIN_STATE_DICT


def _recorded_run_settings(document: Any, made_by: MadeBy) -> dict[str, Any] | None:
    """The run's settings (`TrainSettings.as_dict()`): a checkpoint's own, or a model file's record's."""
    if is_checkpoint(document):
        settings = document.get("settings")
    else:
        settings = made_by.record.get("settings") if made_by.record is not None else None
    return settings if isinstance(settings, dict) else None


def _read_document(document: Any, path: Path) -> tuple[ModelInfo, dict[str, torch.Tensor], bool]:
    if is_checkpoint(document):
        problem = version_problem(document.get("version"), CHECKPOINT_VERSION, path, "training checkpoint")
        if problem:
            raise CheckpointError(problem)
        settings = document.get("settings")
        if not isinstance(settings, dict):
            raise CheckpointError(f"{path} is a training checkpoint without its settings; it is damaged")
        info = _info(settings.get("model"), settings.get("options"), path)
        recipe = settings.get("recipe") if isinstance(settings.get("recipe"), dict) else {}
        averaged = document.get("averaged_model")
        weights = averaged if isinstance(averaged, dict) and averaged else document.get("model")
        return info, _state_dict(weights, path), bool(recipe.get("tta", False))
    if isinstance(document, dict) and document.get("format") == MODEL_FORMAT:
        problem = version_problem(document.get("version"), MODEL_VERSION, path, "model file")
        if problem:
            raise CheckpointError(problem)
        info = _info(document.get("family"), document.get("options"), path)
        return info, _state_dict(document.get("state_dict"), path), bool(document.get("tta", False))
    state_dict = _state_dict(document, path)
    return _recognise(state_dict, path), state_dict, False


def _info(name: Any, options: Any, path: Path) -> ModelInfo:
    if not isinstance(name, str) or name not in registry.FAMILIES:
        known = ", ".join(registry.names())
        raise CheckpointError(f"{path} holds a model family {reprlib.repr(name)} that this cifarctl does not know "
                              f"(it knows {known})")
    if not isinstance(options, dict):
        raise CheckpointError(f"{path} has no valid model options; it is damaged")
    try:
        return ModelInfo(name, registry.get(name).resolve_options(options, str(path)))
    except UsageError as error:
        raise CheckpointError(str(error)) from None


def _state_dict(value: Any, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(value, dict) or not value or not all(
            isinstance(key, str) and isinstance(tensor, torch.Tensor) for key, tensor in value.items()):
        raise CheckpointError(f"{path} does not hold a model state_dict")
    return value


def _recognise(state_dict: dict[str, torch.Tensor], path: Path) -> ModelInfo:
    """A bare state_dict: ask each family saved as one (the tutorial's Net) whether it is theirs."""
    for family in registry.FAMILIES.values():
        options = hooks_of(family).matches(state_dict) if family.plain_state_dict else None
        if options is not None:
            return _info(family.name, options, path)
    sample = ", ".join(sorted(state_dict)[:4])
    raise CheckpointError(f"{path} holds weights of a model cifarctl does not know ({sample}, ...); "
                          "expected the tutorial's Net or a file written by 'cifarctl train'")


def _check_tensors(state_dict: dict[str, torch.Tensor], info: ModelInfo, path: Path) -> None:
    expected = expected_shapes(info)
    actual = {name: tuple(tensor.shape) for name, tensor in state_dict.items()}
    if actual != expected:
        raise CheckpointError(f"{path} does not fit {info.describe()}: {_differences(expected, actual)}; "
                              "it is damaged or was made by another program")
    for name, tensor in state_dict.items():
        if tensor.layout != torch.strided or tensor.is_complex() or tensor.dtype == torch.bool:
            raise CheckpointError(f"{path} stores {name} as a {tensor.layout} {tensor.dtype} tensor, not plain "
                                  "numbers; it was not written by cifarctl or PyTorch's state_dict")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path} has non-finite weights ({name} holds NaN or infinity): the training "
                                  "run that wrote it diverged; train again with a lower --lr")


def _differences(expected: dict[str, tuple[int, ...]], actual: dict[str, tuple[int, ...]]) -> str:
    """"missing fc3.bias", "unexpected extra.weight", "fc1.weight is 120x400 where 120x256 is expected"."""
    def listed(names: list[str]) -> str:
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    def shape(dims: tuple[int, ...]) -> str:
        return "x".join(map(str, dims)) or "a scalar"

    missing = [name for name in expected if name not in actual]
    extra = [name for name in actual if name not in expected]
    reshaped = [name for name in expected if name in actual and expected[name] != actual[name]]
    parts = []
    if missing:
        parts.append(f"missing {listed(missing)}")
    if extra:
        parts.append(f"unexpected {listed(extra)}")
    parts += [f"{name} is {shape(actual[name])} where {shape(expected[name])} is expected" for name in reshaped[:3]]
    return "; ".join(parts)


def _check_number_kinds(state_dict: dict[str, torch.Tensor], wanted: dict[str, torch.Tensor], info: ModelInfo,
                        path: Path) -> None:
    """Weights are fractions: load_state_dict would silently turn int64 "weights" into floats
    (and counters such as BatchNorm's num_batches_tracked are whole numbers)."""
    for name, tensor in state_dict.items():
        if tensor.is_floating_point() != wanted[name].is_floating_point():
            kind = "floating-point numbers" if wanted[name].is_floating_point() else "whole numbers"
            raise CheckpointError(f"{path} stores {name} as {tensor.dtype}, but {info.describe()} keeps {kind} "
                                  "there; the file is damaged or was made by another program")
