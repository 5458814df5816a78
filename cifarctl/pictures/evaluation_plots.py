"""Pictures of an evaluation: the confusion matrix as a heat map, and a grid of the worst mistakes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cifarctl.pictures.figures import house_style, new_figure, save_png

MISTAKES_SHOWN = 24
MISTAKES_PER_ROW = 6
PANEL_INCHES = 2.1  # the width of one mistake's panel
CAPTION_FONT = 10
MIN_CAPTION_FONT = 7
CAPTION_MARGIN_POINTS = 6  # kept clear between neighbouring captions
CAPTION_LINE_SPACING = 1.25  # a caption's line height, in font sizes
DARK_CELL = 0.5  # share of the row above which a cell's count is written in white
CELL_NUMBERS_UP_TO = 20  # classes; with more, a cell is too small for its count
CELL_INCHES = 0.13  # the side of a cell with more classes than that: 13 inches for CIFAR-100's 100
SMALL_TICKS = 6.5  # points: class names on a 0.13-inch row
SUPERCLASS_FONT = 8
SEPARATOR_COLOUR = "#555555"


def plot_confusion(confusion: np.ndarray, class_names: Sequence[str], path: Path, title: str,
                   superclasses: Sequence[str] = (), superclass_of: Sequence[int] = ()) -> None:
    save_png(confusion_figure(confusion, class_names, title, superclasses, superclass_of), path)


def confusion_figure(confusion: np.ndarray, class_names: Sequence[str], title: str,
                     superclasses: Sequence[str] = (), superclass_of: Sequence[int] = ()):
    """The colour of a cell is its share of the true class, so rows compare fairly. Up to
    CELL_NUMBERS_UP_TO classes every cell shows its count; past that the figure grows with the
    classes and, given superclasses (CIFAR-100), rows and columns go superclass by superclass
    with lines between them and the superclasses named on the right."""
    counts = np.asarray(confusion, dtype=np.int64)
    names = list(class_names)
    blocks: list[tuple[str, int, int]] = []  # (superclass, first position, last position + 1)
    if superclasses and len(superclass_of) == len(names):
        order = sorted(range(len(names)), key=lambda index: (superclass_of[index], index))
        counts, names = counts[np.ix_(order, order)], [names[index] for index in order]
        for position, index in enumerate(order):
            if not blocks or blocks[-1][0] != superclasses[superclass_of[index]]:
                blocks.append((superclasses[superclass_of[index]], position, position + 1))
            else:
                blocks[-1] = (blocks[-1][0], blocks[-1][1], position + 1)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    many = len(names) > CELL_NUMBERS_UP_TO
    with house_style():
        if many:  # a fixed size per cell, room for the names around it
            side = CELL_INCHES * len(names)
            figure = new_figure(side + 4.5, side + 2.2)
        else:
            figure = new_figure(8, 7)
        axes = figure.subplots()
        axes.grid(False)
        # nearest: at about 13 pixels a cell, smoothing would blur one class's row into the next
        image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1, **({"interpolation": "nearest"} if many else {}))
        if not many:
            font = 9 if counts.max() >= 1000 else 10
            for row in range(counts.shape[0]):
                for column in range(counts.shape[1]):
                    axes.text(column, row, f"{counts[row, column]:,}", ha="center", va="center", fontsize=font,
                              color="white" if shares[row, column] > DARK_CELL else "black")
        ticks = range(len(names))
        tick_font = SMALL_TICKS if many else None
        axes.set_xticks(ticks, names, rotation=45 if not many else 90, ha="right" if not many else "center",
                        rotation_mode="anchor" if not many else "default", fontsize=tick_font)
        axes.set_yticks(ticks, names, fontsize=tick_font)
        if many:
            axes.tick_params(length=2, pad=1)
        axes.set_xlabel("predicted class")
        axes.set_ylabel("true class")
        axes.set_title(title)
        for side_name in ("top", "right"):
            axes.spines[side_name].set_visible(True)
        if blocks:
            _mark_superclasses(axes, blocks)
        figure.colorbar(image, ax=axes, shrink=0.8 if not many else 0.5, pad=0.01 if many else 0.05,
                        label="share of the true class")
        return figure


def _mark_superclasses(axes, blocks: list[tuple[str, int, int]]) -> None:
    """Lines between the superclasses' blocks, and each block's name on the right. Columns go in
    the rows' order, so the lines mark the same blocks across; names along the top would need
    room that constrained layout does not keep for a secondary axis (the title ran into them)."""
    for _, start, _ in blocks[1:]:
        axes.axhline(start - 0.5, color=SEPARATOR_COLOUR, linewidth=0.8)
        axes.axvline(start - 0.5, color=SEPARATOR_COLOUR, linewidth=0.8)
    right = axes.secondary_yaxis("right")
    right.set_yticks([(start + end - 1) / 2 for _, start, end in blocks],
                     [name.replace("_", " ") for name, _, _ in blocks], fontsize=SUPERCLASS_FONT)
    right.tick_params(length=0)
    for spine in right.spines.values():
        spine.set_visible(False)


def most_confident_mistakes(truth: np.ndarray, predicted: np.ndarray, confidence: np.ndarray,
                            count: int = MISTAKES_SHOWN) -> np.ndarray:
    """Indices of wrongly classified images, the most confident first."""
    wrong = np.flatnonzero(np.asarray(truth) != np.asarray(predicted))
    order = np.argsort(-np.asarray(confidence)[wrong], kind="stable")
    return wrong[order[:count]]


def plot_mistakes(images: np.ndarray, captions: Sequence[str], path: Path, title: str,
                  per_row: int = MISTAKES_PER_ROW) -> None:
    """`images` (N, H, W, 3) uint8, each above its caption; an empty set says so in words.
    Captions too wide for their panel (CIFAR-100's "aquarium_fish → sweet_pepper (0.93)") break
    after the arrow, then shrink, then are cut: never into the next panel."""
    with house_style():
        if len(images) == 0:
            figure = new_figure(6, 2)
            figure.text(0.5, 0.5, "no image was misclassified", ha="center", va="center", fontsize=14)
            save_png(figure, path)
            return
        columns = min(per_row, len(images))
        rows = -(-len(images) // columns)
        captions, font, lines = fit_captions(captions, PANEL_INCHES * 72 - CAPTION_MARGIN_POINTS)
        extra = (lines - 1) * font * CAPTION_LINE_SPACING / 72  # inches for the captions' second lines
        figure = new_figure(PANEL_INCHES * columns, (2.35 + extra) * rows + 0.5)
        grid = figure.subplots(rows, columns, squeeze=False)
        for index, axes in enumerate(grid.flat):
            axes.set_axis_off()
            if index < len(images):
                axes.imshow(images[index], interpolation="nearest")
                axes.set_title(captions[index], fontsize=font, pad=4)
        figure.suptitle(title, fontsize=12)
        save_png(figure, path)


def fit_captions(captions: Sequence[str], width_points: float) -> tuple[list[str], float, int]:
    """The captions as drawn, their font size and the most lines any has: unchanged at
    CAPTION_FONT when all fit `width_points`; else broken after " → "; else in the largest
    smaller size down to MIN_CAPTION_FONT at which they fit; else each line cut to fit with "…"."""
    captions = list(captions)
    if all(_text_width(text, CAPTION_FONT) <= width_points for text in captions):
        return captions, CAPTION_FONT, 1
    broken = [text.replace(" → ", " →\n", 1) for text in captions]
    size = CAPTION_FONT
    while size > MIN_CAPTION_FONT and any(_text_width(text, size) > width_points for text in broken):
        size -= 0.5
    fitted = ["\n".join(_cut(line, size, width_points) for line in text.split("\n")) for text in broken]
    return fitted, size, max(text.count("\n") + 1 for text in fitted)


def _text_width(text: str, size: float) -> float:
    """Points: the widest line of `text` in the default font at `size`."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    properties = FontProperties(size=size)
    return max(TextPath((0, 0), line, prop=properties).get_extents().width if line.strip() else 0.0
               for line in text.split("\n"))


KEPT_ENDING = re.compile(r"( →| \([^()]*\))$")  # the arrow, the probability: a cut takes the name's end


def _cut(line: str, size: float, width_points: float) -> str:
    if _text_width(line, size) <= width_points:
        return line
    ending = KEPT_ENDING.search(line)
    kept = ending.group(1) if ending else ""
    name = line[: len(line) - len(kept)]
    while name and _text_width(name + "…" + kept, size) > width_points:
        name = name[:-1]
    return name + "…" + kept


def reliability_figure(reliability, title: str):
    """Above: accuracy per confidence bin as bars against the diagonal of perfect calibration,
    the bin's mean confidence marked and the gap between the two hatched; below: how many images
    each bin holds. Empty bins have no bar."""
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
