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
        cells += [str(run.seed), f"{100 * run.accuracy:.2f} %", f"{run.final_loss:.3f}",
                  _time(run), str(run.output)]
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
    split = SPLIT_NAMES.get(result.split, result.split)
    summaries = result.summaries()
    if result.option is None:
        return [f"{split} accuracy: {describe(summaries[None])}"]
    return [f"{result.option} {value:g}: {split} accuracy {describe(summary)}" for value, summary in summaries.items()]


def comparison_table(result) -> Table:
    table = Table(title=f"{result.option}: each value against the best (Welch's t-test, "
                        f"a gap exceeds the noise when p < {SIGNIFICANCE:g})", title_justify="left")
    for name in (result.option, "runs", "mean ± std", "95 % interval", "gap to best", "p", "verdict"):
        table.add_column(name, justify="left" if name == "verdict" else "right")
    for row in result.comparison():
        summary = row.summary
        spread = "—" if summary.std is None else f"{100 * summary.std:.2f}"
        interval = "—" if summary.low is None else f"{100 * summary.low:.2f}–{100 * summary.high:.2f} %"
        style = "green" if row.verdict == "best" else "red" if row.verdict.startswith("worse") else "yellow"
        table.add_row(f"{row.value:g}", str(summary.n), f"{100 * summary.mean:.2f} % ± {spread}", interval,
                      f"{100 * row.gap:.2f} points", "—" if row.p_value is None else f"{row.p_value:.3f}",
                      Text(row.verdict, style=style))
    return table
