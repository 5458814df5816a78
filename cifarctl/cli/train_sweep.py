"""`cifarctl train --seeds/--repeats/--lr A,B`: the same settings over several seeds (and grid values)."""

from __future__ import annotations

from typing import Optional

from cifarctl.cli.ui import UI


def train_sweep(ui: UI, config, settings, planned, option: Optional[str], *, resume: bool, restart: bool,
                no_download: bool, allow_other_data: bool, val_split: Optional[str], val_seed: int,
                json_output: bool) -> None:
    from cifarctl.cli.sweep_reports import comparison_table, runs_table, summary_lines
    from cifarctl.cli.train import held_out
    from cifarctl.data.acquire import ensure_dataset
    from cifarctl.data.memory import load_split
    from cifarctl.devices import resolve_device
    from cifarctl.errors import UsageError
    from cifarctl.interrupts import StopRequest
    from cifarctl.training.distributed import cluster_from_environment
    from cifarctl.training.sweep import run_sweep

    if cluster_from_environment() is not None:
        raise UsageError("--seeds, --repeats and several --lr values run one process; start them without torchrun")
    device = resolve_device(config.device)
    events = ui.events()
    place = config.place()
    ensure_dataset(place, allow_download=not no_download, events=events)
    data, validation, settings = held_out(load_split(place, "train"), settings, val_split, val_seed,
                                          [run.files for run in planned] if resume else [])
    evaluation = validation if validation is not None else load_split(place, "test")
    if validation is None:
        ui.warning("no validation split: every run is measured on the test split, so do not choose settings by "
                   "these numbers; hold one out with --val-split")

    def announce(index: int, run) -> None:
        grid = f"{option} {run.value:g}, " if option is not None else ""
        ui.info(f"run {index + 1}/{len(planned)}: {grid}seed {run.seed} -> {run.files.output}")

    with StopRequest() as stop:
        result = run_sweep(settings, planned, option, data, evaluation, device, resume,
                           events=events, should_stop=stop, allow_other_data=allow_other_data, restart=restart,
                           announce=announce)
    if json_output:
        ui.print_json(result.as_json())
        return
    ui.print(runs_table(result))
    for line in summary_lines(result):
        ui.print(line)
    if result.option is not None:
        ui.print(comparison_table(result))

