"""`cifarctl train`: train a registered model with its recipe, live progress and a resumable checkpoint."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cifarctl.cli.options import JsonOption, ModelOption, NoDownloadOption, duration_value, model_options
from cifarctl.cli.startup import start
from cifarctl.models import registry
from cifarctl.models.search_space import MAX_LR

MODEL, RECIPE, LENGTH, MEASURE, OUTPUT, MACHINE = (
    "Model", "Recipe", "Length", "Measuring and repeated runs", "Output and resume", "Machine")


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


def _precision(value: Optional[str]) -> Optional[str]:
    from cifarctl.recipes import PRECISIONS

    if value is not None and value not in PRECISIONS:
        raise typer.BadParameter(f"{value!r} is not one of: {', '.join(PRECISIONS)}")
    return value


def _class_weights(value: str) -> str:
    from cifarctl.data.class_balance import check_class_weights_option
    from cifarctl.errors import UsageError

    try:
        return check_class_weights_option(value)
    except UsageError as error:
        raise typer.BadParameter(str(error).removeprefix(f"--class-weights {value}").lstrip(": ")) from None


def _sampling(value: str) -> str:
    from cifarctl.data.class_balance import SAMPLINGS

    if value not in SAMPLINGS:
        raise typer.BadParameter(f"{value!r} is not one of: {', '.join(SAMPLINGS)}")
    return value


def _complete_sampling(incomplete: str) -> list[tuple[str, str]]:
    choices = (("auto", "balanced on data whose largest class has over 3x the smallest's images"),
               ("balanced", "every class drawn equally often"), ("shuffle", "every image once an epoch"))
    return [choice for choice in choices if choice[0].startswith(incomplete)]


def _recipe_default(field: str) -> str:
    """Each family's default for a recipe field, for --help: "net 2, resnet18 30"."""
    return ", ".join(f"{name} {getattr(registry.get(name).recipe, field):g}" for name in registry.names())


def _option_default(option: str) -> str:
    takes = [f"{family.name} {found.default}" for family in registry.FAMILIES.values()
             if (found := family.option(option)) is not None]
    return "default: " + ", ".join(takes) if takes else "no built-in family takes it"


def _recipe_help(what: str, field: str) -> str:
    return f"{what} (default: the recipe's: {_recipe_default(field)})."


