"""Where a network looked: Grad-CAM heatmaps of its top class, with Captum's `LayerGradCam`.

Grad-CAM (Selvaraju et al., 2017) weighs each channel of a convolutional layer's output by the
mean gradient of the class's score over it, sums the channels and keeps the positive part: a
coarse map of the regions that raised the score. The layer is the family's `explain_layer`
(its registry entry: the last convolutional block), never guessed from names. The map is
upsampled bilinearly to the image (`LayerAttribution.interpolate`) and scaled so its largest
value is 1 (an image whose map is all zero stays zero).

Captum is an optional extra (`pip install 'cifarctl[explain]'`): without it, `--explain` stops
before any work with one line that says so (exit code 1, as for any missing package).
Importing this module imports neither torch nor Captum.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING

from cifarctl.errors import CifarctlError
from cifarctl.models.registry import Family, FamilyError

if TYPE_CHECKING:
    import torch

    from cifarctl.inference.model_files import TrainedModel

INSTALL_HINT = "pip install 'cifarctl[explain]'"
EXPLAIN_BATCH = 256  # images per forward and backward pass: a few MB of activations for the largest family


class CaptumMissing(CifarctlError):
    """--explain without Captum installed."""


def require_captum() -> None:
    """Refuse --explain at once, before any work, when Captum cannot be imported."""
    missing = sys.modules.get("captum", "absent") is None  # None there: an import known to fail
    if not missing and "captum" not in sys.modules:
        try:
            missing = importlib.util.find_spec("captum") is None
        except (ImportError, ValueError):
            missing = True
    if missing:
        raise CaptumMissing(f"--explain needs the optional Captum package; install it with {INSTALL_HINT}")


def explain_layer(family: Family) -> str:
    if not family.explain_layer:
        raise FamilyError(f"model family {family.name} names no explain_layer in its entry, so --explain cannot "
                          "draw its heatmaps")
    return family.explain_layer


def heatmaps(trained: TrainedModel, images: torch.Tensor, targets: torch.Tensor,
             batch_size: int = EXPLAIN_BATCH) -> torch.Tensor:
    """(N, H, W) float32 in 0..1: where the network looked for class `targets[i]` in `images[i]`
    ((N, 3, H, W) uint8), at the images' resolution, on the CPU."""
    import torch

    from cifarctl.data.memory import normalize

    try:
        from captum.attr import LayerAttribution, LayerGradCam
    except ImportError:
        raise CaptumMissing(f"--explain needs the optional Captum package; install it with {INSTALL_HINT}") from None
    network = trained.network
    device = next(network.parameters()).device
    layer = network.get_submodule(explain_layer(trained.info.family))
    grad_cam = LayerGradCam(network, layer)
    was_training = network.training
    network.eval()
    maps = []
    try:
        with torch.enable_grad():
            for start in range(0, len(images), batch_size):
                batch = normalize(images[start:start + batch_size].to(device), trained.mean, trained.std)
                target = targets[start:start + batch_size].to(device)
                coarse = grad_cam.attribute(batch, target=target, relu_attributions=True)
                fine = LayerAttribution.interpolate(coarse.detach().float(), tuple(images.shape[-2:]),
                                                    interpolate_mode="bilinear")[:, 0].clamp_min(0)
                peak = fine.amax(dim=(1, 2), keepdim=True)
                maps.append(torch.where(peak > 0, fine / peak.clamp_min(1e-12), torch.zeros_like(fine)).cpu())
    finally:
        network.train(was_training)
    return torch.cat(maps) if maps else torch.zeros(0, *images.shape[-2:])


def heatmap_json(heat: torch.Tensor, digits: int = 3) -> list[list[float]]:
    """One heatmap as rows of numbers, rounded: what --json carries."""
    return [[round(value, digits) for value in row] for row in heat.tolist()]
