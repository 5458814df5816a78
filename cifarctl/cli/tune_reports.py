"""What `cifarctl tune` prints at the end: the trials, the best settings and their re-runs, the importances."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from cifarctl.cli.sweep_reports import describe
from cifarctl.cli.tune_progress import clock, state_text, value_text

BAR_WIDTH = 30


def trials_table(result) -> Table:
    names = [dimension.name for dimension in result.space if not dimension.fixed]
    counts = result.counts()
    shown = ", ".join(f"{count} {state}" for state, count in counts.items() if count)
    table = Table(title=Text(f"Study {result.study}: {len(result.trials)} trials ({shown or 'none'})"),
                  title_justify="left")
    table.add_column("trial", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for name in ("val accuracy", "epochs", "time"):
        table.add_column(name, justify="right")
    table.add_column("state")
    best = result.best
    for trial in result.trials:
        cells = [str(trial.number),
                 *(value_text(trial.params[name]) if name in trial.params else "—" for name in names),
                 "—" if trial.value is None else f"{100 * trial.value:.2f} %", str(trial.epochs),
                 clock(trial.seconds), Text(state_text(trial))]
        table.add_row(*cells, style="bold green" if best is not None and trial.number == best.number else None)
    return table


def best_table(result) -> Table:
    """The best trial's settings beside the recipe's."""
    best = result.best
    table = Table(title=f"Best: trial {best.number}, validation accuracy {100 * best.value:.2f} % in its trial",
                  title_justify="left")
    for name in ("setting", "best", f"{result.model} recipe"):
        table.add_column(name, justify="left" if name == "setting" else "right")
    for name, value in result.best_settings.items():
        default = result.defaults_of_recipe.get(name)
        table.add_row(name, value_text(value), "—" if default is None else value_text(default))
    return table


def confirmation_lines(result) -> list[str]:
    lines = []
    if result.confirmed is not None:
        seeds = ", ".join(str(run.seed) for run in result.confirmed.runs)
        lines.append(f"best settings, seeds {seeds}: validation accuracy {describe(result.confirmed.summary)}")
    if result.defaults is not None:
        lines.append(f"{result.model} recipe's defaults, same seeds: validation accuracy "
                     f"{describe(result.defaults.summary)}")
    comparison = result.comparison()
    if comparison is not None:
        p_value = "—" if comparison.p_value is None else f"{comparison.p_value:.3f}"
        lines.append(f"best - defaults: {100 * comparison.gap:+.2f} points (Welch's t-test p = {p_value}): "
                     f"{comparison.verdict}")
    return lines


def importance_table(importances: dict[str, float]) -> Table:
    table = Table(title="Parameter importances (Optuna's PED-ANOVA over the complete trials)", title_justify="left")
    table.add_column("setting")
    table.add_column("importance", justify="right")
    table.add_column("")
    for name, share in sorted(importances.items(), key=lambda item: -item[1]):
        table.add_row(name, f"{share:.2f}", Text("#" * max(1 if share > 0 else 0, round(BAR_WIDTH * share)),
                                                  style="cyan"))
    return table
