"""`cifarctl plot`: a PNG of one or more training runs' loss and accuracy, from their metrics logs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cifarctl.cli.options import DEFAULT_MODEL_FILE, JsonOption, check_png_outputs, png_output_option
from cifarctl.cli.startup import start
from cifarctl.cli.streams import readable

if TYPE_CHECKING:
    from cifarctl.pictures.training_plots import RunCurves

METRICS_SUFFIX = ".metrics.jsonl"
COMPARISON_NAME = "comparison.png"


def plot(
    ctx: typer.Context,
    runs: Annotated[Optional[list[Path]], typer.Argument(
        metavar="RUN", show_default=False,
        help="Metrics logs (*.metrics.jsonl) or the model files they sit beside (default: cifar_net.pth).")] = None,
    output: png_output_option(
        "--output", "-o",
        help="The PNG to write (default: beside the log, NAME.metrics.png; comparison.png for several runs).") = None,
    label: Annotated[Optional[list[str]], typer.Option(
        "--label", metavar="NAME", show_default=False,
        help="A name for each run in the legend, in order (repeatable; default: the file names).")] = None,
    mean: Annotated[bool, typer.Option(
        "--mean",
        help="Draw the runs of one configuration (names that differ only in .seedN, as 'train --seeds' writes them) "
             "as their mean with a band of ± one standard deviation.")] = False,
    smooth: Annotated[Optional[int], typer.Option(
        "--smooth", min=1, max=10_000, metavar="POINTS", show_default=False,
        help="Draw the loss also as a centred mean over this many logged points (default: about 1/20 of the longest "
             "run; 1: raw only).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Plot training runs: loss against images seen, and train/test accuracy per epoch vs random guessing (10% for
    CIFAR-10)."""
    from cifarctl.errors import CifarctlError, UsageError
    from cifarctl.training.metrics import read_metrics

    config, ui = start(ctx)
    logs = [metrics_log_of(path) for path in (runs or [DEFAULT_MODEL_FILE])]
    groups = configurations(logs) if mean else {name: [log] for name, log in zip(run_labels(logs), logs)}
    # readable(): matplotlib cannot draw the lone surrogates of a file name that is not UTF-8
    labels = [readable(text) for text in (label or list(groups))]
    if len(labels) != len(groups):
        what = "configurations" if mean else "runs"
        raise UsageError(f"{len(labels)} --label values for {len(groups)} {what}; give one per {what[:-1]} or none")
    target = output or default_output(logs)
    check_png_outputs(config.data_dir, inputs=tuple(logs) + tuple(runs or ()), output=target)

    from cifarctl.pictures.training_plots import RunCurves, plot_training

    curves, reports = [], []
    for group, name in zip(groups.values(), labels):
        members, all_warnings = [], []
        for log in group:
            records, warnings = read_metrics(log)
            for warning in warnings:
                ui.warning(warning)
            all_warnings += warnings
            run = RunCurves.from_records(name, records)
            if run.is_empty:
                raise CifarctlError(f"metrics log {log} has no loss values yet; training logs one every --log-every "
                                    "mini-batches and at the end of each epoch")
            members.append(run)
        run = RunCurves.mean_of(name, members) if len(members) > 1 else members[0]
        if run.is_empty:
            raise CifarctlError(f"the {len(members)} runs of {name} logged no loss at the same points; "
                                "plot runs of one configuration together")
        for note in run.single_points():  # a one-epoch run: one dot per panel, said rather than left to puzzle
            ui.warning(note)
            all_warnings.append(note)
        curves.append(run)
        reports.append(run_report(group[0] if len(group) == 1 else [str(log) for log in group], run, all_warnings))
    window = plot_training(curves, target, smooth)
    if json_output:
        ui.print_json({"output": str(target), "smoothing_window": window, "runs": reports})
        return
    for report in reports:
        ui.print(report_line(report))
    what = "configuration" if mean else "run"
    ui.info(f"saved the plot of {len(curves)} {what}{'s' if len(curves) > 1 else ''} to {target}")


def metrics_log_of(path: Path) -> Path:
    """A metrics log as given, or the one beside a model file or checkpoint."""
    if path.name.endswith(".jsonl"):
        return path
    from cifarctl.training.run_files import run_files

    return run_files(path.with_suffix(".pth") if path.suffix == ".ckpt" else path).metrics


def configurations(logs: list[Path]) -> dict[str, list[Path]]:
    """The logs grouped by configuration: the runs `train --seeds` wrote, one group per name
    without its `.seedN`, in the order first given."""
    from cifarctl.pictures.training_plots import configuration_of

    groups: dict[str, list[Path]] = {}
    for log, name in zip(logs, run_labels(logs)):
        groups.setdefault(configuration_of(name), []).append(log)
    return groups


def run_labels(logs: list[Path]) -> list[str]:
    """The log names without `.metrics.jsonl`; with their folder where two names are the same."""
    names = [_run_name(log) for log in logs]
    if len(set(names)) < len(names):
        names = [str(log.parent / name) for log, name in zip(logs, names)]
    return names


def default_output(logs: list[Path]) -> Path:
    if len(logs) > 1:
        return Path(COMPARISON_NAME)
    return logs[0].with_name(_run_name(logs[0]) + ".metrics.png")


def _run_name(log: Path) -> str:
    return log.name.removesuffix(METRICS_SUFFIX).removesuffix(".jsonl")


def run_report(log, run: RunCurves, warnings: list[str]) -> dict:
    """`log` is one path, or the list of logs a mean was drawn from."""
    return {"log": log if isinstance(log, list) else str(log), "label": run.label, "runs": run.runs,
            "loss_points": len(run.step_losses), "epochs": len(run.epochs),
            "final_loss": run.final_loss, "last_running_loss": run.last_running_loss,
            "last_loss": run.last_loss,  # kept for scripts written before final_loss and last_running_loss
            "last_test_accuracy": run.last_test_accuracy, "last_val_accuracy": run.last_val_accuracy,
            "dataset": run.dataset, "classes": run.classes, "warnings": warnings}


def report_line(report: dict) -> str:
    """The same loss `train` calls final (the mean over the last epoch) when a whole epoch was
    logged; otherwise the last running loss, named as such."""
    epochs = "1 epoch" if report["epochs"] == 1 else f"{report['epochs']} epochs"
    runs = f" (mean of {report['runs']} runs)" if report["runs"] > 1 else ""
    if report["final_loss"] is not None:
        loss = f"final loss {report['final_loss']:.3f} (mean over the last epoch)"
    else:
        loss = f"last running loss {report['last_running_loss']:.3f} (no whole epoch logged)"
    line = f"{report['label']}{runs}: {epochs} logged, {loss}"
    if report["last_val_accuracy"] is not None:
        line += f", validation accuracy {100 * report['last_val_accuracy']:.1f} %"
    if report["last_test_accuracy"] is not None:
        line += f", test accuracy {100 * report['last_test_accuracy']:.1f} %"
    return line
