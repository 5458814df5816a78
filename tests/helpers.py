"""Small helpers shared by several test files."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


def run_on_a_terminal(args: list[str], cwd: Path, term: str = "xterm-256color") -> str:
    """stdout of `cifarctl ARGS` on a pseudo-terminal with this TERM, as a person would see it."""
    primary, secondary = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "TERM": term, "COLUMNS": "100"}
    for name in ("CI", "COLORTERM", "NO_COLOR", "FORCE_COLOR"):
        env.pop(name, None)
    process = subprocess.Popen([sys.executable, "-m", "cifarctl", *args], cwd=cwd, stdout=secondary,
                               stderr=subprocess.PIPE, env=env)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert process.wait(timeout=120) == 0, process.stderr.read()
    return b"".join(chunks).decode("utf-8", "replace")


def limit_file_size(limit: int) -> Callable[[], None]:
    """A subprocess `preexec_fn` that makes writes beyond `limit` bytes fail like a full disk."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


class TutorialNet(nn.Module):
    """The tutorial's Net, verbatim, to prove the saved file is what the tutorial loads."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def save_tutorial_model(folder: Path) -> Path:
    """An untrained tutorial Net saved the tutorial's way, as `folder/cifar_net.pth`."""
    torch.manual_seed(0)
    path = folder / "cifar_net.pth"
    torch.save(TutorialNet().state_dict(), path)
    return path
