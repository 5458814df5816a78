"""Shared helpers for the benchmark scripts: machine description and timed subprocesses."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

TUTORIAL_SCRIPT = Path(__file__).resolve().parent / "tutorial_reference.py"


def machine() -> str:
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
            f"{datetime.now(timezone.utc):%Y-%m-%d}")


def cpu_flags() -> str:
    """The vector extensions that decide CPU speed here (AVX2, AVX-512, bf16, AMX)."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next(line.split(":", 1)[1].split() for line in handle if line.startswith("flags"))
    except (OSError, StopIteration):
        return "unknown"
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return " ".join(flag for flag in wanted if flag in flags) or "no AVX2"


def avx2_environment() -> dict[str, str]:
    """This process's environment with oneDNN and ATen held to AVX2: an AVX-512 machine run as
    the AVX2 kind most laptops are (use with --precision fp32: no native bf16 there)."""
    return {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def timed(command: list[str], cwd: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run a command to completion; return its wall time and stdout (fail loudly on error)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def run_tutorial(data_dir: Path, workdir: str, env: dict[str, str] | None = None) -> tuple[float, float]:
    """The tutorial's own script, end to end: its wall time and its printed test accuracy (%)."""
    seconds, out = timed([sys.executable, str(TUTORIAL_SCRIPT), str(data_dir)], workdir, env)
    accuracy = float(re.search(r"Accuracy of the network on the 10000 test images: (\d+) %", out).group(1))
    return seconds, accuracy
