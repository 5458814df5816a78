"""Pick images to look at and lay them out as one grid, like the tutorial's make_grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cifarctl.data.memory import Split

GRID_PADDING = 2


def sample(split: Split, count: int, seed: int, classes: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` random images (and labels) of the split, only of `classes` when given."""
    indices = torch.arange(len(split))
    if classes:
        indices = indices[torch.isin(split.labels, torch.tensor(classes))]
    generator = torch.Generator().manual_seed(seed)
    chosen = indices[torch.randperm(len(indices), generator=generator)[:count]]
    return split.images[chosen], split.labels[chosen]


def upscale(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest-neighbour enlargement, so 32x32 pixels stay crisp squares."""
    return images.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


def save_grid(images: torch.Tensor, path: Path, scale: int = 4, per_row: int = 8) -> None:
    """Write the images as one PNG grid (torchvision's make_grid + save_image)."""
    from torchvision.utils import make_grid, save_image

    from cifarctl.files import atomic_write

    grid = make_grid(upscale(images, scale).float() / 255.0, nrow=per_row, padding=GRID_PADDING * scale, pad_value=1.0)
    with atomic_write(path) as handle:
        save_image(grid, handle, format="png")


def as_hwc(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) uint8 tensor -> (N, H, W, 3) numpy for drawing in a terminal."""
    return images.permute(0, 2, 3, 1).contiguous().numpy()
