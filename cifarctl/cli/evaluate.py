"""`cifarctl evaluate`: how well trained models classify a split, against the 10% baseline.

Accuracy with its interval, per class, the confusion matrix, calibration, and pictures;
several model files side by side, and as mean ± std when they are repeated runs of one recipe.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NamedTuple, Optional

import typer
from rich.text import Text

from cifarctl.cli.options import (
    DEFAULT_MODEL_FILE,
    InferenceBatchSizeOption,
    JsonOption,
    NoDownloadOption,
    TtaOption,
    check_png_outputs,
    dataset_option,
    png_output_option,
)
from cifarctl.cli.startup import start
from cifarctl.cli.streams import readable
from cifarctl.cli.ui import UI
from cifarctl.inference import EVALUATION_BATCH

if TYPE_CHECKING:
    from cifarctl.data.memory import Split
    from cifarctl.inference.evaluation import EvalResult
    from cifarctl.inference.model_files import TrainedModel

SHOW_DEFAULT = 4  # the tutorial shows its first test batch of four


class EvaluationSplit(str, Enum):
    test = "test"
    val = "val"
    train = "train"


class Measured(NamedTuple):
    """One model file measured: what was read, what it was measured on, and the result."""

    path: Path
    trained: TrainedModel
    data: Split
    result: EvalResult
    tta: bool  # whether test-time augmentation was used


def evaluate(
    ctx: typer.Context,
    models: Annotated[Optional[list[Path]], typer.Argument(
        metavar="MODEL...", show_default=False,
        help="More model files, e.g. the runs of 'train --seeds': cifar_net.seed*.pth (reported one by one, then, "
             "when they are repeated runs of one recipe, as mean ± std).")] = None,
    model: Annotated[Optional[list[Path]], typer.Option(
        "--model", "-m", metavar="FILE", show_default=False,
        help="A model file written by 'cifarctl train' (or its .ckpt), or the tutorial's state_dict (repeatable; "
             "default: cifar_net.pth).")] = None,
    split: Annotated[EvaluationSplit, typer.Option(
        "--split", metavar="test|val|train",
        help="Which images to measure on: test, val (the validation split the model was trained without; needs a "
             "model trained with --val-split) or train (the images it trained on).")] = EvaluationSplit.test,
    batch_size: InferenceBatchSizeOption = EVALUATION_BATCH,
    tta: TtaOption = None,
    show: Annotated[int, typer.Option(
        "--show", metavar="N", min=0, max=64,
        help="Draw this many test images in the terminal with their true and predicted labels (0: none).",
    )] = SHOW_DEFAULT,
    no_show: Annotated[bool, typer.Option(
        "--no-show", help="Draw no images (none are drawn when stdout is not a terminal either).")] = False,
    save_confusion: png_output_option(
        "--save-confusion", help="Also write the confusion matrix as a labelled heat map PNG.") = None,
    save_mistakes: png_output_option(
        "--save-mistakes", help="Also write the most confidently misclassified images as a PNG grid.") = None,
    explain: png_output_option(
        "--explain",
        help="Also write the most confident mistakes with where the network looked for the class it chose "
             "(Grad-CAM heatmaps beside the top classes) as a PNG. Needs the optional extra: "
             "pip install 'cifarctl[explain]'.") = None,
    save_reliability: png_output_option(
        "--save-reliability",
        help="Also write the reliability diagram (accuracy against confidence in 15 bins) as a PNG.") = None,
    json_output: JsonOption = False,
    no_download: NoDownloadOption = False,
) -> None:
    """Measure a trained model: accuracy vs random guessing, per class, confusion matrix, calibration; pictures of
    them."""
    from cifarctl.errors import UsageError

    paths = list(dict.fromkeys([*(model or []), *(models or [])])) or [DEFAULT_MODEL_FILE]
    pictures_asked = {"--save-confusion": save_confusion, "--save-mistakes": save_mistakes,
                      "--save-reliability": save_reliability, "--explain": explain}
    if len(paths) > 1 and any(pictures_asked.values()):
        asked = ", ".join(option for option, path in pictures_asked.items() if path is not None)
        raise UsageError(f"{asked} draws one model; give one model file, or drop it to compare {len(paths)}")
    from cifarctl.cli.evaluate_reports import (
        accuracy_table,
        confusion_table,
        has_many_classes,
        most_confused_table,
        per_class_table,
        superclass_table,
    )
    from cifarctl.cli.provenance import report_made_by
    from cifarctl.cli.sweep_reports import SPLIT_NAMES
    from cifarctl.data.acquire import ensure_dataset
    from cifarctl.devices import resolve_device
    from cifarctl.inference.dataset_choice import dataset_of_models
    from cifarctl.inference.evaluation import evaluate as run_evaluation
    from cifarctl.inference.model_files import check_classes_match, load_trained_model
    from cifarctl.models import count_parameters

    config, ui = start(ctx)
    check_png_outputs(config.data_dir, inputs=tuple(paths), save_confusion=save_confusion, save_mistakes=save_mistakes,
                      save_reliability=save_reliability, explain=explain)
    if explain is not None:
        from cifarctl.inference.explain import require_captum

        require_captum()
    torch_device = resolve_device(config.device)
    trained_models = [load_trained_model(path, torch_device) for path in paths]
    place = dataset_of_models(trained_models, config.data_dir, dataset_option(config))
    ui.debug(f"measuring on {place.spec.title} in {place.data_dir}")
    if place.spec.classes is not None:  # a built-in's classes are known before any download
        for trained in trained_models:
            check_classes_match(trained, place.spec.classes, place.spec.name)
    ensure_dataset(place, allow_download=not no_download, events=ui.events())
    measured = []
    for path, trained in zip(paths, trained_models):
        use_tta = trained.tta if tta is None else tta
        ui.debug(f"model: {trained.describe()} from {path}, {trained.precision}, test-time augmentation {use_tta}")
        report_made_by(ui, trained, path)
        data = images_of(place, split.value, trained, path)
        if place.spec.classes is None:  # an imported dataset's classes are known once it is read
            check_classes_match(trained, data.classes, place.spec.name)
        result = run_evaluation(trained.inference_network, data, torch_device, batch_size, trained.mean, trained.std,
                                use_tta, trained.precision, dataset=place.spec.name)
        measured.append(Measured(path, trained, data, result, use_tta))
    if len(measured) > 1:
        from cifarctl.inference.repeats import not_repeats, run_record
        from cifarctl.training.run_files import run_files

        records = [run_record(one.trained, run_files(one.path).checkpoint) for one in measured]
        return report_several(ui, measured, not_repeats(records), json_output, count_parameters)
    (path, trained, data, result, use_tta), = measured
    # readable(): matplotlib cannot draw the lone surrogates of a file name that is not UTF-8
    model_label = readable(f"{trained.describe()} ({path})")
    pictures = save_pictures(result, data, save_confusion, save_mistakes, model_label, save_reliability)
    explained = None
    if explain is not None:
        from cifarctl.cli.explained import explain_mistakes

        explained = explain_mistakes(trained, result, data, use_tta, explain)
        pictures["explain"] = explain
    if json_output:
        document = result.as_json()
        document["model"] = model_json(path, trained, count_parameters)
        if explained is not None:
            document["explained_mistakes"] = explained
        if pictures:
            document["pictures"] = {name: str(picture) for name, picture in pictures.items()}
        ui.print_json(document)
        return
    if show and not no_show and ui.out.is_terminal:
        draw_sample(ui, result, data, show)
    words = SPLIT_NAMES.get(split.value, split.value)
    names = data.classes.names
    # The tutorial's '%5s' columns, widened to the longest name shown (CIFAR-10's all fit in five)
    width = max([5, *(len(names[label]) for label in result.sample_truth + result.sample_predicted)])
    ui.print("GroundTruth: ", Text(" ".join(f"{names[label]:{width}s}" for label in result.sample_truth)))
    ui.print("Predicted:   ", Text(" ".join(f"{names[label]:{width}s}" for label in result.sample_predicted)))
    ui.print(f"Accuracy of the network on the {result.total:,} {words} images: {100 * result.accuracy:.1f} %"
             f" (random guessing: {100 * result.baseline:.{0 if len(names) <= 10 else 1}f} %)"
             + (" with test-time augmentation" if use_tta else ""))
    ui.print(accuracy_table(result, model_label))
    ui.print(per_class_table(result))
    if result.per_superclass() is not None:
        ui.print(superclass_table(result))
    # An N x N table is unreadable past a few dozen classes: its largest cells say what it would
    ui.print(most_confused_table(result) if has_many_classes(result) else confusion_table(result))
    ui.print(calibration_line(result))
    for name, picture in pictures.items():
        what = "where the network looked in its mistakes" if name == "explain" else f"the {name} picture"
        ui.info(f"saved {what} to {picture}")


def images_of(place, split: str, trained, path: Path):
    """The images to measure on: the test split, or the training set cut as the model's recorded
    validation split cut it (`val`: the held-out part; `train`: the part it trained on)."""
    from cifarctl.data.memory import load_split
    from cifarctl.data.validation import ValidationSplit, rebuild
    from cifarctl.errors import UsageError

    if split == "test":
        return load_split(place, "test")
    data = load_split(place, "train")
    if trained.validation is None:
        if split == "val":
            raise UsageError(f"{path} was trained without a validation split, so there is none to measure; "
                             "train with --val-split, or evaluate on --split test")
        return data
    trained_on, validation = rebuild(data, ValidationSplit.from_dict(trained.validation, str(path)), str(path))
    return validation if split == "val" else trained_on


def model_json(path: Path, trained, count_parameters) -> dict:
    document = {"path": str(path), "name": trained.info.name, **trained.info.options,
                "parameters": count_parameters(trained.network)}
    if trained.validation is not None:
        document["validation"] = {key: trained.validation[key] for key in ("size", "seed", "of")}
    return {**document, **trained.made_by.as_json()}


def calibration_line(result) -> str:
    reliability = result.calibration
    return (f"Calibration: expected calibration error {100 * reliability.expected_calibration_error:.2f} % "
            f"(the gap between confidence and accuracy over {len(reliability.counts)} equal-width confidence bins, "
            "weighted by their images; 0 is perfectly calibrated)")


def report_several(ui: UI, measured: list[Measured], not_pooled: str | None, json_output: bool,
                   count_parameters) -> None:
    """Each model's numbers; then, for repeated runs of one recipe, their mean ± std and 95 %
    t-interval, and otherwise why there is none (`not_pooled`)."""
    from cifarctl.cli.evaluate_reports import several_models_table
    from cifarctl.cli.sweep_reports import SPLIT_NAMES, describe
    from cifarctl.statistics import summarize

    results = [one.result for one in measured]
    pooled = {}
    if not_pooled is None:
        pooled = {"accuracy": summarize([result.accuracy for result in results], bounds=(0.0, 1.0)),
                  "ece": summarize([result.calibration.expected_calibration_error for result in results],
                                   bounds=(0.0, 1.0)),
                  "macro_f1": summarize([result.macro_f1() for result in results], bounds=(0.0, 1.0))}
    if json_output:
        ui.print_json({"models": [{**one.result.as_json(), "model": model_json(one.path, one.trained, count_parameters)}
                                  for one in measured],
                       **{name: pooled[name].as_json() if pooled else None for name in ("accuracy", "ece", "macro_f1")},
                       "pooled": not_pooled is None, "not_pooled": not_pooled})
        return
    splits = {result.split for result in results}
    ui.print(several_models_table(measured, repeats=not_pooled is None))
    if not_pooled is not None:
        ui.print(Text(f"No mean ± std: {not_pooled}; a mean ± std describes repeated runs of one recipe "
                      "(train --seeds), so these are separate models."))
        return
    words = " and ".join(SPLIT_NAMES.get(name, name) for name in sorted(splits))
    ui.print(f"Accuracy on the {words} images: {describe(pooled['accuracy'], 'models')}")
    ui.print(f"Expected calibration error: {describe(pooled['ece'], 'models')}")


def draw_sample(ui: UI, result, data, count: int) -> None:
    """The first test images, as the tutorial shows its first batch, with both labels under each."""
    from cifarctl.cli.pictures import picture_lines
    from cifarctl.pictures.grids import as_hwc

    names = data.classes.names
    truth, predicted = data.labels[:count].tolist(), result.predicted[:count].tolist()
    captions = [f"true {names[t]}, predicted {names[p]}" for t, p in zip(truth, predicted)]
    for line in picture_lines(ui.out, as_hwc(data.images[:count]), captions):
        ui.print(line)


def save_pictures(result, data, confusion_path: Optional[Path], mistakes_path: Optional[Path],
                  model_label: str, reliability_path: Optional[Path] = None) -> dict[str, Path]:
    """Write the PNGs asked for; matplotlib is loaded only when one is."""
    if confusion_path is None and mistakes_path is None and reliability_path is None:
        return {}
    from cifarctl.pictures.evaluation_plots import most_confident_mistakes, plot_confusion, plot_mistakes
    from cifarctl.pictures.grids import as_hwc

    names = data.classes.names
    saved = {}
    images_line = f"{result.total:,} {result.split} images"
    if confusion_path is not None:
        plot_confusion(result.confusion.numpy(), names, confusion_path,
                       f"{model_label}\n{images_line}, accuracy {100 * result.accuracy:.1f} %",
                       data.classes.superclasses, data.classes.superclass_of)
        saved["confusion"] = confusion_path
    if mistakes_path is not None:
        truth = data.labels.numpy()
        chosen = most_confident_mistakes(truth, result.predicted.numpy(), result.confidence.numpy())
        captions = [f"{names[truth[index]]} → {names[result.predicted[index]]} "
                    f"({result.confidence[index]:.2f})" for index in chosen.tolist()]
        wrong = result.total - result.correct
        plot_mistakes(as_hwc(data.images[chosen]), captions, mistakes_path,
                      f"The {len(chosen)} most confident of {wrong:,} mistakes on {images_line}; "
                      "each: true → predicted (probability)")
        saved["mistakes"] = mistakes_path
    if reliability_path is not None:
        from cifarctl.pictures.evaluation_plots import plot_reliability

        reliability = result.calibration
        plot_reliability(reliability, reliability_path,
                         f"{model_label}\n{images_line}, expected calibration error "
                         f"{100 * reliability.expected_calibration_error:.2f} %")
        saved["reliability"] = reliability_path
    return saved
