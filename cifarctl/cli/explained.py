"""`--explain FILE.png` of `predict` and `evaluate`: Grad-CAM heatmaps computed, drawn, and put in --json.

`predict` explains every image it read (its heatmap in --json; the first 256 drawn), `evaluate`
the most confident mistakes (the images of its mistakes picture), each for the class the
network chose. The heatmaps come from `cifarctl.inference.explain`, the picture from
`cifarctl.pictures.heatmaps`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from cifarctl.data.memory import Split
    from cifarctl.inference.evaluation import EvalResult
    from cifarctl.inference.model_files import TrainedModel
    from cifarctl.inference.prediction import PredictionResult

TOP = 3  # classes beside each heatmap


def predicted_heatmaps(trained: TrainedModel, result: PredictionResult) -> torch.Tensor:
    """Grad-CAM of every image read, for its top class: (N, 32, 32) in 0..1."""
    import torch

    from cifarctl.inference.explain import heatmaps

    labels = torch.tensor(result.predicted_labels(), dtype=torch.long)
    return heatmaps(trained, torch.from_numpy(result.images), labels)


def add_heatmaps_to_json(document: dict[str, Any], heat: torch.Tensor) -> None:
    """Each prediction of `predict --json` gets its `heatmap`: 32 rows of 32 numbers in 0..1."""
    from cifarctl.inference.explain import heatmap_json

    for entry, one in zip(document["predictions"], heat):
        entry["heatmap"] = heatmap_json(one)


def save_predicted(result: PredictionResult, heat: torch.Tensor, path: Path, trained: TrainedModel,
                   limit: int) -> int:
    """The first `limit` images with their heatmaps and top classes, as one PNG; how many were drawn."""
    count = min(len(result.paths), limit)
    lines = [[f"{name} {100 * p:.1f} %" for name, p in result.top_classes(index)] for index in range(count)]
    _save(trained, result.images[:count], heat[:count], [str(file) for file in result.paths[:count]], lines, path,
          "each image's top class")
    return count


def explain_mistakes(trained: TrainedModel, result: EvalResult, data: Split, tta: bool, path: Path
                     ) -> list[dict[str, Any]]:
    """The most confident mistakes (those of --save-mistakes) with where the network looked for
    the class it wrongly chose, as one PNG; their records (with heatmaps) for --json."""
    import torch

    from cifarctl.inference import EVALUATION_BATCH
    from cifarctl.inference.evaluation import predict_probabilities
    from cifarctl.inference.explain import heatmap_json, heatmaps
    from cifarctl.pictures.evaluation_plots import most_confident_mistakes

    truth = data.labels.numpy()
    chosen = most_confident_mistakes(truth, result.predicted.numpy(), result.confidence.numpy())
    if not len(chosen):
        _save(trained, data.images[:0].numpy(), torch.zeros(0, *data.images.shape[-2:]), [], [], path,
              f"its mistakes: it made none on the {result.total:,} {result.split} images")
        return []
    images = data.images[torch.as_tensor(chosen, dtype=torch.long)]
    predicted = result.predicted[torch.as_tensor(chosen, dtype=torch.long)]
    heat = heatmaps(trained, images, predicted)
    probabilities = predict_probabilities(trained.network, images, next(trained.network.parameters()).device,
                                          EVALUATION_BATCH, trained.mean, trained.std, tta, trained.precision)
    names = data.classes.names
    top = probabilities.topk(min(TOP, probabilities.shape[1]), dim=1)
    lines = [[f"{names[label]} {100 * p:.1f} %" for p, label in zip(values.tolist(), labels.tolist())]
             for values, labels in zip(top.values, top.indices)]
    titles = [f"#{index}: really {names[truth[index]]}" for index in chosen.tolist()]
    _save(trained, images.numpy(), heat, titles, lines, path,
          f"its {len(chosen)} most confident mistakes on the {result.split} images: the class it wrongly chose")
    return [{"index": int(index), "true": names[truth[index]], "predicted": names[int(label)],
             "probability": round(float(result.confidence[index]), 6), "heatmap": heatmap_json(one)}
            for index, label, one in zip(chosen.tolist(), predicted.tolist(), heat)]


def _save(trained: TrainedModel, images, heat: torch.Tensor, titles: list[str], lines: list[list[str]], path: Path,
          what: str) -> None:
    from cifarctl.inference.explain import explain_layer
    from cifarctl.pictures.heatmaps import save_heatmaps

    layer = explain_layer(trained.info.family)
    save_heatmaps(images, heat.numpy(), titles, lines, path,
                  f"Where {trained.describe()} looked for {what} (Grad-CAM on {layer})")
