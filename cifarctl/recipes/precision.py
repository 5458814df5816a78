"""Which number format trains fastest here: `--precision auto|fp32|bf16|fp16`.

`auto` picks bf16 autocast on CUDA GPUs that have it, bf16 on CPUs with native bf16
arithmetic (AVX-512 BF16 or AMX: without it bf16 is emulated and many times slower than
fp32, see docs/benchmarks.md), and fp32 everywhere else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from cifarctl.errors import UsageError


def cpu_has_native_bf16() -> bool:
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def resolve_precision(requested: str, device: torch.device) -> str:
    """The precision a run uses: `requested`, or for `auto` the fastest safe one on `device`."""
    if requested == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if device.type == "cpu" and cpu_has_native_bf16():
            return "bf16"
        return "fp32"
    if requested == "fp16" and device.type == "cpu":
        raise UsageError("--precision fp16 needs a GPU; on a CPU use bf16 or fp32")
    return requested


def dtype_of(precision: str) -> torch.dtype | None:
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    dtype = dtype_of(precision)
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def inference_layout(precision: str, device: torch.device) -> torch.memory_format:
    """Channels-last for predictions, on every device and in every precision: oneDNN's CPU
    convolutions and a GPU's both run it faster, fp32 included (1.3-2x on a 2-core AVX2 CPU for
    the fast family, faster for the tutorial's Net too; benchmarks/inference_speed.py)."""
    return torch.channels_last
