"""Pictures of training runs from their metrics logs: the loss curve and accuracy per epoch.

Several runs share one figure, so they can be compared; the loss is drawn against images
seen (not steps), which lines up runs with different batch sizes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from cifarctl.pictures.figures import house_style, new_figure, save_png

LOGGED_WITHOUT_CLASSES = 10  # logs from before the "run" record are CIFAR-10's: random guessing is 10 %
RAW_ALPHA = 0.3


@dataclass(frozen=True)
class RunCurves:
    """What one metrics log has to draw."""

    label: str
    step_images: list[int]
    step_losses: list[float]
    epochs: list[int]
    epoch_images: list[int]
    epoch_losses: list[float | None]
    train_accuracy: list[float | None]
    test_accuracy: list[float | None]
    val_accuracy: list[float | None] = field(default_factory=list)
    runs: int = 1  # more than one: the curves are the mean of this many runs
    spread: dict[str, list[float | None]] = field(default_factory=dict)  # curve name -> std at each point
    classes: int = LOGGED_WITHOUT_CLASSES  # the dataset's, from the log's "run" record
    dataset: str | None = None  # None: the log does not say (CIFAR-10, before logs said)

    @classmethod
    def from_records(cls, label: str, records: list[dict[str, Any]]) -> RunCurves:
        steps = [record for record in records if record.get("kind") == "step" and _is_number(record.get("loss"))]
        epochs = [record for record in records if record.get("kind") == "epoch"]
        header = next((record for record in records if record.get("kind") == "run"), {})
        return cls(
            label=label,
            step_images=[record["images"] for record in steps],
            step_losses=[record["loss"] for record in steps],
            epochs=[record["epoch"] for record in epochs],
            epoch_images=[record["images"] for record in epochs],
            epoch_losses=[_number_or_none(record.get("train_loss")) for record in epochs],
            train_accuracy=[_number_or_none(record.get("train_accuracy")) for record in epochs],
            test_accuracy=[_number_or_none(record.get("test_accuracy")) for record in epochs],
            val_accuracy=[_number_or_none(record.get("val_accuracy")) for record in epochs],
            classes=header.get("classes", LOGGED_WITHOUT_CLASSES),
            dataset=header.get("dataset") if isinstance(header.get("dataset"), str) else None,
        )

    @classmethod
    def mean_of(cls, label: str, runs: list[RunCurves]) -> RunCurves:
        """The mean of several runs of one configuration at the points all of them logged, with
        the sample standard deviation at each point as `spread`."""
        shared_steps = sorted(set.intersection(*(set(run.step_images) for run in runs)))
        shared_epochs = sorted(set.intersection(*(set(run.epochs) for run in runs)))
        curves, spread = {}, {}
        for name, axis, keys in (("step_losses", "step_images", shared_steps),
                                 ("epoch_losses", "epochs", shared_epochs),
                                 ("train_accuracy", "epochs", shared_epochs),
                                 ("test_accuracy", "epochs", shared_epochs),
                                 ("val_accuracy", "epochs", shared_epochs)):
            columns = [dict(zip(getattr(run, axis), getattr(run, name))) for run in runs]
            values = [[column.get(key) for column in columns] for key in keys]
            curves[name] = [_mean(point) for point in values]
            spread[name] = [_std(point) for point in values]
        first = runs[0]
        epoch_images = dict(zip(first.epochs, first.epoch_images))
        return cls(label=label, step_images=shared_steps, step_losses=curves["step_losses"], epochs=shared_epochs,
                   epoch_images=[epoch_images[epoch] for epoch in shared_epochs],
                   epoch_losses=curves["epoch_losses"], train_accuracy=curves["train_accuracy"],
                   test_accuracy=curves["test_accuracy"], val_accuracy=curves["val_accuracy"], runs=len(runs),
                   spread=spread, classes=first.classes, dataset=first.dataset)

    @property
    def has_accuracy(self) -> bool:
        return any(value is not None for value in self.train_accuracy + self.test_accuracy + self.val_accuracy)

    @property
    def is_empty(self) -> bool:
        return self.last_loss is None

    @property
    def last_loss(self) -> float | None:
        """The last running loss logged, or the last epoch mean when no step was logged."""
        return _last(self.step_losses) if self.step_losses else _last(self.epoch_losses)

    @property
    def last_running_loss(self) -> float | None:
        """The last running loss logged (the tutorial's `[2, 12000] loss:` line)."""
        return _last(self.step_losses)

    @property
    def final_loss(self) -> float | None:
        """The mean loss over the last whole epoch: what `train` reports as its final loss."""
        return _last(self.epoch_losses)

    @property
    def last_test_accuracy(self) -> float | None:
        return _last(self.test_accuracy)

    @property
    def last_val_accuracy(self) -> float | None:
        return _last(self.val_accuracy)

    def single_points(self) -> list[str]:
        """What the picture draws as a lone point instead of a curve (a run of one epoch, a
        --log-every longer than the run), said so that a one-dot panel is not taken for a bug."""
        notes = []
        if len(self.step_losses) == 1 or (not self.step_losses
                                          and sum(value is not None for value in self.epoch_losses) == 1):
            what = "one running loss was logged" if self.step_losses else "only its one epoch's mean loss was logged"
            notes.append(f"{self.label}: its loss is one point ({what}); a curve needs a loss line every few "
                         "mini-batches: train with a smaller --log-every")
        measured = [epoch for epoch, *values in zip(self.epochs, self.train_accuracy, self.test_accuracy,
                                                     self.val_accuracy) if any(v is not None for v in values)]
        if len(measured) == 1:
            notes.append(f"{self.label}: its accuracy is one point (accuracy is measured once an epoch, and it "
                         "measured one); train more epochs for a curve")
        return notes


SEED_SUFFIX = re.compile(r"\.seed\d+$")


def configuration_of(run_name: str) -> str:
    """`cifar_net.lr0.3.seed2` -> `cifar_net.lr0.3`: the runs `train --seeds` made of one configuration."""
    return SEED_SUFFIX.sub("", run_name)


def smoothing_window(runs: list[RunCurves]) -> int:
    """About a twentieth of the longest run's loss points (odd, so the mean is centred); 1 is none."""
    longest = max((len(run.step_losses) for run in runs), default=0)
    return max(1, longest // 20) | 1


def smooth(values: list[float], window: int) -> list[float]:
    """A centred moving mean over `window` points, fewer at the ends: it does not lag behind the
    raw curve the way an exponential average does on a short, steeply falling log."""
    half = window // 2
    totals = [0.0]
    for value in values:
        totals.append(totals[-1] + value)
    smoothed = []
    for index in range(len(values)):
        start, end = max(0, index - half), min(len(values), index + half + 1)
        smoothed.append((totals[end] - totals[start]) / (end - start))
    return smoothed


def plot_training(runs: list[RunCurves], path: Path, window: int | None = None) -> int:
    """One PNG: the loss of every run, and beside it accuracy per epoch where any run measured it.
    Returns the smoothing window used (`window` None: chosen from the runs' length)."""
    window = smoothing_window(runs) if window is None else max(1, window)
    with house_style():
        with_accuracy = any(run.has_accuracy for run in runs)
        figure = new_figure(12 if with_accuracy else 7.5, 4.6)
        axes = figure.subplots(1, 2 if with_accuracy else 1, squeeze=False)[0]
        colours = [f"C{index % 10}" for index in range(len(runs))]
        _draw_loss(axes[0], runs, colours, window)
        if with_accuracy:
            _draw_accuracy(axes[1], runs, colours)
        save_png(figure, path)
    return window


def _draw_loss(axes, runs: list[RunCurves], colours: list[str], window: int) -> None:
    for run, colour in zip(runs, colours):
        if run.step_losses:
            if window > 1:
                axes.plot(run.step_images, run.step_losses, color=colour, alpha=RAW_ALPHA, linewidth=1)
            axes.plot(run.step_images, smooth(run.step_losses, window), color=colour, linewidth=2,
                      label=_band_label(run), marker="o" if len(run.step_losses) == 1 else None)  # one point: a marker
            spread = run.spread.get("step_losses")
            _draw_band(axes, run.step_images, smooth(run.step_losses, window),
                       smooth(spread, window) if spread else None, colour, 1)
        else:  # logged less often than once an epoch: the epoch means are all there is
            points = [(x, y) for x, y in zip(run.epoch_images, run.epoch_losses) if y is not None]
            axes.plot(*zip(*points), color=colour, linewidth=2, marker="o", label=f"{_band_label(run)} (epoch mean)")
    axes.set_title("Training loss")
    axes.set_xlabel("images seen")
    axes.set_ylabel("running loss (cross-entropy)")
    axes.xaxis.set_major_formatter(FuncFormatter(_short_count))
    handles, labels = axes.get_legend_handles_labels()
    if window > 1 and any(run.step_losses for run in runs):
        handles += [Line2D([], [], color="grey", linewidth=2), Line2D([], [], color="grey", alpha=RAW_ALPHA)]
        labels += [f"smoothed (mean of {window} points)", "raw"]
    axes.legend(handles, labels, loc="upper right")


def _draw_accuracy(axes, runs: list[RunCurves], colours: list[str]) -> None:
    epochs_seen = set()
    for run, colour in zip(runs, colours):
        for name, kind, style, marker in (("test_accuracy", "test", "-", "o"),
                                          ("val_accuracy", "validation", "-.", "D"),
                                          ("train_accuracy", "train", "--", "s")):
            values = getattr(run, name)
            points = [(epoch, 100 * value) for epoch, value in zip(run.epochs, values) if value is not None]
            if points:
                epochs_seen.update(epoch for epoch, _ in points)
                axes.plot(*zip(*points), color=colour, linestyle=style, marker=marker, linewidth=2,
                          label=f"{_band_label(run)} {kind}" if len(runs) > 1 or run.runs > 1 else kind)
                _draw_band(axes, run.epochs, values, run.spread.get(name), colour, 100)
    for classes in sorted({run.classes for run in runs}):  # one line per class count drawn
        axes.axhline(100 / classes, color="grey", linestyle=":", linewidth=1.5,
                     label=f"random guessing ({random_guessing(classes)})")
    axes.set_title("Accuracy per epoch")
    axes.set_xlabel("epoch")
    axes.set_ylabel("accuracy")
    axes.set_ylim(0, 100)
    axes.yaxis.set_major_formatter(PercentFormatter(decimals=0, symbol=" %"))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(epochs_seen) == 1:
        only = next(iter(epochs_seen))
        axes.set_xlim(only - 1, only + 1)
    axes.legend(loc="best")


def random_guessing(classes: int) -> str:
    """The accuracy of a uniform guess among `classes`, as a label: "10 %", "1 %", "33 %"."""
    return f"{100 / classes:.2g} %"


def _band_label(run: RunCurves) -> str:
    return f"{run.label} (mean of {run.runs} runs ± 1 std)" if run.runs > 1 else run.label


def _draw_band(axes, xs: list, means: list, spread: list | None, colour: str, scale: float) -> None:
    """Shade mean ± one standard deviation where both are known."""
    if not spread:
        return
    points = [(x, mean, std) for x, mean, std in zip(xs, means, spread) if mean is not None and std is not None]
    if points:
        x, mean, std = zip(*points)
        axes.fill_between(x, [scale * (m - s) for m, s in zip(mean, std)], [scale * (m + s) for m, s in zip(mean, std)],
                          color=colour, alpha=0.2, linewidth=0)


def _mean(values: list) -> float | None:
    return None if any(value is None for value in values) else math.fsum(values) / len(values)


def _std(values: list) -> float | None:
    if len(values) < 2 or any(value is None for value in values):
        return None
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((value - mean) ** 2 for value in values) / (len(values) - 1))


def _short_count(value: float, _position: int) -> str:
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_or_none(value: Any) -> float | None:
    return value if _is_number(value) else None


def _last(values: list[float | None]) -> float | None:
    return next((value for value in reversed(values) if value is not None), None)
