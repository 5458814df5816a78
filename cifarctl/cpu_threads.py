"""How a CPU runs the tutorial's small batches: one place for training and the benchmark.

Up to `SMALL_CPU_BATCH` images per step on a CPU, oneDNN's per-call overhead outweighs its
speed and PyTorch's plain convolution is faster (benchmarks/onednn_small_batches.py), and
one thread is as fast as two while idle and far faster when another process wants the CPU
(OpenMP's barriers then wait for a descheduled thread at every operation).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

SMALL_CPU_BATCH = 8


def uses_small_batch_mode(device_type: str, batch_size: int) -> bool:
    return device_type == "cpu" and batch_size <= SMALL_CPU_BATCH


@contextlib.contextmanager
def cpu_mode_for(device_type: str, batch_size: int) -> Iterator[int]:
    """Run steps of `batch_size` on `device_type` with the right CPU settings; yields the
    number of CPU threads in use (restored afterwards)."""
    import torch

    if not uses_small_batch_mode(device_type, batch_size):
        yield torch.get_num_threads()
        return
    onednn, threads = torch.backends.mkldnn.enabled, torch.get_num_threads()
    torch.backends.mkldnn.enabled = False
    torch.set_num_threads(1)
    try:
        yield 1
    finally:
        torch.backends.mkldnn.enabled = onednn
        torch.set_num_threads(threads)