def train(
    ctx: typer.Context,
    model: ModelOption = "net",
    width: Annotated[Optional[int], typer.Option(
        "--width", metavar="W", min=1, max=4096, show_default=False, rich_help_panel=MODEL,
        help=f"Width of the model, for families that take one ({_option_default('width')}).")] = None,
    model_option: Annotated[Optional[list[str]], typer.Option(
        "--model-option", metavar="NAME=VALUE", show_default=False, rich_help_panel=MODEL,
        help="A model option by name (repeatable), for families with options beyond --width.")] = None,
    init_from: Annotated[Optional[Path], typer.Option(
        "--init-from", metavar="MODEL", show_default=False, rich_help_panel=MODEL,
        help="Start from this model file's weights (same family; its size unless you give one) instead of from "
        "scratch; its head is replaced when the data's classes differ.")] = None,
    freeze_backbone: Annotated[bool, typer.Option(
        "--freeze-backbone", rich_help_panel=MODEL,
        help="With --init-from: train only the head (the last layer); the rest keeps the file's weights.")] = False,
    batch_size: Annotated[Optional[int], typer.Option(
        "--batch-size", metavar="N", min=1, max=65_536, show_default=False, rich_help_panel=RECIPE,
        help=_recipe_help("Images per mini-batch per process", "batch_size")[:-1] + "; halved for a small dataset "
        "until an epoch has 8 steps, the rate with it).")] = None,
    lr: Annotated[Optional[str], typer.Option(
        "--lr", metavar="LR,...", callback=_rates, show_default=False, rich_help_panel=RECIPE,
        help=_recipe_help("Peak SGD learning rate", "lr")[:-1] + "; several, comma-separated, train a grid: "
        "one run per rate and seed, compared in a table.")] = None,
    momentum: Annotated[Optional[float], typer.Option(
        "--momentum", metavar="M", callback=_fraction(1, "momentum"), show_default=False, rich_help_panel=RECIPE,
        help=_recipe_help("SGD momentum, 0 <= m < 1", "momentum"))] = None,
    weight_decay: Annotated[Optional[float], typer.Option(
        "--weight-decay", metavar="WD", callback=_fraction(1, "weight decay"), show_default=False,
        rich_help_panel=RECIPE, help=_recipe_help("L2 weight decay", "weight_decay"))] = None,
    label_smoothing: Annotated[Optional[float], typer.Option(
        "--label-smoothing", metavar="S", callback=_fraction(1, "label smoothing"), show_default=False,
        rich_help_panel=RECIPE, help=_recipe_help("Cross-entropy label smoothing", "label_smoothing"))] = None,
    sampling: Annotated[str, typer.Option(
        "--sampling", metavar="auto|balanced|shuffle", callback=_sampling, autocompletion=_complete_sampling,
        rich_help_panel=RECIPE,
        help="How an epoch draws its images: balanced = every class equally often; shuffle = every image once, as "
        "the tutorial; auto = balanced when the largest class has over 3x the smallest's images and no "
        "--class-weights are given.")] = "auto",
    class_weights: Annotated[str, typer.Option(
        "--class-weights", metavar="auto|none|FILE", callback=_class_weights, rich_help_panel=RECIPE,
        help="Weight the loss per class instead: auto = by inverse class frequency when the largest class has over "
        "3x the smallest's images; none; or a file of one weight per class (JSON list or object, or numbers).")
    ] = "none",
    precision: Annotated[Optional[str], typer.Option(
        "--precision", metavar="auto|fp32|bf16|fp16", callback=_precision, show_default=False,
        rich_help_panel=RECIPE,
        help="Number format (default: the recipe's; auto = bf16 where the hardware has it, else fp32).")] = None,
    epochs: Annotated[Optional[float], typer.Option(
        "--epochs", metavar="N", callback=_epochs, show_default=False, rich_help_panel=LENGTH,
        help=_recipe_help("Passes over the training set", "epochs"))] = None,
    steps: Annotated[Optional[int], typer.Option(
        "--steps", metavar="N", min=1, max=100_000_000, show_default=False, rich_help_panel=LENGTH,
        help="Train exactly this many mini-batches (overrides --epochs; repeats a --time-budget run).")] = None,
    time_budget: Annotated[Optional[str], typer.Option(
        "--time-budget", metavar="DURATION", callback=duration_value, show_default=False, rich_help_panel=LENGTH,
        help="Fit the run to this much time (90s, 5m, 1h30m), counted from the command's start to the saved "
        "model: the speed of the first steps sets the number of steps (and, for fast without "
        "--width/--model-option, the model's size).")] = None,
    eval_every: Annotated[int, typer.Option(
        "--eval-every", metavar="N", min=0, max=10_000, rich_help_panel=MEASURE,
        help="Measure accuracy every N epochs and at the end (0: never while training): on the validation "
        "split when --val-split holds one out, else on the test split.")] = 0,
    val_split: Annotated[Optional[str], typer.Option(
        "--val-split", metavar="N|FRACTION", show_default=False, rich_help_panel=MEASURE,
        help="Hold out this many training images (5000) or this share of them (0.1), balanced over the "
        "classes, as a validation split that --eval-every measures instead of the test split.")] = None,
    val_seed: Annotated[int, typer.Option(
        "--val-seed", metavar="N", min=0, max=2**63 - 1, rich_help_panel=MEASURE,
        help="Which images --val-split holds out (the same seed gives the same images).")] = 0,
    seeds: Annotated[Optional[str], typer.Option(
        "--seeds", metavar="LIST", callback=_seeds, show_default=False, rich_help_panel=MEASURE,
        help="Train once per seed (0-4, or 1,3,7) and report the mean, spread and 95 % interval; each run "
        "writes NAME.seedS.pth.")] = None,
    repeats: Annotated[Optional[int], typer.Option(
        "--repeats", metavar="N", min=1, max=1000, show_default=False, rich_help_panel=MEASURE,
        help="Train N times, seeds counting up from the first (--seed, default 0); the same as --seeds.")] = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", metavar="FILE", rich_help_panel=OUTPUT,
        help="Where to save the trained model (the checkpoint and metrics log go beside it).")] = Path("cifar_net.pth"),
    resume: Annotated[bool, typer.Option(
        "--resume", rich_help_panel=OUTPUT, help="Continue from the checkpoint beside --output.")] = False,
    restart: Annotated[bool, typer.Option(
        "--restart", rich_help_panel=OUTPUT,
        help="Start over even if an unfinished checkpoint of this --output exists.")] = False,
    allow_other_data: Annotated[bool, typer.Option(
        "--allow-other-data", rich_help_panel=OUTPUT,
        help="With --resume: continue even if the dataset differs from the checkpoint's.")] = False,
    log_every: Annotated[Optional[int], typer.Option(
        "--log-every", metavar="N", min=1, show_default=False, rich_help_panel=OUTPUT,
        help=_recipe_help("Print the running loss every N mini-batches", "log_every"))] = None,
    tensorboard: Annotated[Optional[Path], typer.Option(
        "--tensorboard", metavar="DIR", show_default=False, rich_help_panel=OUTPUT,
        help="Also write the logged loss, accuracy and learning rate as TensorBoard scalars here (needs the "
        "optional extra: pip install 'cifarctl[tensorboard]').")] = None,
    json_output: JsonOption = False,
    threads: Annotated[Optional[int], typer.Option(
        "--threads", metavar="N", min=1, max=256, show_default=False, rich_help_panel=MACHINE,
        help="CPU threads (default: threads in cifarctl.toml or $CIFARCTL_THREADS, else measured at the start: "
        "all cores, or 1 when another process keeps them busy; a resume keeps the run's).")] = None,
    compile_model: Annotated[bool, typer.Option(
        "--compile", rich_help_panel=MACHINE,
        help="Compile the model with torch.compile (needs a C++ compiler on a CPU; the first steps pay the "
        "compile time, see docs/benchmarks.md for when it pays).")] = False,
    no_download: NoDownloadOption = False,
) -> None:
    """Train a model on CIFAR-10 or another dataset (see --dataset; default: the tutorial's Net, 2 epochs,
    batch 4, SGD lr 0.001 momentum 0.9)."""
    import time

    from cifarctl.data.guards import check_output_file
    from cifarctl.durations import parse_duration
    from cifarctl.errors import CifarctlError, UsageError
    from cifarctl.training.context import ResumePolicy
    from cifarctl.training.data_fit import DataFit
    from cifarctl.training.runs import TrainingRequest, train_runs
    from cifarctl.training.settings import TrainSettings
    from cifarctl.training.sweep_plan import PlannedRun, plan_runs, repeat_seeds
    from cifarctl.training.time_budget import budget_fit_step, process_age

    config, ui = start(ctx)
    if resume and restart:
        raise UsageError("--resume and --restart contradict each other; choose one")
    if time_budget is not None and (steps is not None or epochs is not None):
        raise UsageError("--time-budget sets the run's length; drop --steps and --epochs, or drop --time-budget")
    if seeds is not None and (repeats is not None or config.seed is not None):
        raise UsageError("--seeds lists every run's seed; drop --repeats and --seed (or the config's seed), "
                         "or use --repeats N --seed FIRST")
    if init_from is not None:  # never written over: every output check (a sweep's too) keeps apart from it
        from cifarctl.output_paths import remember_input

        remember_input(init_from)
    check_output_file(output, "--output", data_dir=config.data_dir)
    if output.suffix == ".ckpt" or output.name.endswith(".metrics.jsonl"):
        raise typer.BadParameter(f"{output.name} looks like a checkpoint or metrics log name; use a .pth name",
                                 param_hint="'--output'")
    if freeze_backbone and init_from is None:
        raise UsageError("--freeze-backbone trains only the head of the model --init-from starts from; "
                         "give --init-from MODEL, or drop --freeze-backbone")
    given = {"epochs": epochs, "batch_size": batch_size, "lr": lr[0] if lr else None, "momentum": momentum,
             "weight_decay": weight_decay, "label_smoothing": label_smoothing, "log_every": log_every}
    options, recipe_changes = _with_model_section(ui, config, model, model_options(model_option, width=width),
                                                  {name: value for name, value in given.items() if value is not None})
    settings = TrainSettings.for_model(
        model, options, seed=config.seed, eval_every=eval_every, precision=precision, steps=steps,
        time_budget=parse_duration(time_budget) if time_budget else None,
        threads=threads if threads is not None else config.threads, compile=compile_model,
        pick_size=not options and init_from is None, dataset=config.dataset, **recipe_changes)
    if settings.time_budget:
        budget_fit_step(settings.recipe)

    sweep = seeds is not None or repeats is not None or (lr is not None and len(lr) > 1)
    grid = ("lr", lr) if lr is not None and len(lr) > 1 else (None, None)  # the one option with a list
    if sweep:
        runs = plan_runs(output, seeds if seeds is not None else repeat_seeds(repeats or 1, config.seed), *grid)
    else:
        from cifarctl.training.run_files import run_files

        runs = [PlannedRun(settings.seed, None, run_files(output))]
    request = TrainingRequest(
        settings=settings, runs=tuple(runs), sweep=sweep, grid_option=grid[0], place=config.place(),
        device=config.device, policy=ResumePolicy(resume, restart, allow_other_data), val_split=val_split,
        val_seed=val_seed, allow_download=not no_download, tensorboard=tensorboard,
        # a batch or rate given, as an option or by the config's [train.MODEL], is kept as given
        fit=DataFit(batch="batch_size" not in recipe_changes, lr="lr" not in recipe_changes,
                    class_weights=class_weights, sampling=sampling), init_from=init_from,
        freeze_backbone=freeze_backbone, size_given=bool(options))

    def announce(index: int, run: PlannedRun) -> None:
        value = f"{grid[0]} {run.value:g}, " if grid[0] is not None else ""
        ui.info(f"run {index + 1}/{len(runs)}: {value}seed {run.seed} -> {run.files.output}")

    from cifarctl.training.distributed import cluster_from_environment

    is_main = cluster_from_environment().is_main
    try:
        result = train_runs(request, ui.events(), started=time.perf_counter() - process_age(), announce=announce)
    except CifarctlError as error:
        if is_main:
            raise
        raise typer.Exit(error.exit_code) from None  # rank 0 says it once for all
    if not is_main:
        # Nothing is left for another rank to do or write. Ending it here skips the C++
        # teardown of Gloo's threads at interpreter exit, which aborted now and then
        # ("terminate called without an active exception") after a finished run.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    _report(ui, result, json_output)


