"""Turning `--device auto|cpu|cuda|cuda:N|mps` into a torch.device that really exists."""

from __future__ import annotations

import torch

from cifarctl.errors import DeviceError


def resolve_device(name: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; an explicit device must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: {cuda_unavailable_reason()}; use --device cpu or auto")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here "
                              f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
        return device
    if name == "mps":
        if not mps_available():
            raise DeviceError("--device mps: Apple's MPS backend is not available here; use --device cpu or auto")
        return torch.device("mps")
    raise DeviceError(f"unknown device {name!r}")  # config validation normally stops this earlier


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def cuda_unavailable_reason() -> str:
    if torch.version.cuda is None:
        return "this torch build is CPU-only"
    return "no CUDA device found (no GPU or no driver)"


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)
