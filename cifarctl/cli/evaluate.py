"""`cifarctl evaluate`: accuracy against the 10% baseline, per class, and the confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cifarctl.cli.options import (
    DataDirOption,
    DeviceOption,
    JsonOption,
    NoDownloadOption,
    SplitName,
    command_config,
)
from cifarctl.cli.ui import UI


def evaluate(
    ctx: typer.Context,
    model: Annotated[Path, typer.Option("--model", "-m", metavar="FILE", help="A model file written by 'cifarctl train' (or its .ckpt), or the tutorial's state_dict.")] = Path("cifar_net.pth"),
    split: Annotated[SplitName, typer.Option("--split", help="Which images to measure on.")] = SplitName.test,
    batch_size: Annotated[int, typer.Option("--batch-size", metavar="N", min=1, max=65_536, help="Images per forward pass (any size gives the same result).")] = 1000,
    tta: Annotated[Optional[bool], typer.Option("--tta/--no-tta", help="Average predictions over flipped and shifted copies (default: as the model's recipe says).", show_default=False)] = None,
    json_output: JsonOption = False,
    no_download: NoDownloadOption = False,
    data_dir: DataDirOption = None,
    device: DeviceOption = None,
) -> None:
    """Measure a trained model: overall accuracy vs random guessing, per class, confusion matrix."""
    from cifarctl.cli.reports import accuracy_table, confusion_table, per_class_table
    from cifarctl.data.acquire import ensure_dataset
    from cifarctl.data.catalog import SHORT_NAMES
    from cifarctl.data.memory import load_split
    from cifarctl.devices import resolve_device
    from cifarctl.evaluation import evaluate as run_evaluation
    from cifarctl.model_files import load_trained_model
    from cifarctl.models import count_parameters

    config = command_config(ctx, data_dir=data_dir, device=device)
    ui = UI(config.color, config.quiet, config.verbose)
    ui.debug_config(config)
    torch_device = resolve_device(config.device)
    trained = load_trained_model(model, torch_device)
    use_tta = trained.tta if tta is None else tta
    ui.debug(f"model: {trained.describe()} from {model}, {trained.precision}, test-time augmentation {use_tta}")
    ensure_dataset(config.data_dir, allow_download=not no_download, events=ui.events())
    data = load_split(config.data_dir, split.value)
    result = run_evaluation(trained.network, data, torch_device, batch_size, trained.mean, trained.std, use_tta,
                            trained.precision)
    if json_output:
        document = result.as_json()
        document["model"] = {"path": str(model), "name": trained.info.name, **trained.info.options,
                             "parameters": count_parameters(trained.network)}
        ui.print_json(document)
        return
    ui.print("GroundTruth: ", " ".join(f"{SHORT_NAMES[label]:5s}" for label in result.sample_truth))
    ui.print("Predicted:   ", " ".join(f"{SHORT_NAMES[label]:5s}" for label in result.sample_predicted))
    ui.print(f"Accuracy of the network on the {result.total:,} {split.value} images: {100 * result.accuracy:.1f} %"
             f" (random guessing: {100 / len(SHORT_NAMES):.0f} %)" + (" with test-time augmentation" if use_tta else ""))
    ui.print(accuracy_table(result, f"{trained.describe()} ({model})"))
    ui.print(per_class_table(result))
    ui.print(confusion_table(result))
