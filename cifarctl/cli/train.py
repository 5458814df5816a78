"""`cifarctl train`: the tutorial's training run, with live progress and a resumable checkpoint."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated

import typer

from cifarctl.cli.options import (
    DataDirOption,
    DeviceOption,
    JsonOption,
    ModelName,
    NoDownloadOption,
    SeedOption,
    command_config,
)
from cifarctl.cli.ui import UI


def _positive(value: float) -> float:
    if not value > 0 or value != value or value == float("inf"):
        raise typer.BadParameter(f"{value} is not a positive, finite number")
    return value


def _momentum(value: float) -> float:
    if not 0 <= value < 1:
        raise typer.BadParameter(f"{value} is outside 0 <= momentum < 1")
    return value


def train(
    ctx: typer.Context,
    model: Annotated[ModelName, typer.Option("--model", help="Which model to train: net is the tutorial's Net.")] = ModelName.net,
    epochs: Annotated[int, typer.Option("--epochs", min=1, max=10_000, help="Passes over the training set.")] = 2,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=65_536, help="Images per mini-batch.")] = 4,
    lr: Annotated[float, typer.Option("--lr", callback=_positive, help="SGD learning rate.")] = 0.001,
    momentum: Annotated[float, typer.Option("--momentum", callback=_momentum, help="SGD momentum, 0 <= m < 1.")] = 0.9,
    width: Annotated[int, typer.Option("--width", min=1, max=4096, help="Channels of Net's first conv (the tutorial's GPU experiment).")] = 6,
    log_every: Annotated[int, typer.Option("--log-every", min=1, help="Print the running loss every N mini-batches.")] = 2000,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to save the trained state_dict.")] = Path("cifar_net.pth"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint beside --output.")] = False,
    json_output: JsonOption = False,
    no_download: NoDownloadOption = False,
    data_dir: DataDirOption = None,
    device: DeviceOption = None,
    seed: SeedOption = None,
) -> None:
    """Train the tutorial's Net on CIFAR-10 (defaults: 2 epochs, batch 4, SGD lr 0.001 momentum 0.9)."""
    from cifarctl.checkpoints import checkpoint_path_for, load_checkpoint
    from cifarctl.cli.reports import training_summary
    from cifarctl.data.memory import load_split
    from cifarctl.devices import describe, resolve_device
    from cifarctl.distributed import broadcast, cluster_from_environment, device_for, join, leave
    from cifarctl.distributed import backend as dist_backend
    from cifarctl.errors import Interrupted, UsageError
    from cifarctl.events import Events
    from cifarctl.files import check_output_file
    from cifarctl.interrupts import StopRequest
    from cifarctl.training import TrainSettings
    from cifarctl.training import train as run_training

    config = command_config(ctx, data_dir=data_dir, device=device, seed=seed)
    ui = UI(config.color, config.quiet, config.verbose)
    _check_output(output)
    check_output_file(output, "--output")
    checkpoint = checkpoint_path_for(output)
    cluster = cluster_from_environment()
    if resume and cluster is None and not checkpoint.exists():
        raise UsageError(f"--resume: no checkpoint at {checkpoint}; start without --resume")
    torch_device = resolve_device(config.device)
    if cluster is not None:
        torch_device = device_for(cluster, torch_device)
        join(cluster, torch_device)
    try:
        chosen_seed = config.seed
        if chosen_seed is None:
            resuming = resume and checkpoint.exists()
            chosen_seed = load_checkpoint(checkpoint)["settings"]["seed"] if resuming else random.randrange(2**31)
        chosen_seed = broadcast(chosen_seed, cluster)  # every process must shuffle alike
        settings = TrainSettings(model=model.value, width=width, epochs=epochs, batch_size=batch_size, lr=lr,
                                 momentum=momentum, log_every=log_every, seed=chosen_seed)
        is_main = cluster is None or cluster.is_main
        events = ui.events() if is_main else Events()
        _dataset_ready(config.data_dir, not no_download, events, cluster)
        data = load_split(config.data_dir, "train")
        if is_main:
            ui.info(f"training on {len(data):,} images on {describe(torch_device)}, seed {chosen_seed}")
            if cluster is not None:
                ui.info(f"distributed: {cluster.world_size} processes ({dist_backend()}), {batch_size} images per "
                        f"process per step = global batch {batch_size * cluster.world_size}, lr {lr}")
        with StopRequest() as stop:
            try:
                result = run_training(settings, data, torch_device, output, checkpoint, resume, events, stop, cluster)
            except Interrupted as error:
                if is_main:
                    raise
                raise typer.Exit(error.exit_code) from None  # rank 0 says it once for all
    finally:
        leave()
    if not is_main:
        return
    if json_output:
        ui.print_json(result.as_json())
    else:
        ui.print("Finished Training")
        ui.print(training_summary(result))


def _dataset_ready(data_dir: Path, allow_download: bool, events, cluster) -> None:
    """Rank 0 (or the only process) makes sure the dataset is there; the others wait for it
    and stop with the same error if it fails."""
    from cifarctl.data.acquire import ensure_dataset
    from cifarctl.distributed import broadcast
    from cifarctl.errors import CifarctlError

    problem = None
    if cluster is None or cluster.is_main:
        try:
            ensure_dataset(data_dir, allow_download=allow_download, events=events)
        except CifarctlError as error:
            if cluster is None:
                raise
            problem = error
    shared = broadcast(problem, cluster)
    if shared is not None:
        if problem is None:  # another rank: rank 0 reports it
            raise typer.Exit(shared.exit_code)
        raise shared


def _check_output(output: Path) -> None:
    if output.suffix == ".ckpt":
        raise typer.BadParameter("the .ckpt name is taken by the training checkpoint; use .pth", param_hint="'--output'")
