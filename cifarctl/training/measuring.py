"""A trained network's accuracy on a held-out split, measured during a run or a sweep.

Measured a batch at a time with a stop check between batches, so Ctrl-C, SIGTERM or SIGHUP
during the measurement is honoured within a batch's time, not after the whole split.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from cifarctl.data.memory import Split
from cifarctl.inference import EVALUATION_BATCH
from cifarctl.inference.evaluation import predict


def accuracy(network: nn.Module, split: Split, device: torch.device, normalization: tuple, tta: bool,
             precision: str, should_stop: Callable[[], bool]) -> float | None:
    """The share of `split` the network predicts right; None when a stop was asked for first."""
    mean, std = normalization
    correct = 0
    for start in range(0, len(split), EVALUATION_BATCH):
        if should_stop():
            return None
        chunk = slice(start, start + EVALUATION_BATCH)
        predicted = predict(network, split.images[chunk], device, EVALUATION_BATCH, mean, std, tta, precision)
        correct += int((predicted == split.labels[chunk].to(predicted.device)).sum())
    return correct / max(1, len(split))
