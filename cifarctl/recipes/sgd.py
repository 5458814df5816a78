"""The tutorial's optimiser, SGD with momentum, as three whole-model tensor operations.

The update is exactly `torch.optim.SGD(params, lr, momentum)` (no dampening, no Nesterov,
no weight decay): buf = momentum * buf + grad; param -= lr * buf. A test checks that both
give bit-identical weights. We keep our own because constructing any `torch.optim`
optimiser imports torch._dynamo, which adds about 1.5 s to every `cifarctl train` start.
Like torch's optimisers it keeps its settings in `param_groups` (one group), which is what
`torch.amp.GradScaler` reads to unscale fp16 gradients before the step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class MomentumSGD:
    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, momentum: float) -> None:
        self.param_groups = [{"params": list(params), "lr": lr, "momentum": momentum}]
        self.buffers = [torch.zeros_like(param) for param in self.params]

    @property
    def params(self) -> list[torch.nn.Parameter]:
        return self.param_groups[0]["params"]

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        grads = [param.grad if param.grad is not None else torch.zeros_like(param) for param in self.params]
        torch._foreach_mul_(self.buffers, group["momentum"])
        torch._foreach_add_(self.buffers, grads)
        torch._foreach_add_(self.params, self.buffers, alpha=-group["lr"])

    def state_dict(self) -> dict[str, Any]:
        group = self.param_groups[0]
        return {"lr": group["lr"], "momentum": group["momentum"], "momentum_buffers": [b.clone() for b in self.buffers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        buffers = state["momentum_buffers"]
        if len(buffers) != len(self.params) or any(b.shape != p.shape for b, p in zip(buffers, self.params)):
            raise ValueError("the optimiser state does not match this model")
        self.buffers = [buffer.to(param.device).clone() for buffer, param in zip(buffers, self.params)]
