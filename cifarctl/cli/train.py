"""`cifarctl train`: train a registered model with its recipe, live progress and a resumable checkpoint."""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from cifarctl.cli.options import JsonOption, ModelOption, NoDownloadOption, model_options
from cifarctl.cli.startup import start
from cifarctl.models import registry

MAX_LR = 1e6  # far above any useful rate, far below what overflows the optimiser's arithmetic


def _positive(value: Optional[float]) -> Optional[float]:
    if value is not None and (not 0 < value <= MAX_LR or value != value):
        raise typer.BadParameter(f"{value} is not a number in (0, {MAX_LR:g}]")
    return value


def _rates(value: Optional[str]) -> Optional[list[float]]:
    """One learning rate, or several comma-separated for a grid (one run per value and seed)."""
    if value is None:
        return None
    rates = []
    for text in value.split(","):
        try:
            rate = float(text)
        except ValueError:
            raise typer.BadParameter(f"{text.strip()!r} is not a number "
                                     "(give one rate, or several like 0.3,0.6,1.2)") from None
        rates.append(_positive(rate))
    if len(set(rates)) != len(rates):
        raise typer.BadParameter(f"{value!r} names a rate twice; give each once")
    return rates


def _seeds(value: Optional[str]) -> Optional[list[int]]:
    from cifarctl.errors import UsageError
    from cifarctl.training.sweep_plan import parse_seeds

    if value is None:
        return None
    try:
        return parse_seeds(value)
    except UsageError as error:
        raise typer.BadParameter(str(error).removeprefix(f"--seeds {value!r}: ")) from None


def _fraction(upper: float, name: str):
    def check(value: Optional[float]) -> Optional[float]:
        if value is not None and not 0 <= value < upper:
            raise typer.BadParameter(f"{value} is outside 0 <= {name} < {upper:g}")
        return value

    return check


def _epochs(value: Optional[float]) -> Optional[float]:
    if value is not None and not 0 < value <= 10_000:
        raise typer.BadParameter(f"{value} is not a number of epochs in (0, 10000]")
    return value


def _duration(value: Optional[str]) -> Optional[str]:
    from cifarctl.durations import parse_duration

    if value is not None:
        try:
            parse_duration(value)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
    return value


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _precision(value: Optional[str]) -> Optional[str]:
    from cifarctl.recipes import PRECISIONS

    if value is not None and value not in PRECISIONS:
        raise typer.BadParameter(f"{value!r} is not one of: {', '.join(PRECISIONS)}")
    return value


def owned_by_this_run(files):
    """A lock beside the run's files, held while it trains; a second run on them is refused at once."""
    from cifarctl.locks import exclusive_lock
    from cifarctl.path_kinds import resolved

    checkpoint = resolved(files.checkpoint, "--output")
    return exclusive_lock(
        checkpoint.with_name(f".{checkpoint.name}.lock"), remove=True,
        busy=f"another training run ({{holder}}) is writing {files.output}, its checkpoint and its metrics log; "
             "wait for it to finish, or choose another --output")


def space_needed(settings, files) -> int:
    """Bytes the run will add to its folder at the most: a checkpoint written beside the one it
    replaces (weights, optimiser state and averaged weights: about 3x the weights), the model
    file, and room for the metrics log."""
    from cifarctl.models import ModelInfo, expected_shapes

    info = ModelInfo(settings.model, settings.options, len(settings.classes))
    weights = 4 * sum(math.prod(shape) for shape in expected_shapes(info).values())
    checkpoint = 3 * weights + (1 << 20)
    try:
        replaced = files.checkpoint.stat().st_size
    except OSError:
        replaced = 0
    return weights + checkpoint + max(0, checkpoint - replaced) + (8 << 20)


def _modified(path: Path) -> Optional[int]:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def with_checkpoint_kept(error, files):
    """A write that failed during training names its file; say too that the last checkpoint is safe."""
    from cifarctl.atomic_writes import WriteError

    if files.checkpoint.is_file():  # atomic writes: a checkpoint that failed left the one before it
        return WriteError(f"{error}; the last checkpoint ({files.checkpoint}) was kept: "
                          "rerun the same command with --resume once there is room", error.errno)
    return error


def said_for_signal(error, stop):
    """The loop's "interrupted ...; checkpoint saved" line, worded and coded for the signal that stopped it."""
    from cifarctl.errors import Interrupted

    message = str(error)
    if stop.word != "interrupted" and message.startswith("interrupted"):
        message = stop.word + message.removeprefix("interrupted")
    said = Interrupted(message)
    said.exit_code = stop.exit_code
    return said


