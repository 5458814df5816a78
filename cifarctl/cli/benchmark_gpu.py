"""`cifarctl benchmark-gpu`: CPU vs GPU step time of a model (the tutorial's Net by default) across widths."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cifarctl.cli.options import JsonOption
from cifarctl.cli.startup import start
from cifarctl.models import registry

MAX_WIDTH = 4096


def parse_widths(text: str) -> tuple[int, ...]:
    """"6,32,128" -> (6, 32, 128); anything else is a usage error naming the bad part."""
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise typer.BadParameter("give at least one width, e.g. --widths 6,32,128")
    widths = []
    for part in parts:
        if not part:
            raise typer.BadParameter(f"{text!r} has an empty entry; use e.g. 6,32,128")
        try:
            width = int(part)
        except ValueError:
            raise typer.BadParameter(f"{part!r} is not a whole number") from None
        if not 1 <= width <= MAX_WIDTH:
            raise typer.BadParameter(f"width {width} is outside 1..{MAX_WIDTH}")
        widths.append(width)
    return tuple(dict.fromkeys(widths))


def _widths_value(value: Optional[str]) -> Optional[str]:
    if value is not None:
        parse_widths(value)
    return value


WIDTH_FAMILIES = tuple(family.name for family in registry.FAMILIES.values() if family.option("width"))
TUTORIAL_WIDTHS = "6,32,128"  # the tutorial's Net, then wider as its GPU section suggests


def default_widths(model: str) -> str:
    if model == "net":
        return TUTORIAL_WIDTHS
    default = registry.get(model).option("width").default
    return f"{default // 2},{default},{default * 2}"


def _default_widths_help() -> str:
    return ", ".join(f"{name} {default_widths(name)}" for name in WIDTH_FAMILIES)


def _model_value(value: str) -> str:
    if value not in WIDTH_FAMILIES:
        raise typer.BadParameter(f"{value!r} is not a model with a width; choose one of: {', '.join(WIDTH_FAMILIES)}")
    return value


def benchmark_gpu(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(
        "--model", metavar="|".join(WIDTH_FAMILIES), callback=_model_value,
        help="Which model to time across widths (net: the tutorial's; fast: cifarctl's fast recipe, in the precision "
             "it trains in).")] = "net",
    widths: Annotated[Optional[str], typer.Option(
        "--widths", metavar="W,W,...", callback=_widths_value, show_default=False,
        help=f"Comma-separated widths (default: {_default_widths_help()}).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        "--batch-size", metavar="N", min=1, max=8192, show_default=False,
        help="Images per step (default: net 4, the tutorial's; other models 128).")] = None,
    steps: Annotated[Optional[int], typer.Option(
        "--steps", metavar="N", min=1, max=1_000_000, show_default=False,
        help="Steps per repeat (default: calibrated to ~0.2 s).")] = None,
    repeats: Annotated[int, typer.Option(
        "--repeats", metavar="N", min=1, max=1000, help="Timed repeats; the median is reported.")] = 5,
    warmup: Annotated[int, typer.Option(
        "--warmup", metavar="N", min=0, max=100_000, help="Untimed steps before timing.")] = 10,
    json_output: JsonOption = False,
) -> None:
    """Time training steps of a model (the tutorial's Net by default) at several widths on the CPU and every GPU."""
    from cifarctl.benchmark import (
        BenchSettings,
        accelerators,
        benchmark_warnings,
        host_to_device_ms,
        machine_info,
        reading,
        run_benchmark,
    )
    from cifarctl.cli.benchmark_reports import benchmark_table, machine_line
    from cifarctl.data.store import dataset_classes

    config, ui = start(ctx)
    classes = dataset_classes(config.place())  # the head's outputs; an imported dataset's are read from its files
    devices, unavailable = accelerators(config.device)
    ui.debug(f"timing on cpu{''.join(f', {d}' for d in devices)}; CPU steps of batch size {batch_size} "
             "use the thread settings train uses")
    batch_size = batch_size or (4 if model == "net" else 128)
    settings = BenchSettings(widths=parse_widths(widths or default_widths(model)), batch_size=batch_size, steps=steps,
                             warmup=warmup, repeats=repeats, model=model, classes=len(classes))
    results = run_benchmark(settings, devices, ui.events())
    copies = {str(d): host_to_device_ms(d, batch_size) for d in devices}
    machine = machine_info(devices)
    summary = reading(results, batch_size)
    warnings = benchmark_warnings(results)
    if json_output:
        ui.print_json({
            "cuda_available": "cuda" not in unavailable,
            "devices": ["cpu", *(str(d) for d in devices)],
            "unavailable": unavailable,
            "model": model,
            "dataset": config.dataset,
            "classes": len(classes),
            "batch_size": batch_size,
            "results": [timing.as_json() for timing in results],
            "host_to_device_ms": copies,
            "reading": summary,
            "warnings": warnings,
            "machine": machine,
        })
        for warning in warnings:
            ui.warning(warning)
        return
    ui.print(machine_line(machine, unavailable))
    ui.print(benchmark_table(results, devices, unavailable, registry.get(model).title))
    for name, milliseconds in copies.items():
        if milliseconds is not None:
            ui.print(f"Copying one batch of {batch_size} images to {name} costs {milliseconds:.3f} ms, "
                     "paid every step when data starts on the host as in the tutorial.")
    ui.print(summary)
    for warning in warnings:
        ui.warning(warning)
