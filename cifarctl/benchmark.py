"""CPU-vs-accelerator timing of a model across widths (the tutorial's Net by default).

The tutorial's last question. Each model trains in the precision its recipe uses on the device.

Each measurement times full training steps (forward, loss, backward, SGD step) on data
already on the device: warm-up steps first, then several repeats, synchronising the
device before every clock read. The repeat length is calibrated from the warm-up so the
whole default run stays short on a small CPU; `steps` fixes it instead.

CPU steps run with the thread settings training uses (cpu_threads.py), so the figures are
the ones `train` will see. A measurement is flagged unstable when its repeats disagree
(slowest/fastest above `SPREAD_LIMIT`) or, on the CPU, when the process got much less CPU
time than wall time (another program wanted the CPU): such figures say more about the
machine's load than about the network.
"""

from __future__ import annotations

import itertools
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn as nn

from cifarctl.cpu_threads import cpu_mode_for, uses_small_batch_mode
from cifarctl.devices import cuda_unavailable_reason, mps_available, resolve_device
from cifarctl.events import Events
from cifarctl.models import ModelInfo, build_model, count_parameters, registry
from cifarctl.recipes.precision import autocast, resolve_precision

TARGET_REPEAT_S = 0.2  # calibrated repeat length when --steps is not given
MAX_CALIBRATED_STEPS = 2000
SPREAD_LIMIT = 1.5  # slowest / fastest repeat; above it the median is not to be trusted
CPU_SHARE_LIMIT = 0.7  # CPU time / wall time of a CPU measurement; below it we were descheduled
NARROWER_SLOWER_LIMIT = 1.5  # a wider net this much faster than a narrower one is not believable


@dataclass(frozen=True)
class BenchSettings:
    widths: tuple[int, ...] = (6, 32, 128)
    batch_size: int = 4
    model: str = "net"  # a registered family with a width option
    classes: int = 10  # outputs of its head: the dataset's classes
    steps: int | None = None  # steps per repeat; None = calibrate to ~TARGET_REPEAT_S
    warmup: int = 10
    repeats: int = 5


