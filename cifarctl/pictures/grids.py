"""Pick images to look at and lay them out as one captioned grid, like the tutorial's make_grid."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from cifarctl.data.memory import Split

GRID_PADDING = 2
MIN_FONT_SIZE = 10


def sample(split: Split, count: int, seed: int, classes: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` random images (and labels) of the split, only of `classes` when given."""
    chosen = sample_indices(split, count, seed, classes)
    return split.images[chosen], split.labels[chosen]


def sample_indices(split: Split, count: int, seed: int, classes: list[int] | None = None) -> torch.Tensor:
    """Where in the split `sample` takes its images from: `count` random positions, seeded."""
    indices = torch.arange(len(split))
    if classes:
        indices = indices[torch.isin(split.labels, torch.tensor(classes))]
    generator = torch.Generator().manual_seed(seed)
    return indices[torch.randperm(len(indices), generator=generator)[:count]]


def save_grid(images, path: Path, captions: list[str] | None = None, scale: int = 4, per_row: int = 8) -> None:
    """Write `images` ((N, 3, H, W) uint8, a tensor or an array) as one PNG grid, like the
    tutorial's make_grid, each enlarged `scale` times with crisp pixels and its caption under
    it: the tutorial prints the labels beside its grid; a file must carry them.

    Preview, predict and evaluate's mistakes all write their grids here."""
    from PIL import Image, ImageDraw

    from cifarctl.atomic_writes import atomic_write

    pixels = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    tiles = [np.ascontiguousarray(tile.transpose(1, 2, 0)) for tile in pixels]
    tile_h, tile_w = pixels.shape[2] * scale, pixels.shape[3] * scale
    padding = GRID_PADDING * scale
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    font = _fitting_font(draw, captions or [], caption_font_size(scale), tile_w)
    lines = [_caption_lines(draw, text, font, tile_w) for text in captions or []]
    band = round(font.size * 1.5) if captions and hasattr(font, "size") else (16 if captions else 0)
    line_height = round(font.size * 1.2) if hasattr(font, "size") else 12
    band += line_height * (max((len(caption) for caption in lines), default=1) - 1)
    columns, rows = max(1, min(len(tiles), per_row)), max(1, -(-len(tiles) // per_row))
    canvas = Image.new("RGB", (columns * (tile_w + padding) + padding, rows * (tile_h + band + padding) + padding),
                       "white")
    draw = ImageDraw.Draw(canvas)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, per_row)
        x, y = padding + column * (tile_w + padding), padding + row * (tile_h + band + padding)
        canvas.paste(Image.fromarray(tile, "RGB").resize((tile_w, tile_h), Image.Resampling.NEAREST), (x, y))
        if captions:
            shown = lines[index]
            middle = y + tile_h + band / 2
            for number, line in enumerate(shown):
                text = cut_to_width(draw, line, font, tile_w + padding)
                offset = (number - (len(shown) - 1) / 2) * line_height
                draw.text((x + tile_w / 2, middle + offset), text, fill="black", font=font, anchor="mm")
    with atomic_write(Path(path)) as handle:
        canvas.save(handle, format="PNG")


def caption_font_size(scale: int) -> int:
    """Legible at every --scale: about a third of the image's side, never tiny."""
    return max(MIN_FONT_SIZE, round(32 * scale / 4.5))


def _fitting_font(draw, captions: list[str], size: int, width: int):
    """The largest font up to `size` (down to MIN_FONT_SIZE) in which every caption fits `width`."""
    plain = all(text.isascii() for text in captions)
    font = caption_font(size, plain)
    while size > MIN_FONT_SIZE and any(draw.textlength(text, font=font) > width for text in captions):
        size -= 1
        font = caption_font(size, plain)
    return font


def _caption_lines(draw, text: str, font, width: int) -> list[str]:
    """A caption too wide even in the smallest font, broken in two where it has a space or an
    underscore ("sweet_" / "pepper"), at the break that leaves the narrower longer line; one
    line when it fits or has no such break (it is cut to width then)."""
    if draw.textlength(text, font=font) <= width:
        return [text]
    breaks = [index + 1 for index, character in enumerate(text[:-1]) if character in " _"]
    if not breaks:
        return [text]
    best = min(breaks, key=lambda at: max(draw.textlength(text[:at].rstrip(), font=font),
                                          draw.textlength(text[at:], font=font)))
    return [text[:best].rstrip(), text[best:]]


def cut_to_width(draw, text: str, font, width: int) -> str:
    while text and draw.textlength(text, font=font) > width:
        text = text[:-1]
    return text


def caption_font(size: int, plain: bool = True):
    """Pillow's own font for plain ASCII captions; for other names (navío, Ünïcode, ☂) the
    DejaVu Sans that matplotlib ships, which has their letters (not CJK: those stay boxes)."""
    from PIL import ImageFont

    if not plain and (path := _dejavu_sans()) is not None:
        try:
            return ImageFont.truetype(str(path), size=size)
        except OSError:
            pass
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # an older Pillow or one without FreeType: fixed bitmap font
        return ImageFont.load_default()


@functools.cache
def _dejavu_sans() -> Path | None:
    """matplotlib's bundled DejaVuSans.ttf, found without importing matplotlib (it is slow to import)."""
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    return path if path.is_file() else None


def as_hwc(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) uint8 tensor -> (N, H, W, 3) numpy for drawing in a terminal."""
    return images.permute(0, 2, 3, 1).contiguous().numpy()
