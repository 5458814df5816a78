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


def save_grid(images: torch.Tensor, path: Path, captions: list[str] | None = None, scale: int = 4,
              per_row: int = 8) -> None:
    """Write the images as one PNG grid (like the tutorial's make_grid), each with its
    caption under it: the tutorial prints the labels beside its grid; a file must carry them."""
    from PIL import Image, ImageDraw

    from cifarctl.files import atomic_write

    tiles = as_hwc(upscale(images, scale))
    side, padding = tiles.shape[1], GRID_PADDING * scale
    font_size = caption_font_size(scale)
    band = round(font_size * 1.5) if captions else 0
    columns, rows = min(len(tiles), per_row), -(-len(tiles) // per_row)
    canvas = Image.new("RGB", (columns * (side + padding) + padding, rows * (side + band + padding) + padding), "white")
    draw, font = ImageDraw.Draw(canvas), _caption_font(font_size)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, per_row)
        x, y = padding + column * (side + padding), padding + row * (side + band + padding)
        canvas.paste(Image.fromarray(tile), (x, y))
        if captions:
            draw.text((x + side / 2, y + side + band / 2), captions[index], fill="black", font=font, anchor="mm")
    with atomic_write(path) as handle:
        canvas.save(handle, format="PNG")


def caption_font_size(scale: int) -> int:
    """Legible at every --scale: about a third of the image's side, never tiny."""
    return max(10, round(32 * scale / 4.5))


def _caption_font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # an older Pillow or one without FreeType: fixed bitmap font
        return ImageFont.load_default()


def as_hwc(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) uint8 tensor -> (N, H, W, 3) numpy for drawing in a terminal."""
    return images.permute(0, 2, 3, 1).contiguous().numpy()
