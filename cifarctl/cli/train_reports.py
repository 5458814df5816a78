"""What `cifarctl train` prints at the end: the training summary table."""

from __future__ import annotations

from rich.table import Table

from cifarctl.cli.sparkline import sparkline
from cifarctl.cli.sweep_reports import SPLIT_NAMES
from cifarctl.data.catalog import DEFAULT_DATASET, dataset_spec
from cifarctl.errors import CifarctlError


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
    if settings.init_from is not None:
        start = settings.init_from
        table.add_row("started from", f"{start['path']}" + (", head replaced" if start["head_replaced"] else "")
                      + (", backbone frozen" if start["freeze_backbone"] else ""))
    table.add_row("recipe", _recipe_line(settings, result.precision))
    table.add_row("epochs", f"{result.planned_epochs:.4g}")
    if result.processes > 1:
        batch = (f"global batch {settings.batch_size * result.processes} = "
                 f"{settings.batch_size} x {result.processes} processes")
    else:
        batch = f"batch size {settings.batch_size}"
    if settings.batch_fitted_from is not None:
        batch += f", fitted to the data from the recipe's {settings.batch_fitted_from}"
    table.add_row("steps", f"{result.steps:,} ({batch})")
    table.add_row("final loss", f"{result.final_loss:.3f} (mean over the last epoch)")
    if len(result.loss_history) >= 2:
        label = "loss since resume" if result.resumed_from is not None else "loss curve"
        table.add_row(label, _loss_curve(result.loss_history, unicode))
    if result.test_accuracy is not None:
        split = SPLIT_NAMES.get(result.evaluated_on, result.evaluated_on)
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


CLASSES_LISTED = 10  # above this many classes the line names the worst five (all are in --json)


def class_scores_line(scores) -> str:
    """The end-of-training line on imbalanced data: macro-F1 and each class's recall, worst named."""
    split = SPLIT_NAMES.get(scores.split, scores.split)
    measured = [(name, value) for name, value in scores.recall.items() if value is not None]
    listed = measured if len(measured) <= CLASSES_LISTED else sorted(measured, key=lambda item: item[1])[:5]
    recalls = ", ".join(f"{name} {100 * value:.0f} %" for name, value in listed)
    worst = scores.worst()
    line = (f"Per class on the {scores.images:,} {split} images (imbalanced training data): macro-F1 "
            f"{scores.macro_f1:.3f}, recall " + ("" if len(listed) == len(measured) else "of the worst five ")
            + recalls)
    if worst is not None:
        line += f"; worst {worst[0]} {100 * worst[1]:.0f} %"
    if len(listed) < len(measured):
        line += f" (all {len(measured)} classes in --json)"
    return line
