"""The built-in models, and recognising which one a saved state_dict belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from cifarctl.errors import CheckpointError
from cifarctl.models import net

MODEL_NAMES = ("net",)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    options: dict[str, Any]  # what build_model needs besides the name, e.g. {"width": 6}

    def describe(self) -> str:
        if self.name == "net":
            return f"Net (width {self.options['width']})"
        return self.name


def build_model(info: ModelInfo) -> nn.Module:
    if info.name == "net":
        return net.Net(**info.options)
    raise CheckpointError(f"unknown model {info.name!r}")


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def identify(state_dict: Any, path: object) -> ModelInfo:
    """Which built-in model (and width) a state_dict fits; a foreign one is refused."""
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(f"{path} does not hold a model state_dict")
    keys = set(state_dict)
    if "conv1.weight" in keys:
        width = net.width_of(state_dict)
        expected = net.expected_shapes(width)
        actual = {name: tuple(tensor.shape) for name, tensor in state_dict.items()}
        if actual == expected:
            return ModelInfo("net", {"width": width})
    sample = ", ".join(sorted(keys)[:4]) or "no tensors"
    raise CheckpointError(f"{path} holds weights of a model cifarctl does not know ({sample}, ...); "
                          "expected the tutorial's Net")
