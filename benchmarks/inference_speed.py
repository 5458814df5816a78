"""How fast a trained model predicts on this machine, by memory layout, batch size and form.

For the tutorial's Net and the fast family at two widths: images per second of the forward
pass in eval mode under `torch.inference_mode()`, in the default (NCHW) layout and
channels-last, at batches of 250 and 1,000, as trained and in the family's inference form
(`for_inference`: batch norm folded into the convolutions). The variants alternate, and each
figure is the median of `--rounds` passes over 5,000 random images, so a machine's drift
shares out evenly. Run it on an idle machine: `python benchmarks/inference_speed.py`.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_flags, machine

from cifarctl.models import ModelInfo, build_model, hooks_of

MODELS = {"net": ("net", {}), "fast w32": ("fast", {"width": 32, "widen": 2}),
          "fast w64": ("fast", {"width": 64, "widen": 2})}
IMAGES = 5000


def variants(name: str, batches: list[int]) -> dict[str, tuple[torch.nn.Module, torch.memory_format, int]]:
    family, options = MODELS[name]
    info = ModelInfo(family, options)
    trained = build_model(info).eval()
    with torch.no_grad():  # batch-norm statistics that are not the identity, as after training
        trained.train()
        trained(torch.randn(256, 3, 32, 32))
        trained.eval()
    folded = hooks_of(info.family).for_inference(copy.deepcopy(trained))
    found = {}
    for layout_name, layout in (("NCHW", torch.contiguous_format), ("channels-last", torch.channels_last)):
        for batch in batches:
            found[f"{layout_name}, batch {batch}, as trained"] = (trained, layout, batch)
            found[f"{layout_name}, batch {batch}, inference form"] = (folded, layout, batch)
    return found


@torch.inference_mode()
def images_per_second(model: torch.nn.Module, layout: torch.memory_format, batch: int, images: torch.Tensor) -> float:
    model = model.to(memory_format=layout)
    images = images.contiguous(memory_format=layout)
    model(images[:batch])  # one untimed batch: allocations, kernel choice
    started = time.perf_counter()
    for chunk in images.split(batch):
        model(chunk)
    return len(images) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--models", default=",".join(MODELS), help=f"some of: {', '.join(MODELS)}")
    parser.add_argument("--batches", default="250,1000", help="batch sizes (1000 is the baseline: always measured)")
    args = parser.parse_args()
    batches = sorted({int(batch) for batch in args.batches.split(",")} | {1000})
    torch.set_num_threads(args.threads)
    images = torch.randn(IMAGES, 3, 32, 32)
    print(f"machine: {machine()}; CPU flags: {cpu_flags()}; capability {torch.backends.cpu.get_cpu_capability()}; "
          f"{args.threads} threads")
    print("| model | layout, batch, form | images/s (median) | vs NCHW batch 1,000 as trained |")
    print("|---|---|---|---|")
    for name in args.models.split(","):
        found = variants(name, batches)
        speeds: dict[str, list[float]] = {key: [] for key in found}
        for _ in range(args.rounds):
            for key, (model, layout, batch) in found.items():
                speeds[key].append(images_per_second(model, layout, batch, images))
        base = statistics.median(speeds["NCHW, batch 1000, as trained"])
        for key, values in speeds.items():
            median = statistics.median(values)
            print(f"| {name} | {key} | {median:,.0f} | {median / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
