"""Images drawn with text: colour half-blocks for terminals, an ASCII ramp for logs.

A half-block cell ('▀') shows two pixels: the top one as the foreground colour, the
bottom one as the background colour, so a 32x32 image fills 32 columns by 16 lines.
Terminals with only 16 colours (TERM=xterm, the Linux console) get the ASCII ramp: rich
would map every pixel to one of 16 colours, mostly greys, and the images became blotches.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.style import Style
from rich.text import Text

HALF_BLOCK = "▀"
ASCII_RAMP = " .:-=+*#%@"
GAP = 2


def draws_in_colour(console: Console) -> bool:
    """Half-blocks need 256 colours or more to show an image."""
    return console.color_system in ("256", "truecolor")


def picture_lines(console: Console, images: np.ndarray, captions: list[str]) -> list[Text] | list[str]:
    """The grid this console can show: colour half-blocks, or the ASCII ramp."""
    if draws_in_colour(console):
        return colour_grid(images, captions, console.size.width)
    return ascii_grid(images, captions, console.size.width)


def colour_grid(images: np.ndarray, captions: list[str], width: int) -> list[Text]:
    """Rows of images as rich Text lines, one cell per two pixels; `images` is (N, H, W, 3) uint8."""
    tile = images.shape[2]
    lines: list[Text] = []
    for start in range(0, len(images), _per_row(width, tile)):
        row = images[start : start + _per_row(width, tile)]
        for y in range(0, row.shape[1], 2):
            line = Text()
            for image in row:
                for x in range(tile):
                    top, bottom = image[y, x], image[min(y + 1, image.shape[0] - 1), x]
                    line.append(HALF_BLOCK, Style(color=_rgb(top), bgcolor=_rgb(bottom)))
                line.append(" " * GAP)
            lines.append(line)
        lines.append(Text(_caption_line(captions[start : start + len(row)], tile)))
    return lines


def ascii_grid(images: np.ndarray, captions: list[str], width: int) -> list[str]:
    """Rows of images as plain characters (brightness ramp), two pixel rows per line."""
    tile = images.shape[2]
    grey = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    lines: list[str] = []
    per_row = _per_row(width, tile)
    for start in range(0, len(images), per_row):
        row = grey[start : start + per_row]
        for y in range(0, row.shape[1], 2):
            pair = row[:, y : y + 2, :].mean(axis=1)
            levels = (pair / 256.0 * len(ASCII_RAMP)).astype(int).clip(0, len(ASCII_RAMP) - 1)
            lines.append((" " * GAP).join("".join(ASCII_RAMP[v] for v in image) for image in levels).rstrip())
        lines.append(_caption_line(captions[start : start + len(row)], tile))
    return lines


def _per_row(width: int, tile: int) -> int:
    return max(1, (width + GAP) // (tile + GAP))


def _caption_line(captions: list[str], tile: int) -> str:
    return (" " * GAP).join(caption[:tile].center(tile) for caption in captions).rstrip()


def _rgb(pixel: np.ndarray) -> str:
    return f"rgb({int(pixel[0])},{int(pixel[1])},{int(pixel[2])})"
