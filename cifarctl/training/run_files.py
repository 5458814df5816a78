"""The names of the files one training run writes, derived from its model file's name.

No torch here: `cifarctl plot net.pth` finds `net.metrics.jsonl` without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFiles:
    """The files one training run writes: the model, its checkpoint and its metrics log."""

    output: Path
    checkpoint: Path
    metrics: Path


def run_files(output: Path) -> RunFiles:
    """`cifar_net.pth` -> `cifar_net.ckpt` and `cifar_net.metrics.jsonl`.

    Only a `.pth` suffix is replaced; any other name is extended, so `net_lr0.001` and
    `net_lr0.01` get checkpoints of their own (`with_suffix` would give both `net_lr0.ckpt`).
    """
    output = Path(output)
    stem = output.with_suffix("") if output.suffix == ".pth" else output
    return RunFiles(output, stem.with_name(stem.name + ".ckpt"), stem.with_name(stem.name + ".metrics.jsonl"))