def _recipe_default(field: str) -> str:
    """Each family's default for a recipe field, for --help: "net 2, resnet18 30"."""

    return ", ".join(f"{name} {getattr(registry.get(name).recipe, field):g}" for name in registry.names())


def _option_default(option: str) -> str:
    takes = [f"{family.name} {found.default}" for family in registry.FAMILIES.values()
             if (found := family.option(option)) is not None]
    return "default: " + ", ".join(takes) if takes else "no built-in family takes it"


def train(
    ctx: typer.Context,
    model: ModelOption = "net",
    epochs: Annotated[Optional[float], typer.Option("--epochs", metavar="N", callback=_epochs, help=f"Passes over the training set (default: the recipe's: {_recipe_default('epochs')}).", show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", metavar="N", min=1, max=65_536, help=f"Images per mini-batch per process (default: the recipe's: {_recipe_default('batch_size')}).", show_default=False)] = None,
    lr: Annotated[Optional[str], typer.Option("--lr", metavar="LR,...", callback=_rates, help=f"Peak SGD learning rate (default: the recipe's: {_recipe_default('lr')}). Several, comma-separated, train a grid: one run per rate and seed, compared in a table.", show_default=False)] = None,
    momentum: Annotated[Optional[float], typer.Option("--momentum", metavar="M", callback=_fraction(1, "momentum"), help=f"SGD momentum, 0 <= m < 1 (default: the recipe's: {_recipe_default('momentum')}).", show_default=False)] = None,
    weight_decay: Annotated[Optional[float], typer.Option("--weight-decay", metavar="WD", callback=_fraction(1, "weight decay"), help=f"L2 weight decay (default: the recipe's: {_recipe_default('weight_decay')}).", show_default=False)] = None,
    label_smoothing: Annotated[Optional[float], typer.Option("--label-smoothing", metavar="S", callback=_fraction(1, "label smoothing"), help=f"Cross-entropy label smoothing (default: the recipe's: {_recipe_default('label_smoothing')}).", show_default=False)] = None,
    width: Annotated[Optional[int], typer.Option("--width", metavar="W", min=1, max=4096, help=f"Width of the model, for families that take one ({_option_default('width')}).", show_default=False)] = None,
    model_option: Annotated[Optional[list[str]], typer.Option("--model-option", metavar="NAME=VALUE", help="A model option by name (repeatable), for families with options beyond --width.", show_default=False)] = None,
    log_every: Annotated[Optional[int], typer.Option("--log-every", metavar="N", min=1, help=f"Print the running loss every N mini-batches (default: the recipe's: {_recipe_default('log_every')}).", show_default=False)] = None,
    eval_every: Annotated[int, typer.Option("--eval-every", metavar="N", min=0, max=10_000, help="Measure accuracy every N epochs and at the end (0: never while training): on the validation split when --val-split holds one out, else on the test split.")] = 0,
    val_split: Annotated[Optional[str], typer.Option("--val-split", metavar="N|FRACTION", help="Hold out this many training images (5000) or this share of them (0.1), balanced over the classes, as a validation split that --eval-every measures instead of the test split.", show_default=False)] = None,
    val_seed: Annotated[int, typer.Option("--val-seed", metavar="N", min=0, max=2**63 - 1, help="Which images --val-split holds out (the same seed gives the same images).")] = 0,
    seeds: Annotated[Optional[str], typer.Option("--seeds", metavar="LIST", callback=_seeds, help="Train once per seed (0-4, or 1,3,7) and report the mean, spread and 95 % interval; each run writes NAME.seedS.pth.", show_default=False)] = None,
    repeats: Annotated[Optional[int], typer.Option("--repeats", metavar="N", min=1, max=1000, help="Train N times, seeds counting up from the first (--seed, default 0); the same as --seeds.", show_default=False)] = None,
    time_budget: Annotated[Optional[str], typer.Option("--time-budget", metavar="DURATION", callback=_duration, help="Fit the run to this much time (90s, 5m, 1h30m), counted from the command's start to the saved model: the speed of the first steps sets the number of steps (and, for fast without --width/--model-option, the model's size).", show_default=False)] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", metavar="N", min=1, max=100_000_000, help="Train exactly this many mini-batches (overrides --epochs; repeats a --time-budget run).", show_default=False)] = None,
    precision: Annotated[Optional[str], typer.Option("--precision", metavar="auto|fp32|bf16|fp16", callback=_precision, help="Number format (default: the recipe's; auto = bf16 where the hardware has it, else fp32).", show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", metavar="N", min=1, max=256, help="CPU threads (default: threads in cifarctl.toml or $CIFARCTL_THREADS, else measured at the start: all cores, or 1 when another process keeps them busy; a resume keeps the run's).", show_default=False)] = None,
    compile_model: Annotated[bool, typer.Option("--compile", help="Compile the model with torch.compile (needs a C++ compiler on a CPU; the first steps pay the compile time, see docs/benchmarks.md for when it pays).")] = False,
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="Where to save the trained model (the checkpoint and metrics log go beside it).")] = Path("cifar_net.pth"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint beside --output.")] = False,
    restart: Annotated[bool, typer.Option("--restart", help="Start over even if an unfinished checkpoint of this --output exists.")] = False,
    allow_other_data: Annotated[bool, typer.Option("--allow-other-data", help="With --resume: continue even if the dataset differs from the checkpoint's.")] = False,
    tensorboard: Annotated[Optional[Path], typer.Option("--tensorboard", metavar="DIR", help="Also write the logged loss, accuracy and learning rate as TensorBoard scalars here (needs the optional extra: pip install 'cifarctl[tensorboard]').", show_default=False)] = None,
    json_output: JsonOption = False,
    no_download: NoDownloadOption = False,
) -> None:
    """Train a model on CIFAR-10 or another dataset (see --dataset; default: the tutorial's Net, 2 epochs, batch 4, SGD lr 0.001 momentum 0.9)."""
    from cifarctl.atomic_writes import WriteError
    from cifarctl.cli.sparkline import can_draw_unicode
    from cifarctl.cli.train_reports import training_summary
    from cifarctl.data.acquire import ensure_dataset
    from cifarctl.data.guards import check_output_file
    from cifarctl.data.memory import load_split
    from cifarctl.devices import resolve_device
    from cifarctl.errors import CifarctlError, Interrupted, UsageError
    from cifarctl.events import Events
    from cifarctl.interrupts import StopRequest
    from cifarctl.output_paths import check_free_space, check_outputs_distinct
    from cifarctl.training.distributed import cluster_from_environment, device_for, join, leave, on_main
    from cifarctl.training.loop import train as run_training
    from cifarctl.training.run_files import run_files
    from cifarctl.training.settings import TrainSettings
    from cifarctl.training.sweep_plan import plan_runs, repeat_seeds

    config, ui = start(ctx)
    if resume and restart:
        raise UsageError("--resume and --restart contradict each other; choose one")
    from cifarctl.durations import parse_duration
    from cifarctl.training.time_budget import budget_fit_step, process_age

    if time_budget is not None and (steps is not None or epochs is not None):
        raise UsageError("--time-budget sets the run's length; drop --steps and --epochs, or drop --time-budget")
    if seeds is not None and (repeats is not None or config.seed is not None):
        raise UsageError("--seeds lists every run's seed; drop --repeats and --seed (or the config's seed), or use --repeats N --seed FIRST")
    options = model_options(model_option, width=width)
    settings = TrainSettings.for_model(
        model, options, seed=config.seed, eval_every=eval_every, precision=precision, steps=steps,
        time_budget=parse_duration(time_budget) if time_budget else None, threads=threads if threads is not None else config.threads, compile=compile_model,
        pick_size=not options, epochs=epochs,
        batch_size=batch_size, lr=lr[0] if lr else None, momentum=momentum, weight_decay=weight_decay,
        label_smoothing=label_smoothing, log_every=log_every, dataset=config.dataset)
    check_output_file(output, "--output", data_dir=config.data_dir)
    if output.suffix == ".ckpt" or output.name.endswith(".metrics.jsonl"):
        raise typer.BadParameter(f"{output.name} looks like a checkpoint or metrics log name; use a .pth name",
                                 param_hint="'--output'")
    if settings.time_budget:
        budget_fit_step(settings.recipe)
    repeated = seeds is not None or repeats is not None or (lr is not None and len(lr) > 1)
    if repeated:
        from cifarctl.cli.train_sweep import train_sweep

        all_seeds = seeds if seeds is not None else repeat_seeds(repeats or 1, config.seed)
        grid = ("lr", lr) if lr is not None and len(lr) > 1 else (None, None)  # the one option with a list
        planned = plan_runs(output, all_seeds, *grid)
        for run in planned:
            for path, what in ((run.files.output, ""), (run.files.checkpoint, " (its checkpoint)"),
                               (run.files.metrics, " (its metrics log)")):
                check_output_file(path, f"--output{what}", data_dir=config.data_dir)
        if tensorboard is not None:
            raise UsageError("--tensorboard follows one run; drop it for --seeds, --repeats or several --lr values")
        return train_sweep(ui, config, settings, planned, grid[0], resume=resume, restart=restart,
                           no_download=no_download, allow_other_data=allow_other_data, val_split=val_split,
                           val_seed=val_seed, json_output=json_output)
    files = run_files(output)
    check_output_file(files.checkpoint, "--output (its checkpoint)", data_dir=config.data_dir)
    check_output_file(files.metrics, "--output (its metrics log)", data_dir=config.data_dir)
    if tensorboard is not None:
        check_outputs_distinct([(output, "--output"), (files.checkpoint, "--output (its checkpoint)"),
                                (files.metrics, "--output (its metrics log)"), (tensorboard, "--tensorboard")],
                               folders=["--tensorboard"])
    cluster = cluster_from_environment()
    is_main = cluster is None or cluster.is_main
    # The run owns its model, checkpoint and metrics log until it ends: a second run on the
    # same files is refused at once instead of silently overwriting the first one's.
    if is_main:
        ctx.with_resource(owned_by_this_run(files))  # released when the command ends, however it ends
    if is_main:
        check_free_space(output.parent, space_needed(settings, files), f"training {settings.model}")
    metrics_sink = None
    if tensorboard is not None and is_main:
        from cifarctl.training.tensorboard import TensorBoardSink

        metrics_sink = TensorBoardSink(tensorboard)
    torch_device = resolve_device(config.device)
    if cluster is not None:
        torch_device = device_for(cluster, torch_device)
        join(cluster, torch_device)
    ui.debug(f"device: {torch_device}, CPU threads: {_threads()}")
    events = ui.events() if is_main else Events()
    finished = False
    try:
        place = config.place()
        on_main(lambda: ensure_dataset(place, allow_download=not no_download, events=events), cluster)
        data, validation, settings = held_out(load_split(place, "train"), settings, val_split, val_seed,
                                              [files] if resume else [], cluster)
        test_data = validation if validation is not None else (
            load_split(place, "test") if eval_every else None)
        checkpoint_before = _modified(files.checkpoint)
        with StopRequest() as stop:
            try:
                result = run_training(settings, data, torch_device, files, resume, events=events, should_stop=stop,
                                      cluster=cluster, test_data=test_data, allow_other_data=allow_other_data,
                                      restart=restart, started=time.perf_counter() - process_age(),
                                      metrics_sink=metrics_sink)
            except Interrupted as error:
                raise said_for_signal(error, stop) from None
            except WriteError as error:
                if _modified(files.checkpoint) in (checkpoint_before, None):
                    raise  # no checkpoint of this run to speak of
                raise with_checkpoint_kept(error, files) from None
        finished = True
    except CifarctlError as error:
        if is_main:
            raise
        raise typer.Exit(error.exit_code) from None  # rank 0 says it once for all
    finally:
        leave(together=finished)
    if not is_main:
        # Nothing is left for another rank to do or write. Ending it here skips the C++
        # teardown of Gloo's threads at interpreter exit, which aborted now and then
        # ("terminate called without an active exception") after a finished run.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    if json_output:
        ui.print_json(result.as_json())
    else:
        ui.print("Finished Training")
        ui.print(training_summary(result, unicode=can_draw_unicode(ui.out)))


def held_out(data, settings, val_split: Optional[str], val_seed: int, checkpoints_to_resume: list, cluster=None):
    """The training images to train on, the validation split (or None), and the settings recording it.

    Without --val-split, a resumed run holds out what its checkpoint recorded, so `--resume`
    needs no repeat of the option.
    """
    import dataclasses

    from cifarctl.data.validation import ValidationSplit, rebuild, split_off, validation_size
    from cifarctl.training.checkpoint import recorded_validation

    if val_split is not None:
        data, validation, record = split_off(data, validation_size(val_split, len(data)), val_seed)
    else:
        from cifarctl.training.distributed import on_main

        recorded = on_main(lambda: next((found for files in checkpoints_to_resume
                                         if (found := recorded_validation(files))), None), cluster)
        if recorded is None:
            return data, None, settings
        record = ValidationSplit.from_dict(recorded[1], str(recorded[0]))
        data, validation = rebuild(data, record, str(recorded[0]))
    return data, validation, dataclasses.replace(settings, validation=record.as_dict())
