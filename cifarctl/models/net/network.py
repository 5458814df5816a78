"""The tutorial's `Net`, exactly, with the width of its first conv as a parameter.

The tutorial's GPU section suggests widening the network: the first conv's output
channels and the second conv's input channels must be the same number, `width`. For a
dataset with other than CIFAR-10's ten classes, only the last layer's outputs change.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

TUTORIAL_WIDTH = 6
TUTORIAL_CLASSES = 10


class Net(nn.Module):
    def __init__(self, width: int = TUTORIAL_WIDTH, num_classes: int = TUTORIAL_CLASSES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(width, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def build(width: int = TUTORIAL_WIDTH, num_classes: int = TUTORIAL_CLASSES) -> Net:
    return Net(width, num_classes)


NET_KEYS = frozenset({"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
                      "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"})


def matches(state_dict: dict[str, Any]) -> dict[str, Any] | None:
    """The options of a bare state_dict that is mostly a tutorial Net's (its width), or None.

    Mostly, not exactly: a Net with a key missing or extra is still recognised, so that the
    loader can name the key instead of calling it a model cifarctl does not know.
    """
    keys = set(state_dict)
    if len(keys & NET_KEYS) * 2 < len(NET_KEYS) or len(keys - NET_KEYS) * 2 > len(NET_KEYS):
        return None
    for name, axis in (("conv1.weight", 0), ("conv1.bias", 0), ("conv2.weight", 1)):
        tensor = state_dict.get(name)
        if tensor is not None and tensor.dim() > axis:
            return {"width": int(tensor.shape[axis])}
    return {"width": TUTORIAL_WIDTH}
