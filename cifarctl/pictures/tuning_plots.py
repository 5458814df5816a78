"""The picture of a study: each trial's validation accuracy with the best so far, and the curves the pruner read.

Left, Optuna's optimisation history: one point per trial (finished ones filled, pruned ones
hollow at the last accuracy they reported), the best so far as a step line, and the re-runs
on fresh seeds as a band (the best settings', and the recipe's defaults' when measured).
Right, every trial's validation accuracy at each epoch's end, placed at the share of its run
done (what the pruner compares trials at), the pruned ones grey, the best one bold: where the
pruner stopped which trial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.ticker import MaxNLocator, PercentFormatter

from cifarctl.pictures.figures import house_style, new_figure, save_png

BEST, DEFAULTS, PRUNED, FINISHED = "#d62728", "#7f7f7f", "#b0b0b0", "#1f77b4"


@dataclass(frozen=True)
class TrialPoint:
    number: int
    state: str  # complete, pruned (others are not drawn)
    value: float
    curve: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class Band:
    """A re-run's mean and 95 % interval, labelled."""

    label: str
    mean: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class StudyPicture:
    title: str
    points: tuple[TrialPoint, ...]
    best: int | None  # the best trial's number
    bands: tuple[Band, ...] = field(default_factory=tuple)
    chance: float | None = None  # guessing's accuracy, for the reader's scale


def save_study_picture(picture: StudyPicture, path: Path) -> None:
    with house_style():
        figure = new_figure(11.5, 5.0)
        history, curves = figure.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1.15, 1]})
        _history(history, picture)
        _curves(curves, picture)
        figure.suptitle(picture.title)
        save_png(figure, path)


def _history(axes, picture: StudyPicture) -> None:
    finished = [point for point in picture.points if point.state == "complete"]
    pruned = [point for point in picture.points if point.state == "pruned"]
    axes.scatter([point.number for point in finished], [point.value for point in finished], s=26, color=FINISHED,
                 label="finished trial", zorder=3)
    if pruned:
        axes.scatter([point.number for point in pruned], [point.value for point in pruned], s=26,
                     facecolors="none", edgecolors=PRUNED, label="pruned (last epoch measured)", zorder=3)
    numbers, best_so_far, best = [], [], None
    for point in sorted(finished, key=lambda point: point.number):
        best = point.value if best is None else max(best, point.value)
        numbers.append(point.number)
        best_so_far.append(best)
    if numbers:
        last = max(point.number for point in picture.points)
        axes.step(numbers + [last], best_so_far + best_so_far[-1:], where="post", color=BEST, label="best so far")
    for band, color in zip(picture.bands, (BEST, DEFAULTS)):
        axes.axhline(band.mean, color=color, linestyle="--", linewidth=1, label=band.label)
        if band.low is not None:
            axes.axhspan(band.low, band.high, color=color, alpha=0.12)
    if picture.chance is not None:
        axes.axhline(picture.chance, color="black", linewidth=0.8, linestyle=":", label="guessing")
    axes.set_xlabel("trial")
    axes.set_ylabel("validation accuracy")
    axes.set_title("optimisation history")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize=8, frameon=False)  # no point hidden


def _curves(axes, picture: StudyPicture) -> None:
    drawn = False
    for point in sorted(picture.points, key=lambda point: point.number == picture.best):
        if not point.curve:
            continue
        shares, values = zip(*point.curve)
        if point.number == picture.best:
            axes.plot(shares, values, color=BEST, linewidth=2.2, marker="o", markersize=3,
                      label=f"trial {point.number} (best)", zorder=4)
        elif point.state == "pruned":
            axes.plot(shares, values, color=PRUNED, linewidth=1, marker="x", markersize=4, markevery=[-1])
        else:
            axes.plot(shares, values, color=FINISHED, linewidth=1, alpha=0.55, marker=".", markersize=4)
        drawn = True
    if not drawn:
        axes.text(0.5, 0.5, "no epoch measured yet", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("share of the run done, at each epoch's end")
    axes.set_title("each trial as its run went (grey: pruned)")
    axes.set_xlim(0, 102)
    axes.xaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    if picture.best is not None and drawn:
        axes.legend(loc="lower right", fontsize=8)
