"""Pictures of an evaluation: the confusion matrix as a heat map, and a grid of the worst mistakes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cifarctl.pictures.figures import house_style, new_figure, save_png

MISTAKES_SHOWN = 24
MISTAKES_PER_ROW = 6
DARK_CELL = 0.5  # share of the row above which a cell's count is written in white


def plot_confusion(confusion: np.ndarray, class_names: Sequence[str], path: Path, title: str) -> None:
    """Counts in every cell; the colour is the share of the true class, so rows compare fairly."""
    counts = np.asarray(confusion, dtype=np.int64)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    with house_style():
        figure = new_figure(8, 7)
        axes = figure.subplots()
        axes.grid(False)
        image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        font = 9 if counts.max() >= 1000 else 10
        for row in range(counts.shape[0]):
            for column in range(counts.shape[1]):
                axes.text(column, row, f"{counts[row, column]:,}", ha="center", va="center", fontsize=font,
                          color="white" if shares[row, column] > DARK_CELL else "black")
        ticks = range(len(class_names))
        axes.set_xticks(ticks, class_names, rotation=45, ha="right", rotation_mode="anchor")
        axes.set_yticks(ticks, class_names)
        axes.set_xlabel("predicted class")
        axes.set_ylabel("true class")
        axes.set_title(title)
        for side in ("top", "right"):
            axes.spines[side].set_visible(True)
        figure.colorbar(image, ax=axes, shrink=0.8, label="share of the true class")
        save_png(figure, path)


def most_confident_mistakes(truth: np.ndarray, predicted: np.ndarray, confidence: np.ndarray,
                            count: int = MISTAKES_SHOWN) -> np.ndarray:
    """Indices of wrongly classified images, the most confident first."""
    wrong = np.flatnonzero(np.asarray(truth) != np.asarray(predicted))
    order = np.argsort(-np.asarray(confidence)[wrong], kind="stable")
    return wrong[order[:count]]


def plot_mistakes(images: np.ndarray, captions: Sequence[str], path: Path, title: str,
                  per_row: int = MISTAKES_PER_ROW) -> None:
    """`images` (N, H, W, 3) uint8, each above its caption; an empty set says so in words."""
    with house_style():
        if len(images) == 0:
            figure = new_figure(6, 2)
            figure.text(0.5, 0.5, "no image was misclassified", ha="center", va="center", fontsize=14)
            save_png(figure, path)
            return
        columns = min(per_row, len(images))
        rows = -(-len(images) // columns)
        figure = new_figure(2.1 * columns, 2.35 * rows + 0.5)
        grid = figure.subplots(rows, columns, squeeze=False)
        for index, axes in enumerate(grid.flat):
            axes.set_axis_off()
            if index < len(images):
                axes.imshow(images[index], interpolation="nearest")
                axes.set_title(captions[index], fontsize=10, pad=4)
        figure.suptitle(title, fontsize=12)
        save_png(figure, path)


def reliability_figure(reliability, title: str):
    """Above: accuracy per confidence bin as bars against the diagonal of perfect calibration,
    the bin's mean confidence marked and the gap between the two hatched; below: how many images each bin holds. Empty bins have no bar."""
    edges = np.asarray(reliability.edges)
    width = np.diff(edges)
    left = edges[:-1]
    filled = [index for index, count in enumerate(reliability.counts) if count]
    with house_style():
        figure = new_figure(6.5, 7)
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        accuracy = [reliability.accuracy[index] for index in filled]
        confidence = [reliability.confidence[index] for index in filled]
        top.bar(left[filled], accuracy, width=width[filled], align="edge", color="C0", edgecolor="white",
                label="accuracy in the bin", gid="accuracy")
        top.bar(left[filled], np.abs(np.subtract(confidence, accuracy)), bottom=np.minimum(confidence, accuracy),
                width=width[filled], align="edge", fill=False, edgecolor="C3", hatch="//", linewidth=1,
                label="gap to the mean confidence", gid="gap")
        top.plot(left[filled] + width[filled] / 2, confidence, linestyle="none", marker="_", markersize=14,
                 markeredgewidth=2.5, color="black", label="mean confidence in the bin")
        top.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1.5, label="perfectly calibrated")
        top.set_xlim(0, 1)
        top.set_ylim(0, 1.28)  # headroom above 100 % for the legend, so it never hides a bar
        top.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        top.set_ylabel("accuracy")
        top.set_title(title)
        top.legend(loc="upper center", ncols=2, fontsize=9)
        bottom.bar(left, reliability.counts, width=width, align="edge", color="grey", edgecolor="white", gid="counts")
        bottom.set_xlabel(f"confidence (top probability), {len(reliability.counts)} equal-width bins")
        bottom.set_ylabel("images")
        return figure


def plot_reliability(reliability, path: Path, title: str) -> None:
    save_png(reliability_figure(reliability, title), path)
