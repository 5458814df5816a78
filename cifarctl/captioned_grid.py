"""One PNG of many small images, each with a caption under it (`predict --save`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cifarctl.files import atomic_write

PADDING = 6
CAPTION_POINTS = 13


def save_captioned_grid(images: np.ndarray, captions: list[str], path: Path, scale: int = 4,
                        per_row: int = 8) -> None:
    """`images` (N, 3, H, W) uint8, enlarged `scale` times with crisp pixels, in rows of `per_row`."""
    count, _, height, width = images.shape
    tile_w, tile_h = width * scale, height * scale
    font = _font()
    caption_h = _text_height(font) + PADDING
    columns = max(1, min(per_row, count))
    rows = max(1, -(-count // columns))
    canvas = Image.new("RGB", (PADDING + columns * (tile_w + PADDING),
                               PADDING + rows * (tile_h + caption_h + PADDING)), "white")
    draw = ImageDraw.Draw(canvas)
    for index, (pixels, caption) in enumerate(zip(images, captions)):
        left = PADDING + (index % columns) * (tile_w + PADDING)
        top = PADDING + (index // columns) * (tile_h + caption_h + PADDING)
        tile = Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)), "RGB")
        canvas.paste(tile.resize((tile_w, tile_h), Image.Resampling.NEAREST), (left, top))
        text = _fitted(draw, caption, font, tile_w)
        text_w = draw.textlength(text, font=font)
        draw.text((left + (tile_w - text_w) / 2, top + tile_h + PADDING / 2), text, fill="black", font=font)
    with atomic_write(path) as handle:
        canvas.save(handle, format="PNG")


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=CAPTION_POINTS)
    except (TypeError, OSError):  # Pillow without FreeType: the small built-in bitmap font
        return ImageFont.load_default()


def _text_height(font) -> int:
    _, top, _, bottom = font.getbbox("Hgy%")
    return int(bottom - min(top, 0)) + 1


def _fitted(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    while text and draw.textlength(text, font=font) > width:
        text = text[:-1]
    return text
