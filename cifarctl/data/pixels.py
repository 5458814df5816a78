"""Any image file as what the networks take: 32x32 RGB uint8, by one set of rules.

Both ways an image enters cifarctl use these rules: `predict` on the user's pictures and the
import of the user's labelled image folders. So a model sees the same pixels for a file
whether it was trained on it or is asked about it.

- Size: `crop` takes the largest centred square and resizes it (torchvision's Resize +
  CenterCrop: a photo of one object keeps its proportions); `stretch` squeezes the whole
  picture. Shrinking is antialiased (a box filter to near size, then Lanczos).
- Transparency is shown on white, as an image viewer shows it.
- Greyscale and palette images become RGB; 16-bit, 32-bit and floating-point grey are scaled
  by their real range (Pillow's own conversion clips 0..65535 to 0..255: almost white).
- A photo is turned upright as its EXIF orientation says, as every viewer turns it.

No torch here: decoding worker processes only need Pillow and numpy; Pillow is imported on
first use, so that importing this module for its constants costs nothing.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

SIDE = 32  # CIFAR's images are 32x32
# Pillow first shrinks by a whole factor with a box filter, then resamples the last step
# (at most 3x) with Lanczos: as sharp as a full Lanczos resize, much faster on large photos.
REDUCING_GAP = 3.0
CROP_RULE = "centre crop to a square, then antialiased resize"


def read_image(path: Path, resize: str = "crop") -> tuple[np.ndarray, tuple[int, int]]:
    """One file as a (3, 32, 32) uint8 array, with the size it is stored at (width, height).

    Raises what the decoders raise (OSError, Pillow's errors, ValueError ...) when the file
    is not a usable image, and Pillow's DecompressionBomb* errors, before decoding, for one
    of more pixels than Pillow's limit (such an image costs gigabytes to decode).
    """
    from PIL import Image, ImageOps

    with warnings.catch_warnings():
        # Pillow only warns below twice its pixel limit: make that an error too
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(path)
    with image:
        stored = image.size
        image.draft(None, (SIDE * REDUCING_GAP, SIDE * REDUCING_GAP))  # JPEG: decode at a smaller scale
        image = ImageOps.exif_transpose(image)
        rgb = as_rgb(image)
    box = centre_square(rgb.size) if resize == "crop" else (0, 0, *rgb.size)
    if rgb.size != (SIDE, SIDE) or box != (0, 0, SIDE, SIDE):
        rgb = rgb.resize((SIDE, SIDE), Image.Resampling.LANCZOS, box=box, reducing_gap=REDUCING_GAP)
    return np.array(rgb, dtype=np.uint8).transpose(2, 0, 1), stored  # a copy, not a view of Pillow's buffer


def load_image(path: Path, resize: str = "crop") -> np.ndarray:
    """One file as a (3, 32, 32) uint8 array (see `read_image`)."""
    return read_image(path, resize)[0]


def as_rgb(image: Image.Image) -> Image.Image:
    """RGB, with transparency shown on white and high-bit-depth grey scaled by its real range."""
    from PIL import Image

    if image.mode in ("I", "F") or image.mode.startswith("I;"):
        return Image.fromarray(grey_as_8_bits(image), "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


def grey_as_8_bits(image: Image.Image) -> np.ndarray:
    """One grey channel of integers or floats as 0..255.

    16-bit modes and 32-bit integers (TIFF and PNG store 16-bit data in them) are read as
    0..65535; floating point as 0..1, the convention of every tool that writes it. Values
    outside those ranges have no meaning cifarctl could guess: the image is refused.
    """
    pixels = np.asarray(image)
    if pixels.dtype.kind == "f":
        if not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 1:
            raise ValueError("floating-point pixels outside 0..1; save it as an 8- or 16-bit image")
        return np.round(pixels * 255).astype(np.uint8)
    if pixels.dtype.kind not in "iu" or (pixels.size and (pixels.min() < 0 or pixels.max() > 65535)):
        raise ValueError(f"{image.mode} pixels outside 0..65535; save it as an 8- or 16-bit image")
    return (pixels.astype(np.uint32) // 257).astype(np.uint8)


def centre_square(size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box of the largest square centred in an image of `size`."""
    width, height = size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side
