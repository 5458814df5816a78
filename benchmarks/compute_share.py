"""What share of this CPU's matrix-multiply peak a `fast` training step reaches.

The peak: a 2048x2048 matmul in fp32 (and bf16), median of several, in GFLOP/s. The step:
`torch.utils.flop_counter.FlopCounterMode` counts the FLOPs of one training step (forward,
loss, backward) of the fast network at each width, and the median step time gives the rate;
the share is the rate over the fp32 peak (bf16 where the run would use it). Below about 70 %
the profile (`--profile`) says where the rest goes.

    python benchmarks/compute_share.py --widths 16,32,64 [--precision fp32|bf16] [--profile]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_flags, machine

from cifarctl.models import ModelInfo, build_model


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 7) -> float:
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times) / 1e9


def step(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype | None) -> None:
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        loss = F.cross_entropy(model(images).float(), labels)
    loss.backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="16,32,64")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--profile", action="store_true", help="print where one step's time goes")
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.precision == "bf16" else None
    # bf16 at 1024: without native bf16 (AVX2) it is emulated and a 2048 product takes many seconds
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16, size=1024, repeats=3)}
    print(f"machine: {machine()}; CPU flags: {cpu_flags()}; capability {torch.backends.cpu.get_cpu_capability()}; "
          f"{torch.get_num_threads()} threads")
    print(f"matmul peak: fp32 {peaks['fp32']:.0f} GFLOP/s (2048x2048), bf16 {peaks['bf16']:.0f} GFLOP/s (1024x1024)")
    print(f"| width | GFLOP per step (batch {args.batch_size}, {args.resolution}px) | step ms | GFLOP/s | "
          f"share of the {args.precision} peak |")
    print("|---|---|---|---|---|")
    for width in (int(text) for text in args.widths.split(",")):
        model = build_model(ModelInfo("fast", {"width": width, "widen": 2})).to(memory_format=torch.channels_last)
        images = torch.randn(args.batch_size, 3, args.resolution, args.resolution).contiguous(
            memory_format=torch.channels_last)
        labels = torch.randint(0, 10, (args.batch_size,))
        with FlopCounterMode(display=False) as counter:
            step(model, images, labels, dtype)
        flops = counter.get_total_flops()
        step(model, images, labels, dtype)
        times = []
        for _ in range(args.steps):
            started = time.perf_counter()
            step(model, images, labels, dtype)
            times.append(time.perf_counter() - started)
        seconds = statistics.median(times)
        rate = flops / seconds / 1e9
        print(f"| {width} | {flops / 1e9:.3f} | {1000 * seconds:.0f} | {rate:.0f} | "
              f"{100 * rate / peaks[args.precision]:.0f} % |", flush=True)
        if args.profile:
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
                step(model, images, labels, dtype)
            print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
