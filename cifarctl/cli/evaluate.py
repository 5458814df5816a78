"""`cifarctl evaluate`: accuracy against the 10% baseline, per class, the confusion matrix, and pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cifarctl.cli.options import (
    DEFAULT_MODEL_FILE,
    InferenceBatchSizeOption,
    JsonOption,
    ModelFileOption,
    NoDownloadOption,
    SplitName,
    TtaOption,
    check_png_outputs,
    png_output_option,
)
from cifarctl.cli.startup import start
from cifarctl.cli.ui import UI, readable

SHOW_DEFAULT = 4  # the tutorial shows its first test batch of four


def evaluate(
    ctx: typer.Context,
    model: ModelFileOption = DEFAULT_MODEL_FILE,
    split: Annotated[SplitName, typer.Option("--split", metavar="train|test", help="Which images to measure on.")] = SplitName.test,
    batch_size: InferenceBatchSizeOption = 1000,
    tta: TtaOption = None,
    show: Annotated[int, typer.Option("--show", metavar="N", min=0, max=64, help="Draw this many test images in the terminal with their true and predicted labels (0: none).")] = SHOW_DEFAULT,
    no_show: Annotated[bool, typer.Option("--no-show", help="Draw no images (none are drawn when stdout is not a terminal either).")] = False,
    save_confusion: png_output_option("--save-confusion", help="Also write the confusion matrix as a labelled heat map PNG.") = None,
    save_mistakes: png_output_option("--save-mistakes", help="Also write the most confidently misclassified images as a PNG grid.") = None,
    json_output: JsonOption = False,
    no_download: NoDownloadOption = False,
) -> None:
    """Measure a trained model: accuracy vs random guessing, per class, confusion matrix; pictures of them."""
    from cifarctl.cli.reports import accuracy_table, confusion_table, per_class_table
    from cifarctl.data.acquire import ensure_dataset
    from cifarctl.data.catalog import SHORT_NAMES
    from cifarctl.data.memory import load_split
    from cifarctl.devices import resolve_device
    from cifarctl.inference.evaluation import evaluate as run_evaluation
    from cifarctl.inference.model_files import load_trained_model
    from cifarctl.models import count_parameters

    config, ui = start(ctx)
    check_png_outputs(config.data_dir, inputs=(model,), save_confusion=save_confusion, save_mistakes=save_mistakes)
    torch_device = resolve_device(config.device)
    trained = load_trained_model(model, torch_device)
    use_tta = trained.tta if tta is None else tta
    ui.debug(f"model: {trained.describe()} from {model}, {trained.precision}, test-time augmentation {use_tta}")
    ensure_dataset(config.data_dir, allow_download=not no_download, events=ui.events())
    data = load_split(config.data_dir, split.value)
    result = run_evaluation(trained.network, data, torch_device, batch_size, trained.mean, trained.std, use_tta,
                            trained.precision)
    # readable(): matplotlib cannot draw the lone surrogates of a file name that is not UTF-8
    pictures = save_pictures(result, data, save_confusion, save_mistakes, readable(f"{trained.describe()} ({model})"))
    if json_output:
        document = result.as_json()
        document["model"] = {"path": str(model), "name": trained.info.name, **trained.info.options,
                             "parameters": count_parameters(trained.network)}
        if pictures:
            document["pictures"] = {name: str(path) for name, path in pictures.items()}
        ui.print_json(document)
        return
    if show and not no_show and ui.out.is_terminal:
        draw_sample(ui, result, data, show)
    ui.print("GroundTruth: ", " ".join(f"{SHORT_NAMES[label]:5s}" for label in result.sample_truth))
    ui.print("Predicted:   ", " ".join(f"{SHORT_NAMES[label]:5s}" for label in result.sample_predicted))
    ui.print(f"Accuracy of the network on the {result.total:,} {split.value} images: {100 * result.accuracy:.1f} %"
             f" (random guessing: {100 / len(SHORT_NAMES):.0f} %)" + (" with test-time augmentation" if use_tta else ""))
    ui.print(accuracy_table(result, f"{trained.describe()} ({model})"))
    ui.print(per_class_table(result))
    ui.print(confusion_table(result))
    for name, path in pictures.items():
        ui.info(f"saved the {name} picture to {path}")


def draw_sample(ui: UI, result, data, count: int) -> None:
    """The first test images, as the tutorial shows its first batch, with both labels under each."""
    from cifarctl.cli.pictures import picture_lines
    from cifarctl.data.catalog import SHORT_NAMES
    from cifarctl.pictures.grids import as_hwc

    truth, predicted = data.labels[:count].tolist(), result.predicted[:count].tolist()
    captions = [f"true {SHORT_NAMES[t]}, predicted {SHORT_NAMES[p]}" for t, p in zip(truth, predicted)]
    for line in picture_lines(ui.out, as_hwc(data.images[:count]), captions):
        ui.print(line)


def save_pictures(result, data, confusion_path: Optional[Path], mistakes_path: Optional[Path],
                  model_label: str) -> dict[str, Path]:
    """Write the PNGs asked for; matplotlib is loaded only when one is."""
    if confusion_path is None and mistakes_path is None:
        return {}
    from cifarctl.data.catalog import SHORT_NAMES
    from cifarctl.pictures.evaluation_plots import most_confident_mistakes, plot_confusion, plot_mistakes
    from cifarctl.pictures.grids import as_hwc

    saved = {}
    images_line = f"{result.total:,} {result.split} images"
    if confusion_path is not None:
        plot_confusion(result.confusion.numpy(), SHORT_NAMES, confusion_path,
                       f"{model_label}\n{images_line}, accuracy {100 * result.accuracy:.1f} %")
        saved["confusion"] = confusion_path
    if mistakes_path is not None:
        truth = data.labels.numpy()
        chosen = most_confident_mistakes(truth, result.predicted.numpy(), result.confidence.numpy())
        captions = [f"{SHORT_NAMES[truth[index]]} → {SHORT_NAMES[result.predicted[index]]} "
                    f"({result.confidence[index]:.2f})" for index in chosen.tolist()]
        wrong = result.total - result.correct
        plot_mistakes(as_hwc(data.images[chosen]), captions, mistakes_path,
                      f"The {len(chosen)} most confident of {wrong:,} mistakes on {images_line}; "
                      "each: true → predicted (probability)")
        saved["mistakes"] = mistakes_path
    return saved
