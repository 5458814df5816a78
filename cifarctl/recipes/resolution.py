"""Progressive resizing: a recipe's first steps see the images downsized, the rest at full size.

A step's image size depends on the step and the run's length alone (the share of steps at
`low_res`, but never fewer than the flat start a time budget times), so a budgeted run and the
same run given its length with `--steps` see the same sizes. A low-resolution step computes
about (32 / low_res)^2 times less; a time budget weighs steps by their measured cost
(`step_costs`), not by their count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cifarctl.recipes import Recipe

FULL_SIZE = 32


def low_res_steps(recipe: Recipe, total_steps: int) -> int:
    """How many of the run's first steps are trained at the recipe's low resolution."""
    if recipe.low_res >= FULL_SIZE or recipe.low_res_share <= 0:
        return 0
    return min(total_steps, max(recipe.flat_steps, round(recipe.low_res_share * total_steps)))


def step_size(recipe: Recipe, step: int, total_steps: int) -> int:
    """The image size of step `step` (0-based) of a run of `total_steps`."""
    return recipe.low_res if step < low_res_steps(recipe, total_steps) else FULL_SIZE


def sized(images: torch.Tensor, size: int) -> torch.Tensor:
    """A batch of normalised images at `size` pixels (antialiased), in its memory layout."""
    if images.shape[-1] == size:
        return images
    resized = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return resized.contiguous(memory_format=torch.channels_last if images.is_contiguous(
        memory_format=torch.channels_last) else torch.contiguous_format)


def steps_cost(recipe: Recipe, first: int, last: int, total_steps: int, full_step_cost: float = 1.0) -> float:
    """The cost of steps first..last-1 of a run of `total_steps`, in the run's first steps (a
    full-size step costs `full_step_cost` low-resolution ones; all steps cost 1 without them)."""
    count = max(0, last - first)
    low_end = low_res_steps(recipe, total_steps)
    if not low_end:
        return float(count)
    low = min(max(low_end - first, 0), count)
    return low + (count - low) * full_step_cost