@dataclass
class Timing:
    width: int
    device: str
    batch_size: int
    params: int
    ms_per_step: float  # median over repeats
    ms_per_step_min: float
    ms_per_step_max: float
    images_per_second: float
    inference_images_per_second: float
    steps_per_repeat: int
    repeats: int
    threads: int | None = None  # CPU threads the steps ran with
    cpu_share: float | None = None  # CPU time / wall time while timing on the CPU
    problems: list[str] = field(default_factory=list)  # why the figures are not to be trusted

    @property
    def unstable(self) -> bool:
        return bool(self.problems)

    def as_json(self) -> dict[str, Any]:
        document = {key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()}
        document["unstable"] = self.unstable
        return document


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so the clock measures the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_steps(step: Callable[[], object], steps: int, repeats: int, sync: Callable[[], None],
               clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Seconds per step of each repeat; the device is synchronised before each clock read."""
    per_step = []
    for _ in range(repeats):
        sync()
        started = clock()
        for _ in range(steps):
            step()
        sync()
        per_step.append((clock() - started) / steps)
    return per_step


def benchmark_width(width: int, device: torch.device, settings: BenchSettings, seed: int = 0) -> Timing:
    with cpu_mode_for(device.type, settings.batch_size) as threads:
        timing = _benchmark_width(width, device, settings, seed)
    timing.threads = threads if device.type == "cpu" else None
    return timing


def measurement_problems(per_step_s: list[float], cpu_share: float | None) -> list[str]:
    """Why a measurement should not be trusted (empty when it looks sound)."""
    problems = []
    fastest, slowest = min(per_step_s), max(per_step_s)
    if fastest > 0 and slowest / fastest > SPREAD_LIMIT:
        problems.append(f"repeats ranged {1000 * fastest:.3f}-{1000 * slowest:.3f} ms/step "
                        f"({slowest / fastest:.1f}x apart)")
    if cpu_share is not None and cpu_share < CPU_SHARE_LIMIT:
        problems.append(f"it got {cpu_share:.0%} of a CPU while timing (another program is using the CPU)")
    return problems


def _benchmark_width(width: int, device: torch.device, settings: BenchSettings, seed: int) -> Timing:
    torch.manual_seed(seed)
    info = ModelInfo(settings.model, registry.get(settings.model).resolve_options({"width": width}), settings.classes)
    precision = resolve_precision(info.family.recipe.precision, device)
    layout = torch.contiguous_format if uses_small_batch_mode(device.type, settings.batch_size) else torch.channels_last
    model = build_model(info).to(device, memory_format=layout)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.001, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    inputs = torch.randn(settings.batch_size, 3, 32, 32, device=device).contiguous(memory_format=layout)
    targets = torch.randint(0, settings.classes, (settings.batch_size,), device=device)

    def train_step() -> None:
        optimizer.zero_grad()
        with autocast(device, precision):
            loss = criterion(model(inputs).float(), targets)
        loss.backward()
        optimizer.step()

    def inference_step() -> None:
        with torch.no_grad(), autocast(device, precision):
            model(inputs)

    sync = lambda: synchronize(device)  # noqa: E731
    steps = settings.steps or _calibrated_steps(train_step, settings.warmup, sync)
    for _ in range(settings.warmup):
        train_step()
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    train_times = time_steps(train_step, steps, settings.repeats, sync)
    cpu_share = None
    if device.type == "cpu":  # on an accelerator the host mostly waits, by design
        cpu_share = (time.process_time() - cpu_started) / max(time.perf_counter() - wall_started, 1e-9)
    for _ in range(settings.warmup):
        inference_step()
    inference_times = time_steps(inference_step, steps, settings.repeats, sync)
    median = statistics.median(train_times)
    return Timing(
        width=width,
        device=str(device),
        batch_size=settings.batch_size,
        params=count_parameters(model),
        ms_per_step=1000 * median,
        ms_per_step_min=1000 * min(train_times),
        ms_per_step_max=1000 * max(train_times),
        images_per_second=settings.batch_size / median,
        inference_images_per_second=settings.batch_size / statistics.median(inference_times),
        steps_per_repeat=steps,
        repeats=settings.repeats,
        cpu_share=cpu_share,
        problems=measurement_problems(train_times, cpu_share),
    )


def _calibrated_steps(step: Callable[[], None], warmup: int, sync: Callable[[], None]) -> int:
    """Steps per repeat so that one repeat lasts about TARGET_REPEAT_S (measured on the warm-up)."""
    seconds = statistics.median(time_steps(step, max(1, warmup), 1, sync))
    return max(3, min(MAX_CALIBRATED_STEPS, round(TARGET_REPEAT_S / max(seconds, 1e-7))))


def host_to_device_ms(device: torch.device, batch_size: int, repeats: int = 50) -> float | None:
    """Milliseconds to copy one normalised batch from host memory, as the tutorial does per step."""
    if device.type == "cpu":
        return None
    batch = torch.randn(batch_size, 3, 32, 32)
    labels = torch.randint(0, 10, (batch_size,))

    def copy() -> None:
        batch.to(device)
        labels.to(device)

    for _ in range(5):
        copy()
    return 1000 * statistics.median(time_steps(copy, 20, max(1, repeats // 20), lambda: synchronize(device)))


def accelerators(requested: str) -> tuple[list[torch.device], dict[str, str]]:
    """The accelerators to time besides the CPU, and why the missing ones are missing.

    `auto` takes every accelerator present; `cpu` none; an explicit one must exist.
    """
    unavailable = {}
    if not torch.cuda.is_available():
        unavailable["cuda"] = cuda_unavailable_reason()
    if not mps_available():
        unavailable["mps"] = "Apple's MPS backend is not available here"
    if requested == "cpu":
        return [], unavailable
    if requested == "auto":
        found = [torch.device("cuda:0")] if "cuda" not in unavailable else []
        return found + ([torch.device("mps")] if "mps" not in unavailable else []), unavailable
    return [resolve_device(requested)], unavailable


def machine_info(devices: list[torch.device]) -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cpu_threads": torch.get_num_threads(),
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_build": f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only",
        "gpus": [torch.cuda.get_device_name(device) for device in devices if device.type == "cuda"],
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_benchmark(settings: BenchSettings, devices: list[torch.device], events: Events = Events()) -> list[Timing]:
    """Every width on the CPU and on each accelerator, CPU first."""
    everything = [torch.device("cpu"), *devices]
    results = []
    events.task_started("benchmarking", len(settings.widths) * len(everything), unit="runs")
    try:
        for width in settings.widths:
            for device in everything:
                results.append(benchmark_width(width, device, settings))
                events.task_advanced(len(results), f"width {width} on {device}")
    finally:
        events.task_finished()
    return results


def benchmark_warnings(results: list[Timing]) -> list[str]:
    """What the user must know before believing the table: unstable measurements, and
    wider nets that came out faster than narrower ones on the same device."""
    warnings = [f"width {timing.width} on {timing.device} is unstable: {'; '.join(timing.problems)}"
                for timing in results if timing.unstable]
    for device in dict.fromkeys(timing.device for timing in results):
        by_width = sorted((timing for timing in results if timing.device == device), key=lambda t: t.width)
        for narrower, wider in itertools.pairwise(by_width):
            if narrower.ms_per_step > NARROWER_SLOWER_LIMIT * wider.ms_per_step:
                ratio = narrower.ms_per_step / wider.ms_per_step
                warnings.append(f"width {wider.width} on {device} measured {ratio:.1f}x "
                                f"faster than width {narrower.width}, which cannot be the network")
    if warnings:
        warnings.append("these figures depend on what else the machine was doing; rerun on an idle machine "
                        "or with more --repeats")
    return warnings


def reading(results: list[Timing], batch_size: int) -> str:
    """One sentence saying what the numbers mean."""
    cpu = {timing.width: timing for timing in results if timing.device == "cpu"}
    gpu = [timing for timing in results if timing.device != "cpu"]
    if not gpu:
        widths = sorted(cpu)
        if len(widths) == 1:
            return (f"No GPU to compare with. On this CPU a step at width {widths[0]} takes "
                    f"{cpu[widths[0]].ms_per_step:.2f} ms.")
        growth = cpu[widths[-1]].ms_per_step / cpu[widths[0]].ms_per_step
        return (f"No GPU to compare with. On this CPU a step at width {widths[-1]} costs {growth:.1f}x "
                f"one at width {widths[0]} (batch size {batch_size}).")
    faster = [timing for timing in gpu if timing.ms_per_step < cpu[timing.width].ms_per_step]
    if not faster:
        return (f"The GPU is slower than the CPU at every width at batch size {batch_size}: the network is too "
                "small, and launch overhead dominates. Try wider nets or --batch-size 128.")
    first = min(faster, key=lambda timing: timing.width)
    best = max(gpu, key=lambda timing: cpu[timing.width].ms_per_step / timing.ms_per_step)
    return (f"The GPU pays off from width {first.width} at batch size {batch_size} "
            f"({cpu[first.width].ms_per_step / first.ms_per_step:.1f}x); the largest gain is "
            f"{cpu[best.width].ms_per_step / best.ms_per_step:.1f}x at width {best.width}.")
