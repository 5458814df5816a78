"""Rich tables for results: training summary, accuracy, per-class accuracy, confusion; with many
classes (CIFAR-100) the best and worst classes, the most confused pairs and the superclasses."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from cifarctl.cli.sparkline import sparkline
from cifarctl.data.catalog import DEFAULT_DATASET, dataset_spec
from cifarctl.errors import CifarctlError

TOP5_FROM_CLASSES = 10  # top-5 accuracy is shown in the table only with more classes than this
MANY_CLASSES = 20  # with more, a terminal gets the best and worst classes and the most confused pairs
CLASSES_AT_EACH_END = 5  # how many best and how many worst classes it gets then


def has_many_classes(result) -> bool:
    """Too many classes for a row each and an N x N matrix on a terminal (CIFAR-100)."""
    return len(result.classes) > MANY_CLASSES


def training_summary(result, unicode: bool = False) -> Table:
    """The run at a glance; `unicode` draws the loss curve in blocks (a terminal) instead of ASCII."""
    table = Table(title="Training summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    settings = result.settings
    if result.resumed_from is not None:
        epoch, step = result.resumed_from
        table.add_row("resumed from", f"epoch {epoch + 1}, mini-batch {step}")
    table.add_row("model", f"{result.model.describe()}, {result.parameters:,} parameters")
    if settings.dataset != DEFAULT_DATASET:  # the tutorial's CIFAR-10 goes without saying
        table.add_row("dataset", f"{dataset_title(settings.dataset)}, {len(settings.classes)} classes")
    if settings.validation is not None:
        held = settings.validation
        table.add_row("validation", f"{held['size']:,} of {held['of']:,} training images held out (--val-seed "
                                    f"{held['seed']})")
    table.add_row("recipe", _recipe_line(settings, result.precision))
    table.add_row("epochs", f"{result.planned_epochs:.4g}")
    if result.processes > 1:
        batch = (f"global batch {settings.batch_size * result.processes} = "
                 f"{settings.batch_size} x {result.processes} processes")
    else:
        batch = f"batch size {settings.batch_size}"
    table.add_row("steps", f"{result.steps:,} ({batch})")
    table.add_row("final loss", f"{result.final_loss:.3f} (mean over the last epoch)")
    if len(result.loss_history) >= 2:
        label = "loss since resume" if result.resumed_from is not None else "loss curve"
        table.add_row(label, _loss_curve(result.loss_history, unicode))
    if result.test_accuracy is not None:
        split = "validation" if result.evaluated_on == "val" else result.evaluated_on
        table.add_row(f"{split} accuracy", f"{100 * result.test_accuracy:.1f} % (at the last --eval-every pass)")
    table.add_row("time", f"{result.seconds:.1f} s")
    table.add_row("images/s", f"{result.images_per_second:,.0f}")
    table.add_row("saved to", f"{result.output} (checkpoint {result.checkpoint})")
    table.add_row("metrics log", str(result.files.metrics))
    return table


def dataset_title(dataset: str) -> str:
    try:
        return dataset_spec(dataset).title
    except CifarctlError:
        return dataset


def _loss_curve(losses, unicode: bool) -> str:
    arrow = "→" if unicode else "->"
    return f"{sparkline(losses, unicode=unicode)}  {losses[0]:.3f} {arrow} {losses[-1]:.3f}"


def _recipe_line(settings, precision: str) -> str:
    recipe = settings.recipe
    parts = [f"{recipe.name}: SGD lr {recipe.lr:g}" + (" (Nesterov)" if recipe.nesterov else "")
             + f" momentum {recipe.momentum:g}"]
    if recipe.weight_decay:
        parts.append(f"weight decay {recipe.weight_decay:g}")
    if recipe.schedule != "constant":
        parts.append(f"{recipe.schedule} schedule")
    if recipe.label_smoothing:
        parts.append(f"label smoothing {recipe.label_smoothing:g}")
    if recipe.augment != "none":
        parts.append(f"{recipe.augment} augmentation")
    if recipe.lookahead:
        parts.append(f"Lookahead every {recipe.lookahead} steps")
    parts.append(precision)
    return ", ".join(parts)


def accuracy_table(result, model_label: str) -> Table:
    split = "validation" if result.split == "val" else result.split
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


def several_models_table(measured) -> Table:
    """One row per model file: accuracy with its Wilson interval, macro F1 and calibration error."""
    table = Table(title=f"{len(measured)} models", title_justify="left")
    for name in ("model file", "model", "split", "accuracy", "95 % interval (Wilson)", "macro F1", "ECE"):
        table.add_column(name, justify="left" if name in ("model file", "model", "split") else "right")
    for path, trained, _, result, _ in measured:
        low, high = result.interval
        table.add_row(str(path), trained.describe(), result.split, f"{100 * result.accuracy:.2f} %",
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
            cells.append(Text(str(count), style="bold green" if row_index == column_index else ("dim" if count == 0 else "")))
        table.add_row(Text(name), *cells)
    return table


def machine_line(machine: dict, unavailable: dict[str, str]) -> str:
    gpus = ", ".join(machine["gpus"]) or f"none, {unavailable.get('cuda', 'not requested')}"
    return (f"CPU: {machine['cpu']} ({machine['cpu_threads']} threads) · GPU: {gpus} · "
            f"torch {machine['torch']} ({machine['torch_build']})")


UNSTABLE_MARK = "!"


def benchmark_table(results, devices, unavailable: dict[str, str], model_title: str = "Net") -> Table:
    table = Table(title=f"Training step time of {model_title} by width (median of repeats)", title_justify="left")
    if any(timing.unstable for timing in results):
        table.caption = f"{UNSTABLE_MARK} unstable measurement: see the warnings below"
        table.caption_justify = "left"
    table.add_column("width", justify="right")
    table.add_column("params", justify="right")
    table.add_column("CPU ms/step", justify="right")
    table.add_column("CPU img/s", justify="right")
    names = [str(device) for device in devices]
    for name in names:
        table.add_column(f"{name} ms/step", justify="right")
        table.add_column(f"{name} img/s", justify="right")
        table.add_column("speed-up", justify="right")
    if not names:
        table.add_column("GPU", justify="center")
    by_key = {(timing.width, timing.device): timing for timing in results}
    for width in dict.fromkeys(timing.width for timing in results):
        cpu = by_key[(width, "cpu")]
        row = [str(width), f"{cpu.params:,}", _ms(cpu), f"{cpu.images_per_second:,.0f}"]
        for name in names:
            timing = by_key[(width, name)]
            speedup = cpu.ms_per_step / timing.ms_per_step
            row += [_ms(timing), f"{timing.images_per_second:,.0f}",
                    Text(f"{speedup:.1f}x", style="green" if speedup > 1 else "red")]
        if not names:
            row.append(Text("n/a", style="dim"))
        table.add_row(*row)
    return table


def _ms(timing) -> Text:
    text = f"{timing.ms_per_step:.3f} ({timing.ms_per_step_min:.3f}-{timing.ms_per_step_max:.3f})"
    if timing.unstable:
        return Text(f"{text} {UNSTABLE_MARK}", style="yellow")
    return Text(text)