def _with_model_section(ui, config, model: str, options: dict, recipe_changes: dict) -> tuple[dict, dict]:
    """The options and recipe changes given, on top of the config file's [train.MODEL] section
    (what `tune` writes): the command line wins, and the first lines say what came from the file."""
    from cifarctl.config import MODEL_SECTIONS
    from cifarctl.models.search_space import checked_settings

    section = config.train.get(model, {})
    if not section:
        return options, recipe_changes
    where = f"{config.source_of(MODEL_SECTIONS)} [{MODEL_SECTIONS}.{model}]"
    file_options, file_recipe = checked_settings(registry.get(model), section, where)
    chosen = {**file_options, **file_recipe}
    used = {name: chosen[name] for name in section if name not in options and name not in recipe_changes}
    if used:
        ui.info(f"settings from {where}: " + ", ".join(f"{name} {value:g}" for name, value in used.items()))
    return {**file_options, **options}, {**file_recipe, **recipe_changes}


def _report(ui, result, json_output: bool) -> None:
    """One run's summary table, or a sweep's runs and comparison; or --json."""
    from cifarctl.training.sweep import SweepResult

    if json_output:
        ui.print_json(result.as_json())
        return
    if isinstance(result, SweepResult):
        from cifarctl.cli.sweep_reports import comparison_table, runs_table, summary_lines

        ui.print(runs_table(result))
        for line in summary_lines(result):
            ui.print(line)
        if result.option is not None:
            ui.print(comparison_table(result))
        return
    from cifarctl.cli.sparkline import can_draw_unicode
    from cifarctl.cli.train_reports import class_scores_line, training_summary

    ui.print("Finished Training")
    ui.print(training_summary(result, unicode=can_draw_unicode(ui.out)))
    if result.class_scores is not None:
        ui.print(class_scores_line(result.class_scores))
