"""Where a network looked, as one PNG: each image, its heatmap overlaid, and its top classes beside them.

A panel per image: the 32x32 image enlarged with crisp pixels, the same image with its
Grad-CAM heatmap (0..1, `cifarctl.inference.explain`) laid over it in the jet colours Grad-CAM
pictures use (blue: nothing, red: where the score came from), and beside them a title (the
file, or the true class of a mistake) and the top classes with their probabilities. A header
says what the colours mean. Written with Pillow, atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cifarctl.pictures.grids import caption_font, cut_to_width

SCALE = 4  # 32 pixels -> 128
PADDING = 12
TEXT_WIDTH = 190
OVERLAY_WEIGHT = 0.5  # the heatmap's share of an overlaid pixel (pytorch-grad-cam's show_cam_on_image uses 0.5)
PER_ROW = 3
TITLE_FONT, LINE_FONT, HEADER_FONT = 15, 17, 17


def jet(heat: np.ndarray) -> np.ndarray:
    """(..., ) values in 0..1 -> (..., 3) uint8 colours of the jet map (dark blue, cyan, yellow, red)."""
    x = np.clip(np.asarray(heat, dtype=np.float32), 0, 1)[..., None]
    centres = np.array([0.75, 0.5, 0.25], dtype=np.float32)  # red, green, blue peak at 3/4, 1/2, 1/4
    return (255 * np.clip(1.5 - np.abs(4 * x - 4 * centres), 0, 1)).round().astype(np.uint8)


def overlay(image: np.ndarray, heat: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """(3, H, W) uint8 image and (H, W) heat -> (H*scale, W*scale, 3) uint8 blend, the heat smoothly upscaled."""
    from PIL import Image

    height, width = heat.shape
    size = (width * scale, height * scale)
    big = np.asarray(Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0))).resize(size, Image.NEAREST))
    smooth = np.asarray(Image.fromarray(np.asarray(heat, np.float32), mode="F").resize(size, Image.BILINEAR))
    blended = (1 - OVERLAY_WEIGHT) * big.astype(np.float32) + OVERLAY_WEIGHT * jet(smooth).astype(np.float32)
    return blended.round().clip(0, 255).astype(np.uint8)


def save_heatmaps(images: np.ndarray, heat: np.ndarray, titles: Sequence[str], lines: Sequence[Sequence[str]],
                  path: Path, header: str, per_row: int = PER_ROW) -> None:
    """`images` (N, 3, H, W) uint8 with `heat` (N, H, W) in 0..1, each panel titled and with its
    text `lines` (the top classes), under a `header`; one PNG at `path`."""
    from PIL import Image, ImageDraw

    from cifarctl.atomic_writes import atomic_write

    count = len(images)
    side_h, side_w = images.shape[2] * SCALE, images.shape[3] * SCALE
    panel_w, panel_h = 2 * side_w + PADDING + TEXT_WIDTH, side_h
    columns, rows = max(1, min(count, per_row)), -(-count // per_row)
    plain = all(text.isascii() for text in [header, *titles, *(line for group in lines for line in group)])
    fonts = {size: caption_font(size, plain) for size in (TITLE_FONT, LINE_FONT, HEADER_FONT)}
    header_h = 2 * PADDING + round(1.3 * HEADER_FONT) * 2
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    header_w = max(measure.textlength(header, font=fonts[HEADER_FONT]), _legend_width(measure, fonts[HEADER_FONT]))
    width = max(columns * (panel_w + 2 * PADDING) + PADDING, round(header_w) + 2 * PADDING)
    canvas = Image.new("RGB", (width, header_h + rows * (panel_h + 2 * PADDING)), "white")
    draw = ImageDraw.Draw(canvas)
    _header(canvas, draw, header, fonts[HEADER_FONT], width)
    for index in range(count):
        row, column = divmod(index, per_row)
        x = PADDING + column * (panel_w + 2 * PADDING)
        y = header_h + row * (panel_h + 2 * PADDING)
        plain_image = np.ascontiguousarray(images[index].transpose(1, 2, 0))
        canvas.paste(Image.fromarray(plain_image).resize((side_w, side_h), Image.NEAREST), (x, y))
        canvas.paste(Image.fromarray(overlay(images[index], heat[index])), (x + side_w, y))
        text_x = x + 2 * side_w + PADDING
        title = _cut_left(draw, titles[index], fonts[TITLE_FONT], TEXT_WIDTH)
        draw.text((text_x, y + 2), title, fill="#444444", font=fonts[TITLE_FONT])
        line_y = y + round(1.6 * TITLE_FONT) + 4
        for rank, line in enumerate(lines[index]):
            text = cut_to_width(draw, line, fonts[LINE_FONT], TEXT_WIDTH)
            draw.text((text_x, line_y), text, fill="black" if rank == 0 else "#666666", font=fonts[LINE_FONT])
            line_y += round(1.35 * LINE_FONT)
    with atomic_write(Path(path)) as handle:
        canvas.save(handle, format="PNG")


def _cut_left(draw, text: str, font, width: int) -> str:
    """A path too long for its panel keeps its end, the file's name: `.../frog/0003.png`."""
    if draw.textlength(text, font=font) <= width:
        return text
    while len(text) > 1 and draw.textlength("..." + text, font=font) > width:
        text = text[1:]
    return "..." + text


LEGEND_LABEL, LEGEND_TEXT, BAR_WIDTH = "heat:", "0 (no part in the class's score) to 1 (the most)", 160


def _legend_width(draw, font) -> float:
    return draw.textlength(LEGEND_LABEL, font=font) + 8 + BAR_WIDTH + 10 + draw.textlength(LEGEND_TEXT, font=font)


def _header(canvas, draw, text: str, font, width: int) -> None:
    """The header's text, and a colour bar saying what the overlay's colours mean."""
    from PIL import Image

    draw.text((PADDING, PADDING), cut_to_width(draw, text, font, width - 2 * PADDING), fill="black", font=font)
    y = PADDING + round(1.4 * HEADER_FONT)
    draw.text((PADDING, y), LEGEND_LABEL, fill="#444444", font=font)
    bar_x = PADDING + round(draw.textlength(LEGEND_LABEL, font=font)) + 8
    bar = jet(np.linspace(0, 1, BAR_WIDTH)[None, :].repeat(HEADER_FONT, axis=0))
    canvas.paste(Image.fromarray(bar), (bar_x, y + 2))
    draw.text((bar_x + BAR_WIDTH + 10, y), LEGEND_TEXT, fill="#444444", font=font)
