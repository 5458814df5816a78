"""Running `train` on several processes with torch.distributed, as launched by torchrun.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK (and the rendezvous address) for every
process it starts; with a WORLD_SIZE above 1, `cifarctl train` joins the process group
(NCCL on CUDA, Gloo on the CPU), wraps the model in DistributedDataParallel, and each
process trains on its own disjoint share of every global batch. Without torchrun none of
this module does anything.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from cifarctl.errors import CifarctlError

STOP_CHECK_EVERY = 20  # under torchrun, the ranks agree on a stop request every this many steps


@dataclass(frozen=True)
class Cluster:
    """The processes a run trains on: several under torchrun, else one (`ALONE`)."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


ALONE = Cluster(rank=0, world_size=1, local_rank=0)


def cluster_from_environment() -> Cluster:
    """The process's place in a torchrun job, or `ALONE` when it runs by itself."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise CifarctlError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers (set by torchrun)") from None
    return Cluster(rank, world_size, local_rank) if world_size > 1 else ALONE


def device_for(cluster: Cluster, device: torch.device) -> torch.device:
    """One GPU per process: process LOCAL_RANK uses cuda:LOCAL_RANK."""
    if device.type == "cuda" and cluster.distributed:
        if cluster.local_rank >= torch.cuda.device_count():
            raise CifarctlError(f"process {cluster.rank} wants cuda:{cluster.local_rank}, but this machine has "
                                f"{torch.cuda.device_count()} GPU(s); lower --nproc-per-node")
        torch.cuda.set_device(cluster.local_rank)
        return torch.device("cuda", cluster.local_rank)
    return device


def join(cluster: Cluster, device: torch.device) -> None:
    if not cluster.distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend=backend, rank=cluster.rank, world_size=cluster.world_size)
    except (RuntimeError, ValueError) as error:
        raise CifarctlError(f"cannot join the torchrun job ({error}); start it with torchrun") from None


def backend() -> str:
    return str(dist.get_backend()) if dist.is_initialized() else "none"


def leave(together: bool = True) -> None:
    """Leave the process group; by default all ranks first wait for each other, since a rank
    tearing Gloo down while rank 0 still writes its files aborted now and then at exit
    ("terminate called without an active exception"). After an error, leave at once."""
    if not dist.is_initialized():
        return
    if together:
        with contextlib.suppress(RuntimeError):  # another rank has gone already: nothing to wait for
            dist.barrier()
    dist.destroy_process_group()


def broadcast(value: Any, cluster: Cluster) -> Any:
    """Rank 0's `value`, on every rank."""
    if not cluster.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_main(action: Callable[[], Any], cluster: Cluster) -> Any:
    """Run `action` on rank 0 (or the only process) and give its result to every rank; if it
    fails with a user-facing error, every rank raises that same error."""
    if not cluster.distributed:
        return action()
    outcome: Any = None
    if cluster.is_main:
        try:
            outcome = action()
        except CifarctlError as error:
            outcome = error
    outcome = broadcast(outcome, cluster)
    if isinstance(outcome, CifarctlError):
        raise outcome
    return outcome


def _collective_device() -> torch.device:
    """NCCL reduces tensors on the GPU, Gloo on the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def mean_over_ranks(values: list[float], cluster: Cluster) -> list[float]:
    if not cluster.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=_collective_device())
    dist.all_reduce(tensor)
    return (tensor / cluster.world_size).tolist()


def any_rank(flag: bool, cluster: Cluster) -> bool:
    """True on every rank when it is True on at least one (all ranks must call it together)."""
    if not cluster.distributed:
        return flag
    tensor = torch.tensor([1 if flag else 0], dtype=torch.int32, device=_collective_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


def wrapped(network: torch.nn.Module, device: torch.device, cluster: Cluster) -> torch.nn.Module:
    """What a training step calls: the network, or under torchrun its DistributedDataParallel
    wrapper, which averages the gradients over the processes in `backward()`."""
    if not cluster.distributed:
        return network
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)


def stop_agreed(should_stop: Callable[[], bool], step: int, cluster: Cluster, at_once: bool = False) -> bool:
    """Whether to stop now. Alone: at once. Under torchrun every rank must stop at the same step,
    so the ranks agree every STOP_CHECK_EVERY steps (a collective each time), or `at_once` where
    every rank calls it at the same point."""
    if not cluster.distributed:
        return should_stop()
    return (at_once or step % STOP_CHECK_EVERY == 0) and any_rank(should_stop(), cluster)
