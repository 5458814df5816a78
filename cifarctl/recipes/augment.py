"""Data augmentation as whole-tensor operations on uint8 images, on whatever device they are.

An epoch's augmented training set is computed at the start of the epoch from (seed, epoch)
alone, so a run resumed in the middle of an epoch sees exactly the images it would have seen.
No Python loop touches single images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CROP_PADDING = 4  # RandomCrop(32, padding=4): the usual CIFAR crop
TRANSLATE_PIXELS = 2  # airbench's small translations


def epoch_generator(seed: int, epoch: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch * 7919 + salt) % (2**63))


def augment_epoch(images: torch.Tensor, kind: str, seed: int, epoch: int) -> torch.Tensor:
    """The training images of one epoch under augmentation `kind` (uint8 in, uint8 out)."""
    if kind == "none":
        return images
    if kind == "crop-flip":
        flips = torch.rand(len(images), generator=epoch_generator(seed, epoch, 1)) < 0.5
        return random_crop(flip(images, flips.to(images.device)), CROP_PADDING, seed, epoch, padding_mode="constant")
    if kind == "flip-translate":
        return random_crop(flip(images, alternating_flips(len(images), seed, epoch).to(images.device)),
                           TRANSLATE_PIXELS, seed, epoch, padding_mode="reflect")
    raise ValueError(f"unknown augmentation {kind!r}")


def flip(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the images where `mask` is True."""
    return torch.where(mask.view(-1, 1, 1, 1), images.flip(-1), images)


def alternating_flips(count: int, seed: int, epoch: int) -> torch.Tensor:
    """Each image flipped in every other epoch, starting at random: fewer repeats than coin tosses."""
    first = torch.rand(count, generator=epoch_generator(seed, 0, 2)) < 0.5
    return first ^ bool(epoch % 2)


def random_crop(images: torch.Tensor, padding: int, seed: int, epoch: int, padding_mode: str) -> torch.Tensor:
    """A random window of each image, as if padded by `padding` pixels on every side (zeros,
    or for "reflect" the mirrored edge). Reflection is done by indexing, in uint8."""
    count, channels, height, width = images.shape
    generator = epoch_generator(seed, epoch, 3)
    dy = torch.randint(0, 2 * padding + 1, (count,), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * padding + 1, (count,), generator=generator).to(images.device)
    rows = (dy[:, None] + torch.arange(height, device=images.device) - padding)[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width, device=images.device) - padding)[:, None, None, :]
    index = torch.arange(count, device=images.device)[:, None, None, None]
    channel = torch.arange(channels, device=images.device)[None, :, None, None]
    if padding_mode == "reflect":
        return images[index, channel, _reflect(rows, height), _reflect(cols, width)]
    padded = F.pad(images, (padding,) * 4)
    return padded[index, channel, rows + padding, cols + padding]


def _reflect(positions: torch.Tensor, size: int) -> torch.Tensor:
    """Positions outside 0..size-1 mirrored about the edge pixel, as F.pad(mode="reflect")."""
    positions = positions.abs()
    return torch.where(positions > size - 1, 2 * (size - 1) - positions, positions)


def tta_views(images: torch.Tensor) -> list[torch.Tensor]:
    """The views whose logits are averaged: the image and its mirror. (Shifted copies add a
    little accuracy for twice the cost, too much for a CPU's time budget.)"""
    return [images, images.flip(-1)]
