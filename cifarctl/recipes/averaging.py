"""Lookahead weight averaging, as the public speed record (airbench94) uses it.

Every `every` steps a slow copy of the weights moves towards the current ones by
(1 - decay), and training continues from the slow copy. The decay grows with the cube of the
run's progress up to 0.95 ** every, so early steps are hardly averaged and late ones strongly;
at the end the model takes the slow weights. During the schedule's flat start (which a time
budget times before it knows the run's length) nothing is averaged, so a budgeted run and the
same run given its length with --steps are identical. Whole-model `torch._foreach` operations on the
device: no host synchronisation, so a GPU never waits for it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

BASE_DECAY = 0.95


class Lookahead:
    def __init__(self, model: nn.Module, every: int, flat_steps: int = 0) -> None:
        self.every = every
        self.flat_steps = flat_steps
        self.tensors = [t for t in model.state_dict().values() if t.is_floating_point()]
        self.slow = [t.detach().clone() for t in self.tensors]

    def decay(self, step: int, total_steps: int) -> float:
        return BASE_DECAY**self.every * (min(step, total_steps) / max(1, total_steps)) ** 3

    @torch.no_grad()
    def after_step(self, step: int, total_steps: int) -> None:
        """Call after every optimiser step with the number of steps taken so far."""
        if step % self.every == 0 and step > self.flat_steps:
            self._pull(1 - self.decay(step, total_steps))

    @torch.no_grad()
    def at_epoch_end(self, run_finished: bool) -> None:
        """At the end of the run: the model takes the slow weights."""
        if run_finished:
            self._pull(0.0)

    def _pull(self, weight: float) -> None:
        torch._foreach_lerp_(self.slow, self.tensors, weight)
        torch._foreach_copy_(self.tensors, self.slow)

    def state_dict(self) -> dict[str, Any]:
        return {"every": self.every, "slow": [t.clone() for t in self.slow]}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if state is None:
            raise ValueError("the checkpoint has no averaged weights for this recipe's Lookahead")
        slow = state["slow"]
        if len(slow) != len(self.slow) or any(a.shape != b.shape for a, b in zip(slow, self.slow)):
            raise ValueError("the averaged weights do not match this model")
        self.slow = [t.to(device=b.device, dtype=b.dtype).clone() for t, b in zip(slow, self.slow)]


class NoAveraging:
    """A recipe without weight averaging: the model keeps its own weights."""

    def after_step(self, step: int, total_steps: int) -> None:
        pass

    def at_epoch_end(self, run_finished: bool) -> None:
        pass

    def state_dict(self) -> None:
        return None

    def load_state_dict(self, state: dict | None) -> None:
        pass
