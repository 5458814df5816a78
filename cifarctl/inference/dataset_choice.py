"""Which dataset models are measured on: the one named on the command line, else the one they learned."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from cifarctl.data.catalog import Place, locate
from cifarctl.errors import UsageError

if TYPE_CHECKING:
    from cifarctl.inference.model_files import TrainedModel


def dataset_of_models(trained_models: Iterable[TrainedModel], data_dir: Path, named: str | None = None) -> Place:
    """The dataset commands that read models (evaluate, export) use: `named` (--dataset, when
    given on the command line); otherwise the one the models were trained on, so a CIFAR-100
    model is measured on CIFAR-100 without being told (a dataset set in cifarctl.toml or
    $CIFARCTL_DATASET is a default for training, not a reason to measure a model on data it
    never learned)."""
    if named is not None:
        return locate(data_dir, named)
    recorded = {trained.dataset: trained.path for trained in trained_models}
    if len(recorded) > 1:
        listed = " and ".join(f"{path} on {dataset}" for dataset, path in list(recorded.items())[:2])
        raise UsageError(f"the models were trained on different datasets ({listed}); evaluate the models of one "
                         "dataset together, or pass --dataset")
    return locate(data_dir, next(iter(recorded)))
