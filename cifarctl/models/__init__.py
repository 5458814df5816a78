"""The model families: building one, its hooks, and what a model is called in reports.

One folder a family (`cifarctl/models/<name>/`): `__init__.py` holds its torch-free entry,
found by `registry`; `network.py` holds its torch code, loaded by `networks`. This package is
what the rest of cifarctl uses: `ModelInfo` (a family, its options and classes),
`build_model`, `hooks_of`. Model files are read and written in `cifarctl.inference.model_files`.
Importing this package does not import torch (the CLI reads the registry for --help); the
functions that build networks do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cifarctl.models import registry
from cifarctl.models.networks import FamilyHooks, load

if TYPE_CHECKING:
    import torch.nn as nn

__all__ = ["FamilyHooks", "ModelInfo", "build_model", "count_parameters", "expected_shapes", "hooks_of", "registry"]


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


def hooks_of(family: registry.Family) -> FamilyHooks:
    """The family's hooks, every one callable (its own or the default); loads its network.py."""
    return load(family).hooks


def build_model(info: ModelInfo) -> nn.Module:
    return load(info.family).build(**info.options, num_classes=info.classes)


def expected_shapes(info: ModelInfo) -> dict[str, tuple[int, ...]]:
    """The state_dict shapes of a model, without allocating its weights."""
    import torch

    with torch.device("meta"):
        model = build_model(info)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())
