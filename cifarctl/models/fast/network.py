"""A small, fast CIFAR-10 network in the shape of the public speed records (airbench94).

A frozen 2x2 patch-whitening convolution, then three blocks of two 3x3 convolutions with
max-pooling, batch norm (fixed scales, learned shifts) and GELU, then global max-pooling and
a linear layer. `width` is the first block's channels; the other two have `widen` times as
many (airbench94: 64 and 4). The whitening filters are the eigenvectors of the training
images' 2x2 patch covariance (`prepare`), and every 3x3 conv starts with its first `C_in`
filters as the identity (as airbench), so training starts from a network that already passes
the signal through.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

WHITENING_KERNEL = 2
WHITENING_SAMPLES = 5000
OUTPUT_SCALE = 1 / 9  # keeps early logits small, so the high learning rate does not blow up
BIAS_LR_SCALE = 64  # batch-norm shifts learn this much faster than the weights (as airbench)


class BatchNorm(nn.BatchNorm2d):
    """Batch norm with fixed unit scales (only the shifts learn) and fast-moving statistics."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=1e-12, momentum=0.4)
        self.weight.requires_grad = False


def _identity_conv(channels_in: int, channels_out: int) -> nn.Conv2d:
    """A 3x3 conv whose first `channels_in` filters pass their input channel through unchanged
    (the rest keep PyTorch's default initialisation)."""
    conv = nn.Conv2d(channels_in, channels_out, 3, padding="same", bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[: min(channels_in, channels_out)])
    return conv


class Block(nn.Module):
    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv1 = _identity_conv(channels_in, channels_out)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = BatchNorm(channels_out)
        self.conv2 = _identity_conv(channels_out, channels_out)
        self.norm2 = BatchNorm(channels_out)
        self.activation = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activation(self.norm1(self.pool(self.conv1(x))))
        return self.activation(self.norm2(self.conv2(x)))


class FastNet(nn.Module):
    def __init__(self, width: int = 64, widen: int = 2, num_classes: int = 10) -> None:
        super().__init__()
        whitened = 2 * 3 * WHITENING_KERNEL**2
        self.whiten = nn.Conv2d(3, whitened, WHITENING_KERNEL, padding=0)
        self.whiten.weight.requires_grad = False
        self.activation = nn.GELU()
        wide = widen * width
        self.blocks = nn.Sequential(Block(whitened, width), Block(width, wide), Block(wide, wide))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(wide, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.activation(self.whiten(x)))
        return self.head(torch.flatten(self.pool(x), 1)) * OUTPUT_SCALE


def build(width: int = 64, widen: int = 2, num_classes: int = 10) -> FastNet:
    return FastNet(width, widen, num_classes)


def param_groups(model: FastNet, lr: float, weight_decay: float) -> list[dict]:
    """Everything at the recipe's rate except the batch-norm shifts, which learn BIAS_LR_SCALE
    times faster and are decayed as much per step (lr x weight_decay) as the weights."""
    shifts = [p for name, p in model.named_parameters() if p.requires_grad and ".norm" in name]
    others = [p for name, p in model.named_parameters() if p.requires_grad and ".norm" not in name]
    return [{"params": others, "lr": lr, "weight_decay": weight_decay},
            {"params": shifts, "lr": lr * BIAS_LR_SCALE, "weight_decay": weight_decay / BIAS_LR_SCALE}]


def freeze_stem(model: FastNet) -> None:
    """Stop the whitening layer's bias learning (its weights never do), which also spares the
    backward pass through the largest feature map."""
    model.whiten.bias.requires_grad_(False)
    model.whiten.bias.grad = None


@torch.no_grad()
def prepare(model: FastNet, images: torch.Tensor) -> None:
    """Set the whitening filters from the (normalised) training images' 2x2 patches."""
    sample = images[:WHITENING_SAMPLES].float()
    patches = sample.unfold(2, WHITENING_KERNEL, 1).unfold(3, WHITENING_KERNEL, 1)
    patches = patches.transpose(1, 3).reshape(-1, 3 * WHITENING_KERNEL**2)
    patches = patches - patches.mean(dim=0)
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance.double())
    filters = (eigenvectors.T / torch.sqrt(eigenvalues.clamp_min(0) + 5e-4)[:, None]).float()
    filters = filters.view(-1, 3, WHITENING_KERNEL, WHITENING_KERNEL)  # patches are (channel, row, column)
    model.whiten.weight.copy_(torch.cat([filters, -filters]).to(model.whiten.weight.device))
    model.whiten.bias.zero_()


def for_inference(model: FastNet) -> FastNet:
    """The same predictions with every batch norm folded into the convolution before it: 10-15 %
    faster on a CPU (benchmarks/inference_speed.py). The first norm of a block follows a
    max-pool, which a positive per-channel scale passes through unchanged (max(a x + b) =
    a max(x) + b for a > 0); the scales are fixed at 1 in training, and a block whose scales are
    not all positive keeps its norms."""
    for block in model.blocks:
        if isinstance(block.norm1, BatchNorm) and bool((block.norm1.weight > 0).all()):
            block.conv1 = fuse_conv_bn_eval(block.conv1, block.norm1)
            block.conv2 = fuse_conv_bn_eval(block.conv2, block.norm2)
            block.norm1, block.norm2 = nn.Identity(), nn.Identity()
    return model
