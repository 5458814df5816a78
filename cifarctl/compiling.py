"""`--compile`: torch.compile where it can work, one warning line where it cannot.

torch.compile's CPU backend writes C++ and needs a compiler; without one it would fail at the
first step, deep inside a run. Checked up front instead, and the run goes on uncompiled.
"""

from __future__ import annotations

import os
import shutil

from cifarctl.events import Events


def compiler_found() -> bool:
    return any(shutil.which(name) for name in (os.environ.get("CXX", ""), "c++", "g++", "clang++") if name)


def compiled(model, device_type: str, events: Events):
    """`model` through torch.compile, or `model` itself with a warning when this machine cannot."""
    import torch

    if device_type == "cpu" and not compiler_found():
        events.warning("--compile needs a C++ compiler (g++ or clang++) for the CPU; none found, running uncompiled")
        return model
    if device_type == "mps":
        events.warning("--compile is not supported on Apple's MPS here; running uncompiled")
        return model
    return torch.compile(model)
