"""What `cifarctl evaluate` prints: accuracy, per class, the confusion matrix, several models side by side.

With many classes (CIFAR-100) a terminal gets the best and worst classes, the most confused
pairs and the superclasses instead of a row per class and the whole matrix.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from cifarctl.cli.sweep_reports import SPLIT_NAMES

TOP5_FROM_CLASSES = 10  # top-5 accuracy is shown in the table only with more classes than this
MANY_CLASSES = 20  # with more, a terminal gets the best and worst classes and the most confused pairs
CLASSES_AT_EACH_END = 5  # how many best and how many worst classes it gets then


def has_many_classes(result) -> bool:
    """Too many classes for a row each and an N x N matrix on a terminal (CIFAR-100)."""
    return len(result.classes) > MANY_CLASSES


def accuracy_table(result, model_label: str) -> Table:
    split = SPLIT_NAMES.get(result.split, result.split)
    table = Table(title=f"Accuracy on the {result.total:,} {split} images", title_justify="left")
    table.add_column("")
    table.add_column("accuracy", justify="right")
    table.add_column("95 % interval (Wilson)", justify="right")
    table.add_column("correct", justify="right")
    show_top5 = len(result.confusion) > TOP5_FROM_CLASSES and result.top5_accuracy is not None
    if show_top5:  # with ten classes, five guesses are half of them: meaningless
        table.add_column("top-5", justify="right")
    show_superclass = result.superclass_accuracy is not None
    if show_superclass:
        table.add_column("superclass", justify="right")
    low, high = result.interval
    row = [model_label, Text(f"{100 * result.accuracy:.1f} %", style="bold green"),
           f"{100 * low:.1f}–{100 * high:.1f} %", f"{result.correct:,}"]
    table.add_row(*row, *([f"{100 * result.top5_accuracy:.1f} %"] if show_top5 else []),
                  *([f"{100 * result.superclass_accuracy:.1f} %"] if show_superclass else []))
    classes = len(result.confusion)
    table.add_row("random guessing", f"{100 / classes:.1f} %", "", f"{result.total // classes:,}",
                  *([f"{100 * min(1.0, 5 / classes):.1f} %"] if show_top5 else []),
                  *([f"{100 * result.superclass_baseline:.1f} %"] if show_superclass else []))
    if show_superclass:
        table.caption = ("superclass: the prediction is in the true class's superclass (a shark taken for a trout "
                         "counts: both are fish)")
        table.caption_justify = "left"
    return table


def per_class_table(result) -> Table:
    """Every class, best first; with many classes only the best and the worst few, the rest
    being in --json."""
    scores = result.scores()
    ranked = sorted(((name, score) for name, score in scores.items() if score["recall"] is not None),
                    key=lambda item: item[1]["recall"], reverse=True)
    unmeasured = [name for name, score in scores.items() if score["recall"] is None]
    explained = ("accuracy is the class's recall, precision the share of its predictions that were right, F1 their "
                 "harmonic mean")
    if has_many_classes(result):
        ends = CLASSES_AT_EACH_END
        title = f"Accuracy per class, the best {ends} and the worst {ends} of {len(ranked)}: {explained}"
    else:
        title = f"Accuracy per class (best first): {explained}"
    table = Table(title=title, title_justify="left")
    table.add_column("class")
    table.add_column("accuracy", justify="right")
    table.add_column("", min_width=20)
    table.add_column("precision", justify="right")
    table.add_column("F1", justify="right")
    captions = []
    shown = list(enumerate(ranked))
    if has_many_classes(result) and len(ranked) > 2 * CLASSES_AT_EACH_END:
        shown = shown[:CLASSES_AT_EACH_END] + [None] + shown[-CLASSES_AT_EACH_END:]
        captions.append(f"all {len(scores)} classes are in --json (per_class, per_class_scores)")
    if unmeasured:
        listed = ", ".join(unmeasured[:5]) + (f", ... ({len(unmeasured):,} in all)" if len(unmeasured) > 5 else "")
        captions.append(f"no {result.split} images of {listed}: not measured, and left out of the macro F1")
    if captions:
        table.caption = Text("; ".join(captions))
        table.caption_justify = "left"
    for entry in shown:
        if entry is None:
            table.add_row(Text(f"… {len(ranked) - 2 * CLASSES_AT_EACH_END} more", style="dim"), "", "", "", "")
            continue
        position, (name, score) = entry
        style = "green" if position < 2 else "red" if position >= len(ranked) - 2 else ""
        bar = "█" * round(score["recall"] * 20)
        table.add_row(Text(f"{name:5s}", style=style), Text(f"{100 * score['recall']:.1f} %", style=style),
                      Text(bar, style=style or "dim"), f"{100 * score['precision']:.1f} %", f"{score['f1']:.3f}")
    return table


def most_confused_table(result) -> Table:
    """The largest off-diagonal cells of the confusion matrix: what a terminal can show of a
    matrix too large for it."""
    pairs = result.most_confused()
    table = Table(title=f"Most confused pairs: the {len(pairs)} largest cells off the diagonal of the "
                        f"{len(result.classes)} x {len(result.classes)} confusion matrix (all in --json)",
                  title_justify="left")
    table.add_column("true class")
    table.add_column("")
    table.add_column("predicted as")
    table.add_column("images", justify="right")
    table.add_column("of the true class", justify="right")
    for pair in pairs:
        table.add_row(Text(pair["true"]), "→", Text(pair["predicted"]), f"{pair['count']:,}",
                      f"{100 * pair['share']:.1f} %")
    if not pairs:
        table.add_row(Text("no image was misclassified", style="dim"), "", "", "", "")
    return table


def superclass_table(result) -> Table:
    """Per superclass (best first): how often its images were put in it, and how often in their exact class."""
    scores = result.per_superclass()
    ranked = sorted(scores.items(), key=lambda item: item[1]["accuracy"], reverse=True)
    table = Table(title="Accuracy per superclass (best first): superclass accuracy counts a prediction of any of its "
                        "classes, fine the exact class", title_justify="left")
    table.add_column("superclass")
    table.add_column("superclass acc.", justify="right")
    table.add_column("", min_width=20)
    table.add_column("fine acc.", justify="right")
    table.add_column("images", justify="right")
    for name, score in ranked:
        table.add_row(name, f"{100 * score['accuracy']:.1f} %", Text("█" * round(score["accuracy"] * 20), style="dim"),
                      f"{100 * score['fine_accuracy']:.1f} %", f"{score['images']:,}")
    return table


def several_models_table(measured, repeats: bool = True) -> Table:
    """One row per model file: accuracy with its Wilson interval, macro F1 and calibration error."""
    title = f"{len(measured)} models" if repeats else f"{len(measured)} separate models"
    table = Table(title=title, title_justify="left")
    for name in ("model file", "model", "split", "accuracy", "95 % interval (Wilson)", "macro F1", "ECE"):
        table.add_column(name, justify="left" if name in ("model file", "model", "split") else "right")
    for one in measured:  # cli.evaluate.Measured
        result = one.result
        low, high = result.interval
        table.add_row(Text(str(one.path)), one.trained.describe(), result.split, f"{100 * result.accuracy:.2f} %",
                      f"{100 * low:.1f}–{100 * high:.1f} %", f"{result.macro_f1():.3f}",
                      f"{100 * result.calibration.expected_calibration_error:.2f} %")
    return table


def confusion_table(result) -> Table:
    table = Table(title="Confusion matrix (rows: true class, columns: predicted)", title_justify="left")
    table.add_column("true \\ pred")
    names = result.classes.names
    for name in names:
        table.add_column(Text(name), justify="right")
    for row_index, name in enumerate(names):
        cells = []
        for column_index in range(len(names)):
            count = int(result.confusion[row_index, column_index])
            style = "bold green" if row_index == column_index else ("dim" if count == 0 else "")
            cells.append(Text(str(count), style=style))
        table.add_row(Text(name), *cells)
    return table
