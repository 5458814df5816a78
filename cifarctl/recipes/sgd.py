"""The tutorial's optimiser, SGD with momentum, as three whole-model tensor operations.

The update is exactly `torch.optim.SGD(params, lr, momentum)` (no dampening, no Nesterov,
no weight decay): buf = momentum * buf + grad; param -= lr * buf. A test checks that both
give bit-identical weights. We keep our own because constructing any `torch.optim`
optimiser imports torch._dynamo, which adds about 1.5 s to every `cifarctl train` start.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class MomentumSGD:
    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, momentum: float) -> None:
        self.params = list(params)
        self.lr = lr
        self.momentum = momentum
        self.buffers = [torch.zeros_like(param) for param in self.params]

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grads = [param.grad if param.grad is not None else torch.zeros_like(param) for param in self.params]
        torch._foreach_mul_(self.buffers, self.momentum)
        torch._foreach_add_(self.buffers, grads)
        torch._foreach_add_(self.params, self.buffers, alpha=-self.lr)

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "momentum_buffers": [b.clone() for b in self.buffers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        buffers = state["momentum_buffers"]
        if len(buffers) != len(self.params) or any(b.shape != p.shape for b, p in zip(buffers, self.params)):
            raise ValueError("the optimiser state does not match this model")
        self.buffers = [buffer.to(param.device).clone() for buffer, param in zip(buffers, self.params)]
