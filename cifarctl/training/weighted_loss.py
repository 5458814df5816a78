"""The loss of a run: the recipe's cross-entropy, each image weighted by its class when the run has class weights.

PyTorch's `CrossEntropyLoss(weight=...)` also weights the label-smoothing term by every class's
weight, so with the fast recipe's smoothing of 0.2 and weights 0.55-5.5 (a 10:1 folder) the
smoothing of a large class's images grows several-fold. Here each image's smoothed loss is
multiplied by its own class's weight, and the batch's loss is their weighted mean (sum of
w[y] x loss over sum of w[y], as PyTorch's weighted mean): the recipe's smoothing stays what
it is for every image. Without weights the criterion is PyTorch's own, unchanged.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cifarctl.training.data_fit import loss_weights
from cifarctl.training.settings import TrainSettings


class ClassWeightedCrossEntropy(nn.Module):
    def __init__(self, weights: torch.Tensor, label_smoothing: float) -> None:
        super().__init__()
        self.register_buffer("weights", weights)
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        losses = F.cross_entropy(logits, targets, reduction="none", label_smoothing=self.label_smoothing)
        weights = self.weights[targets]
        return (weights * losses).sum() / weights.sum().clamp_min(torch.finfo(losses.dtype).tiny)


def make_criterion(settings: TrainSettings, device: torch.device) -> nn.Module:
    """The recipe's cross-entropy (with its label smoothing), weighted per class when the settings say so."""
    weights = loss_weights(settings, device)
    if weights is None:
        return nn.CrossEntropyLoss(label_smoothing=settings.recipe.label_smoothing)
    return ClassWeightedCrossEntropy(weights, settings.recipe.label_smoothing)
