"""Classifying image files with a trained model: the top classes of every image, in input order."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cifarctl.data.catalog import SHORT_NAMES
from cifarctl.errors import CifarctlError
from cifarctl.events import Events
from cifarctl.inference import EVALUATION_BATCH
from cifarctl.inference.evaluation import predict_probabilities
from cifarctl.inference.images import ImageDecoder, ImageFailure
from cifarctl.inference.model_files import TrainedModel


@dataclass
class PredictionResult:
    paths: list[Path]  # the images that were read, in input order
    probabilities: torch.Tensor  # (N, classes) float
    images: np.ndarray  # (N, 3, 32, 32) uint8: what the network saw (empty unless kept)
    failures: list[ImageFailure]  # files (or named inputs) that could not be read
    top: int
    tta: bool
    resize: str
    classes: tuple[str, ...] = SHORT_NAMES
    ranked: torch.Tensor = field(init=False)  # (N, top) class indices, most probable first

    def __post_init__(self) -> None:
        self.ranked = self.probabilities.argsort(dim=1, descending=True, stable=True)[:, : self.top]

    def top_classes(self, index: int) -> list[tuple[str, float]]:
        return [(self.classes[label], float(self.probabilities[index, label])) for label in self.ranked[index].tolist()]

    def predicted_labels(self) -> list[int]:
        return self.ranked[:, 0].tolist()

    def as_json(self) -> dict[str, Any]:
        return {
            "count": len(self.paths),
            "failed": len(self.failures),
            "tta": self.tta,
            "resize": self.resize,
            "predictions": [
                {"path": str(path),
                 "top": [{"class": name, "probability": round(probability, 6)}
                         for name, probability in self.top_classes(index)]}
                for index, path in enumerate(self.paths)
            ],
            "failures": [failure.as_json() for failure in self.failures],
        }


def predict_files(trained: TrainedModel, decoder: ImageDecoder, device: torch.device, *, top: int = 3,
                  tta: bool = False, batch_size: int = EVALUATION_BATCH, strict: bool = False,
                  failures: list[ImageFailure] | None = None, keep_images: bool = True,
                  events: Events = Events()) -> PredictionResult:
    """Classify the decoder's images chunk by chunk while the next chunks decode.

    `failures` are earlier ones (inputs that did not exist) to report with these; with
    `strict`, the first unreadable file raises instead. Without `keep_images` the result holds
    no pixels (a million files need not stay in memory for a listing).
    """
    failures = list(failures or [])
    if strict and failures:
        raise _strict_error(failures[0])
    paths: list[Path] = []
    images: list[np.ndarray] = []
    probabilities: list[torch.Tensor] = []
    done = 0
    events.task_started("predicting", len(decoder.files), unit="images")
    try:
        with _one_thread(device.type == "cpu" and decoder.parallel):
            for chunk in decoder:
                if strict and chunk.failures:
                    raise _strict_error(chunk.failures[0])
                failures.extend(chunk.failures)
                if chunk.paths:
                    paths.extend(chunk.paths)
                    if keep_images:
                        images.append(chunk.images)
                    probabilities.append(predict_probabilities(
                        trained.inference_network, torch.from_numpy(chunk.images), device, batch_size,
                        trained.mean, trained.std, tta))
                done += len(chunk.paths) + len(chunk.failures)
                events.task_advanced(done)
    finally:
        events.task_finished()
    return PredictionResult(
        paths=paths,
        probabilities=torch.cat(probabilities) if probabilities else torch.zeros(0, len(trained.classes)),
        images=np.concatenate(images) if images else np.zeros((0, 3, 32, 32), np.uint8),
        failures=failures,
        top=top,
        tta=tta,
        resize=decoder.resize,
        classes=trained.classes,
    )


def _strict_error(failure: ImageFailure) -> CifarctlError:
    return CifarctlError(f"{failure.path}: {failure.reason} (--strict stops at the first unreadable image; "
                         "drop it to skip such files)")


@contextlib.contextmanager
def _one_thread(active: bool) -> Iterator[None]:
    """Inference on one thread while decoder processes hold the other cores.

    Two OpenMP threads on a core that a decoder also wants wait at every barrier: 10,000
    images through Net took 2.4 s on two threads and 1.0 s on one on the 2-core dev machine.
    """
    if not active:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
