"""`cifarctl tune`: search a family's settings with Optuna, each trial a run measured on the validation split."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cifarctl.cli.options import JsonOption, ModelOption, NoDownloadOption, duration_value
from cifarctl.cli.startup import start
from cifarctl.models import registry

SEARCH, LENGTH, MEASURE, STUDY, OUTPUT, MACHINE = (
    "Search", "Each trial's length", "Measuring", "Study and database", "Output", "Machine")
STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")  # also a folder name under --output-dir


def _study(value: Optional[str]) -> Optional[str]:
    if value is not None and not STUDY_NAME.match(value):
        raise typer.BadParameter(f"{value!r} is not a study name: letters, digits, '.', '_' and '-', "
                                 "starting with a letter or digit")
    return value


def _choice(*choices: str):
    def check(value: Optional[str]) -> Optional[str]:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of: {', '.join(choices)}")
        return value

    return check


def _spaces() -> str:
    return "; ".join(f"{family.name} {' '.join(family.search_space)}" for family in registry.FAMILIES.values()
                     if family.search_space)


def tune(
    ctx: typer.Context,
    model: ModelOption = "net",
    trials: Annotated[int, typer.Option(
        "--trials", metavar="N", min=1, max=10_000, rich_help_panel=SEARCH,
        help="Finished trials (complete or pruned) the study should hold; the same command run again adds the "
        "ones still missing (raise N to search further).")] = 20,
    space: Annotated[Optional[list[str]], typer.Option(
        "--space", metavar="NAME=RANGE", show_default=False, rich_help_panel=SEARCH,
        help="Replace or add one setting of the family's search space (repeatable): LOW:HIGH, LOW:HIGH:log, "
        f"LOW:HIGH:STEP, A,B,C, or one value to fix it. Defaults: {_spaces()}.")] = None,
    pruner: Annotated[str, typer.Option(
        "--pruner", metavar="median|hyperband|none", callback=_choice("median", "hyperband", "none"),
        rich_help_panel=SEARCH,
        help="Stop hopeless trials from their validation accuracy at each epoch's end (Optuna's).")] = "median",
    time_budget: Annotated[Optional[str], typer.Option(
        "--time-budget", metavar="DURATION", callback=duration_value, show_default=False, rich_help_panel=LENGTH,
        help="Fit each trial to this much time (90s, 2m), from the trial's start to its saved model, as "
        "train --time-budget does.")] = None,
    steps: Annotated[Optional[int], typer.Option(
        "--steps", metavar="N", min=1, max=100_000_000, show_default=False, rich_help_panel=LENGTH,
        help="Train each trial exactly this many mini-batches.")] = None,
    epochs: Annotated[Optional[float], typer.Option(
        "--epochs", metavar="N", min=0.001, max=10_000, show_default=False, rich_help_panel=LENGTH,
        help="Train each trial this many epochs (default without any of these: the recipe's).")] = None,
    val_split: Annotated[str, typer.Option(
        "--val-split", metavar="N|FRACTION", rich_help_panel=MEASURE,
        help="Training images held out (5000, or a share: 0.1) to measure every trial on; the test split is "
        "never read.")] = "0.1",
    val_seed: Annotated[int, typer.Option(
        "--val-seed", metavar="N", min=0, max=2**63 - 1, rich_help_panel=MEASURE,
        help="Which images --val-split holds out.")] = 0,
    confirm_seeds: Annotated[int, typer.Option(
        "--confirm-seeds", metavar="N", min=0, max=100, rich_help_panel=MEASURE,
        help="Train the best settings again with N fresh seeds for a mean and 95 % interval (0: skip; "
        "at least 3).")] = 3,
    compare_defaults: Annotated[bool, typer.Option(
        "--compare-defaults", rich_help_panel=MEASURE,
        help="Also train the recipe's defaults with the same seeds, and compare (Welch's t-test).")] = False,
    study: Annotated[Optional[str], typer.Option(
        "--study", metavar="NAME", callback=_study, show_default=False, rich_help_panel=STUDY,
        help="The study's name in the database (default: MODEL-DATASET, e.g. fast-cifar10).")] = None,
    storage: Annotated[Optional[str], typer.Option(
        "--storage", metavar="URL", show_default=False, rich_help_panel=STUDY,
        help="Optuna's database, which keeps every trial: sqlite:///FILE or another SQLAlchemy URL (default: "
        "sqlite:///DIR/tune.db in --output-dir).")] = None,
    jobs: Annotated[int, typer.Option(
        "--jobs", metavar="N", min=1, max=256, rich_help_panel=STUDY,
        help="Run trials in N processes at once, each with its share of the cores (at most one job a core).")] = 1,
    output_dir: Annotated[Path, typer.Option(
        "--output-dir", metavar="DIR", rich_help_panel=OUTPUT,
        help="Where the study's files go: DIR/STUDY/trial-0007.pth, its metrics log, the re-runs, the "
        "picture.")] = Path("tune"),
    plot: Annotated[Optional[Path], typer.Option(
        "--plot", metavar="FILE.png", show_default=False, rich_help_panel=OUTPUT,
        help="The optimisation history as a PNG (default: DIR/STUDY/history.png).")] = None,
    write_config: Annotated[bool, typer.Option(
        "--write-config/--no-write-config", rich_help_panel=OUTPUT,
        help="Write the best settings as a [train.MODEL] section into the config file train reads (--config, "
        "$CIFARCTL_CONFIG, else ./cifarctl.toml).")] = True,
    json_output: JsonOption = False,
    threads: Annotated[Optional[int], typer.Option(
        "--threads", metavar="N", min=1, max=256, show_default=False, rich_help_panel=MACHINE,
        help="CPU threads per trial (default: measured as train does; with --jobs, the cores shared out).")] = None,
    precision: Annotated[Optional[str], typer.Option(
        "--precision", metavar="auto|fp32|bf16|fp16", callback=_choice("auto", "fp32", "bf16", "fp16"),
        show_default=False, rich_help_panel=MACHINE, help="Number format (default: the recipe's).")] = None,
    no_download: NoDownloadOption = False,
) -> None:
    """Search a model's settings with Optuna (each trial a training run on the validation split), confirm the
    best over fresh seeds and write them where train reads them."""
    from cifarctl.durations import parse_duration
    from cifarctl.errors import CifarctlError, UsageError
    from cifarctl.models.search_space import search_space

    config, ui = start(ctx)
    lengths = [name for name, value in (("--time-budget", time_budget), ("--steps", steps), ("--epochs", epochs))
               if value is not None]
    if len(lengths) > 1:
        raise UsageError(f"{' and '.join(lengths)} each set a trial's length; give one")
    dimensions = search_space(registry.get(model), space or [])
    name = study or f"{model}-{config.dataset}"
    if not STUDY_NAME.match(name):
        raise UsageError(f"the dataset name {config.dataset!r} makes no study name; give one with --study")
    if plot is not None:
        from cifarctl.cli.options import check_png_outputs

        check_png_outputs(config.data_dir, plot=plot)
    from cifarctl.training.distributed import cluster_from_environment
    from cifarctl.training.tuning import TuneRequest
    from cifarctl.training.tuning import tune as run_study

    if time_budget:
        from cifarctl.training.time_budget import budget_fit_step

        budget_fit_step(registry.get(model).recipe)
    request = TuneRequest(
        model=model, space=dimensions, trials=trials, place=config.place(), study=name, folder=output_dir / name,
        storage=storage or f"sqlite:///{output_dir / 'tune.db'}", device=config.device, seed=config.seed,
        time_budget=parse_duration(time_budget) if time_budget else None, steps=steps, epochs=epochs,
        val_split=val_split, val_seed=val_seed, pruner=pruner, confirm_seeds=confirm_seeds,
        compare_defaults=compare_defaults, jobs=jobs, precision=precision,
        threads=threads if threads is not None or jobs > 1 else config.threads,  # --jobs shares the cores out
        allow_download=not no_download)
    from cifarctl.cli.tune_progress import StudyDisplay

    is_main = cluster_from_environment().is_main
    try:
        result = run_study(request, StudyDisplay(ui))
    except CifarctlError as error:
        if is_main:
            raise
        raise typer.Exit(error.exit_code) from None  # rank 0 says it once for all
    if not is_main:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # as train: nothing left for another rank to write
    failed = _write_outputs(result, plot or request.folder / "history.png", write_config, config)
    _report(ui, result, json_output)
    if failed is not None:
        raise failed


def _write_outputs(result, plot: Path, write_config: bool, config):
    """The history picture and the [train.MODEL] section; the error of a section that could not be
    written, to raise once the results are shown."""
    from cifarctl.config import DEFAULT_CONFIG_FILE
    from cifarctl.config_sections import section_text, write_model_section
    from cifarctl.errors import CifarctlError

    if any(trial.state in ("complete", "pruned") for trial in result.trials):
        from cifarctl.cli.tune_pictures import study_picture
        from cifarctl.pictures.tuning_plots import save_study_picture

        save_study_picture(study_picture(result), plot)
        result.plot = plot
    if result.best_settings is None:
        return None
    comments = section_comments(result)
    result.config_text = section_text(result.model, result.best_settings, comments)
    if not write_config:
        return None
    target = config.config_file or Path(DEFAULT_CONFIG_FILE)
    try:
        write_model_section(target, result.model, result.best_settings, comments)
    except CifarctlError as error:
        return error
    result.config_file = target
    return None


def section_comments(result) -> list[str]:
    from cifarctl.cli.sweep_reports import describe
    from cifarctl.training.study import describe_length

    best = result.best
    lines = [f"written by cifarctl tune: study {result.study} ({result.storage}), trial {best.number} of "
             f"{len(result.trials)}, each trial {describe_length(result.length)}"]
    if result.confirmed is not None:
        seeds = ", ".join(str(run.seed) for run in result.confirmed.runs)
        lines.append(f"validation accuracy {describe(result.confirmed.summary)}, seeds {seeds}")
    else:
        lines.append(f"validation accuracy {100 * best.value:.2f} % in its trial (one seed)")
    return lines


def _report(ui, result, json_output: bool) -> None:
    from rich.markup import escape

    from cifarctl.cli.tune_reports import best_table, confirmation_lines, importance_table, trials_table

    if json_output:
        ui.print_json(result.as_json())
        return
    ui.print(trials_table(result))
    if result.best is None:
        ui.print("No trial has finished yet: nothing to confirm or write. Run the same command again to continue.")
    else:
        ui.print(best_table(result))
        for line in confirmation_lines(result):
            ui.print(line)
        if result.importances:
            ui.print(importance_table(result.importances))
    if result.plot is not None:
        ui.print(escape(f"optimisation history: {result.plot}"))
    if result.config_file is not None:
        ui.print(escape(f"best settings written to {result.config_file} [train.{result.model}]: "
                        f"`cifarctl train --model {result.model}` starts from them"))
    elif result.config_text is not None:
        ui.print(escape(f"best settings, for the config file train reads:\n{result.config_text}"))
