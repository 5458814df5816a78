"""The tutorial's `Net`, exactly, with the width of its first conv as a parameter.

The tutorial's GPU section suggests widening the network: the first conv's output
channels and the second conv's input channels must be the same number, `width`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

TUTORIAL_WIDTH = 6


class Net(nn.Module):
    def __init__(self, width: int = TUTORIAL_WIDTH) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(width, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def width_of(state_dict: dict[str, torch.Tensor]) -> int:
    """The `width` a Net state_dict was made with (conv1's output channels)."""
    return int(state_dict["conv1.weight"].shape[0])


def expected_shapes(width: int) -> dict[str, tuple[int, ...]]:
    return {name: tuple(tensor.shape) for name, tensor in Net(width).state_dict().items()}
