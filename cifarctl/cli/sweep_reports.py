"""Tables for repeated runs: every run, the mean ± spread, and a grid's comparison against the noise."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from cifarctl.statistics import SIGNIFICANCE, Summary

SPLIT_NAMES = {"val": "validation", "test": "test", "train": "train"}


def runs_table(result) -> Table:
    split = SPLIT_NAMES.get(result.split, result.split)
    table = Table(title=f"{len(result.runs)} runs, measured on the {split} split", title_justify="left")
    if result.option:
        table.add_column(result.option, justify="right")
    table.add_column("seed", justify="right")
    table.add_column(f"{split} accuracy", justify="right")
    table.add_column("final loss", justify="right")
    table.add_column("time", justify="right")
    table.add_column("model file")
    for run in result.runs:
        cells = [f"{run.value:g}"] if result.option else []
        if run.diverged is not None:
            cells += [str(run.seed), Text("diverged", style="red"), "—", "—", Text(f"none ({run.output} not written)")]
        else:
            cells += [str(run.seed), f"{100 * run.accuracy:.2f} %", f"{run.final_loss:.3f}", _time(run),
                      Text(str(run.output))]
        table.add_row(*cells)
    return table


def _time(run) -> str:
    if run.resumed and run.steps == 0:
        return "trained before"
    return f"{run.seconds:.1f} s" + (" (resumed)" if run.resumed else "")


def describe(summary: Summary, what: str = "runs") -> str:
    """"51.20 % ± 1.30 (mean ± std of 5 runs; 95 % t-interval 49.59–52.81 %)"; the interval is
    Student's t for the mean, clipped to 0–100 %."""
    if summary.std is None:
        return f"{100 * summary.mean:.2f} % (one run: no spread; train more seeds)"
    return (f"{100 * summary.mean:.2f} % ± {100 * summary.std:.2f} (mean ± std of {summary.n} {what}; "
            f"95 % t-interval {100 * summary.low:.2f}–{100 * summary.high:.2f} %)")


def summary_lines(result) -> list[str]:
    """A line per grid value (one without a grid); runs that diverged are left out of the mean, and said."""
    split = SPLIT_NAMES.get(result.split, result.split)
    lines = []
    for value, summary in result.summaries().items():
        diverged, runs = result.diverged(value), sum(1 for run in result.runs if run.value == value)
        if result.option is None:
            prefix, accuracy = "", f"{split} accuracy:"
        else:
            prefix, accuracy = f"{result.option} {value:g}: ", f"{split} accuracy"
        if summary is None:
            lines.append(f"{prefix}every run diverged ({diverged} of {runs}): no {split} accuracy")
            continue
        left_out = f"; {diverged} of {runs} runs diverged and are left out" if diverged else ""
        lines.append(f"{prefix}{accuracy} {describe(summary)}{left_out}")
    return lines


def comparison_table(result) -> Table:
    table = Table(title=f"{result.option}: each value against the best (Welch's t-test, "
                        f"a gap exceeds the noise when p < {SIGNIFICANCE:g})", title_justify="left")
    for name in (result.option, "runs", "mean ± std", "95 % interval", "gap to best", "p", "verdict"):
        table.add_column(name, justify="left" if name == "verdict" else "right")
    for row in result.comparison():
        summary = row.summary
        style = "green" if row.best else "red" if row.verdict.startswith(("worse", "diverged")) else "yellow"
        if summary is None:
            table.add_row(f"{row.value:g}", "0", "—", "—", "—", "—", Text(row.verdict, style=style))
            continue
        spread = "—" if summary.std is None else f"{100 * summary.std:.2f}"
        interval = "—" if summary.low is None else f"{100 * summary.low:.2f}–{100 * summary.high:.2f} %"
        table.add_row(f"{row.value:g}", str(summary.n), f"{100 * summary.mean:.2f} % ± {spread}", interval,
                      f"{100 * row.gap:.2f} points", "—" if row.p_value is None else f"{row.p_value:.3f}",
                      Text(row.verdict, style=style))
    return table
