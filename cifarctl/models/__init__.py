"""Building the registered model families, and what a model is called in reports.

The registry (`cifarctl.models.registry`) says which families exist; this module turns an
entry and its options into a network. Model files are read and written in
`cifarctl.inference.model_files`. Importing this package does not import torch (the CLI reads the
registry for --help); the functions that build networks do.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cifarctl.models import registry

if TYPE_CHECKING:
    import torch.nn as nn


@dataclass(frozen=True)
class ModelInfo:
    name: str  # the registry name, e.g. "net"
    options: dict[str, Any] = field(default_factory=dict)  # e.g. {"width": 6}
    classes: int = 10  # outputs of the head: the number of classes it tells apart

    @property
    def family(self) -> registry.Family:
        return registry.get(self.name)

    def describe(self) -> str:
        return self.family.describe(self.options)


def family_module(family: registry.Family) -> Any:
    return importlib.import_module(family.module)


def hook(family: registry.Family, name: str) -> Callable[..., Any] | None:
    """The family's optional `name` hook (see registry.HOOKS), or None if its entry does not declare it."""
    if name not in registry.HOOKS:
        raise ValueError(f"unknown hook {name!r}")
    return getattr(family_module(family), name) if name in family.hooks else None


def build_model(info: ModelInfo) -> nn.Module:
    return family_module(info.family).build(**info.options, num_classes=info.classes)


def expected_shapes(info: ModelInfo) -> dict[str, tuple[int, ...]]:
    """The state_dict shapes of a model, without allocating its weights."""
    import torch

    with torch.device("meta"):
        model = build_model(info)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())
