"""What made a model file, as `evaluate`, `predict` and `export` show it.

A few `-v` lines on stderr, a warning for a record that cannot be read, and the `made_by`
keys of `--json`."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cifarctl.cli.ui import UI
    from cifarctl.inference.model_files import TrainedModel
    from cifarctl.inference.provenance import MadeBy


def report_made_by(ui: UI, trained: TrainedModel, path: Path) -> None:
    """A damaged record: one warning line. With -v: what made the model, or why that is unknown."""
    made_by = trained.made_by
    if made_by.damaged:
        ui.warning(f"{path}: {made_by.missing}")
    elif ui.verbose:
        for line in made_by_lines(made_by):
            ui.debug(line)


def made_by_lines(made_by: MadeBy) -> list[str]:
    """`made by cifarctl 0.1.0 on 2026-12-03 10:20 UTC (torch 2.5.1, Python 3.11.9)`, what it
    was trained with, and the recipe's fields; or why there is no record."""
    record = made_by.record
    if record is None:
        return [f"made by: unknown, {made_by.missing}"]
    settings, recipe = record["settings"], record["settings"]["recipe"]
    options = ", ".join(f"{name} {value}" for name, value in settings["options"].items())
    run = [f"seed {settings['seed']}", f"{record['steps']:,} steps",
           f"{record['precision']} on {record['device']}"]
    threads = settings.get("threads")
    if threads:
        run[-1] += f" with {threads} thread{'s' if threads != 1 else ''}"
    if record["processes"] > 1:
        run.append(f"{record['processes']} processes")
    if settings.get("time_budget") is not None:
        run.append(f"a time budget of {settings['time_budget']:g} s")
    if settings.get("compile"):
        run.append("torch.compile")
    validation = settings.get("validation")
    if validation is not None and all(isinstance(validation.get(key), int) for key in ("size", "seed")):
        run.append(f"{validation['size']:,} images held out for validation (seed {validation['seed']})")
    run += _fitted(settings)
    fields = ", ".join(f"{name} {_value(value)}" for name, value in recipe.items() if name != "name")
    return [
        f"made by {record['program']} {record['version']} on {_when(record['written'])} "
        f"(torch {record['torch']}, Python {record['python']})",
        f"trained: {settings['model']}" + (f" ({options})" if options else "")
        + f" with the {recipe['name']} recipe on {settings['dataset']}: {', '.join(run)}",
        f"recipe: {fields}",
    ]


def _fitted(settings: dict[str, Any]) -> list[str]:
    """What a run fitted to its data and where it started, as clauses of the `trained:` line."""
    clauses = []
    if isinstance(settings.get("batch_fitted_from"), int):
        clauses.append(f"batch fitted to the data from {settings['batch_fitted_from']}")
    weights = settings.get("class_weights")
    if isinstance(weights, dict) and isinstance(weights.get("weights"), list):
        source = weights.get("file") or weights.get("source")
        clauses.append(f"class weights from {source}")
    if settings.get("sampling") == "balanced":
        clauses.append("every class drawn equally often")
    start = settings.get("init_from")
    if isinstance(start, dict) and isinstance(start.get("path"), str):
        clause = f"started from {start['path']}"
        if isinstance(start.get("md5"), str):
            clause += f" (MD5 {start['md5'][:12]}…)"
        if start.get("head_replaced"):
            clause += ", head replaced"
        if start.get("freeze_backbone"):
            clause += ", backbone frozen"
        clauses.append(clause)
    return clauses


def _when(written: str) -> str:
    """`2026-12-03 10:20 UTC` (the record keeps ISO 8601 to the second)."""
    moment = datetime.fromisoformat(written)
    if moment.tzinfo is None:
        return f"{moment:%Y-%m-%d %H:%M}"
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"


def _value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "none"}[value]
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
