"""How many CPU threads a run uses, and how a CPU runs the tutorial's small batches.

Up to `SMALL_CPU_BATCH` images per step on a CPU, oneDNN's per-call overhead outweighs its
speed and PyTorch's plain convolution is faster (benchmarks/onednn_small_batches.py), and
one thread is as fast as two while idle and far faster when another process wants the CPU.

Larger batches use every core the process may run on, unless another process is busy on
them: OpenMP's threads then wait for a descheduled sibling at every operation, and two
threads ran 3-10x slower than one (benchmarks/shared_cpu.py). So the count is measured, not
assumed: a short convolution is timed with one thread and with all of them, alternately, and
the run takes the faster (`choose_threads`, about 0.2 s).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

SMALL_CPU_BATCH = 8
PROBE_ROUNDS = 5
PARALLEL_GAIN_NEEDED = 0.85  # more threads must make the probe at least this much faster


def uses_small_batch_mode(device_type: str, batch_size: int) -> bool:
    return device_type == "cpu" and batch_size <= SMALL_CPU_BATCH


def cores_available() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Capped(NamedTuple):
    count: int
    note: str | None  # the line that says it was capped; None when it was not


def capped_to_cpus(asked: int, what: str = "processes", cpus: int | None = None) -> Capped:
    """At most one process or thread per CPU this process may run on (0 asks for one per CPU):
    more only queue for the same CPUs, each costing memory, and OpenMP threads wait for their
    descheduled siblings at every operation. The one rule for --workers (image decoding on
    import and in predict) and training's --threads; `note` says so when `asked` was cut."""
    cpus = cores_available() if cpus is None else max(1, cpus)
    if asked <= 0:
        return Capped(cpus, None)
    if asked <= cpus:
        return Capped(asked, None)
    plural = "s" if cpus != 1 else ""
    return Capped(cpus, f"{asked} {what} asked, capped at the {cpus} CPU{plural} this process may use")


def choose_threads(device_type: str, batch_size: int, requested: int | None = None,
                   probe: Callable[[int], float] | None = None) -> tuple[int, str]:
    """(threads, why) for a run: as asked (at most one per core), 1 for tiny batches or one
    core, else the faster of 1 and all cores on a timed probe (`probe(threads) -> seconds`, a
    convolution by default)."""
    if requested is not None:
        threads, note = capped_to_cpus(requested, "threads")
        return threads, "as asked" if note is None else note
    cores = cores_available()
    if device_type != "cpu":
        return cores, "default"
    if uses_small_batch_mode(device_type, batch_size):
        return 1, "small batches"
    if cores == 1:
        return 1, "one core available"
    probe = probe or convolution_seconds
    probe(1), probe(cores)  # warm-up: allocation and kernel choice
    times: dict[int, list[float]] = {1: [], cores: []}
    for _ in range(PROBE_ROUNDS):
        for threads in (1, cores):
            times[threads].append(probe(threads))
    one, many = statistics.median(times[1]), statistics.median(times[cores])
    if many <= PARALLEL_GAIN_NEEDED * one:
        return cores, f"measured: {one / many:.1f}x faster than 1"
    return 1, f"measured: the CPU is busy, {cores} threads ran {many / one:.1f}x the time of 1"


def convolution_seconds(threads: int) -> float:
    """Seconds for a forward and backward 3x3 convolution of a typical mid-network size."""
    import torch
    import torch.nn.functional as F

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        inputs = torch.randn(32, 64, 16, 16, generator=generator, requires_grad=True)
        weight = torch.randn(64, 64, 3, 3, generator=generator, requires_grad=True)
        started = time.perf_counter()
        F.conv2d(inputs, weight, padding=1).sum().backward()
        return time.perf_counter() - started
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def cpu_mode_for(device_type: str, batch_size: int, threads: int | None = None) -> Iterator[int]:
    """Run steps of `batch_size` on `device_type` with the right CPU settings and `threads`
    threads (default: as set); yields the number of CPU threads in use (restored afterwards)."""
    import torch

    onednn, previous = torch.backends.mkldnn.enabled, torch.get_num_threads()
    if uses_small_batch_mode(device_type, batch_size):
        torch.backends.mkldnn.enabled = False
        threads = 1
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.backends.mkldnn.enabled = onednn
        torch.set_num_threads(previous)
