"""`train --sampling`: balanced epochs for imbalanced data, seeded and resumable like shuffled ones."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from cifarctl.data.catalog import Classes, locate
from cifarctl.data.class_balance import Balance, sampling_for
from cifarctl.data.memory import Split, balanced_epoch_order, load_split
from cifarctl.errors import Interrupted, UsageError
from cifarctl.models import registry
from cifarctl.training.context import Context, ResumePolicy
from cifarctl.training.distributed import ALONE
from cifarctl.training.epochs import Epochs
from cifarctl.training.loop import train
from cifarctl.training.run_files import run_files
from cifarctl.training.settings import TrainSettings
from cifarctl.training.state import RunState

COUNTS = (500, 50, 5)  # 555 images, 100:10:1
BATCH = 37  # 15 steps an epoch, nothing dropped


def imbalanced_split() -> Split:
    labels = torch.cat([torch.full((count,), label) for label, count in enumerate(COUNTS)])
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 32, 32).contiguous()
    return Split("train", images, labels, Classes(("many", "some", "few")))


def labels_of_one_epoch(sampling: str, seed: int = 0) -> torch.Tensor:
    data = imbalanced_split()
    recipe = registry.get("net").recipe.replace(batch_size=BATCH)
    parts = SimpleNamespace(device=torch.device("cpu"), recipe=recipe,
                            epoch_inputs=lambda images, seed, epoch: images.float())
    settings = dataclasses.replace(TrainSettings.for_model("net", seed=seed), sampling=sampling)
    epochs = Epochs(data, parts, settings, ALONE)
    state = RunState(step=0, total_steps=15, steps_per_epoch=15, dataset={})
    seen = []
    for _, labels in epochs.batches(state):
        seen.append(labels)
        state.step += 1
    return torch.cat(seen)


def test_auto_balances_imbalanced_data_unless_class_weights_correct_it():
    imbalanced, even = Balance((400, 4000), ("a", "b")), Balance((100, 120), ("a", "b"))
    weights = {"source": "auto", "weights": [5.5, 0.55]}
    assert sampling_for("auto", imbalanced, None) == "balanced"
    assert sampling_for("auto", imbalanced, weights) == "shuffle"
    assert sampling_for("auto", even, None) == "shuffle"
    assert sampling_for("balanced", even, None) == "balanced" and sampling_for("shuffle", imbalanced, None) == "shuffle"


def test_a_balanced_epoch_shows_every_class_equally_often_a_shuffled_one_each_image_once():
    shuffled = labels_of_one_epoch("shuffle")
    assert torch.bincount(shuffled).tolist() == list(COUNTS)
    balanced = labels_of_one_epoch("balanced")
    assert len(balanced) == sum(COUNTS)  # as long as a shuffled epoch: the same steps per epoch
    assert torch.bincount(balanced, minlength=3).tolist() == [185, 185, 185]


def test_balanced_epochs_show_a_small_class_evenly_and_a_large_one_without_repeats():
    labels = imbalanced_split().labels
    first, second = (balanced_epoch_order(labels, 3, seed=3, epoch=epoch) for epoch in (0, 1))
    few = first[labels[first] == 2]
    assert torch.bincount(few - 550).tolist() == [37] * 5  # each of the 5 images 185 / 5 times
    many = torch.cat([first[labels[first] == 0], second[labels[second] == 0]])
    assert len(set(many.tolist())) == len(many) == 370  # 370 of the 500, none twice before all once


def test_balanced_order_comes_from_seed_and_epoch_alone():
    labels = imbalanced_split().labels
    order = balanced_epoch_order(labels, 3, seed=7, epoch=2)
    assert torch.equal(order, balanced_epoch_order(labels, 3, seed=7, epoch=2))
    assert not torch.equal(order, balanced_epoch_order(labels, 3, seed=7, epoch=3))
    assert not torch.equal(order, balanced_epoch_order(labels, 3, seed=8, epoch=2))
    assert not torch.equal(labels_of_one_epoch("balanced", seed=0), labels_of_one_epoch("balanced", seed=1))


def _imbalanced_part_of(data: Split) -> Split:
    keep = (data.labels < 5) | (torch.arange(len(data)) % 10 == 0)  # classes 5-9 keep a tenth of their images
    return data.part("train", keep)


def test_a_balanced_run_interrupted_and_resumed_is_bit_identical(data_dir, tmp_path):
    data = _imbalanced_part_of(load_split(locate(data_dir), "train"))
    settings = dataclasses.replace(TrainSettings.for_model("net", seed=5, epochs=2, batch_size=8, log_every=5),
                                   sampling="balanced")
    train(settings, data, run_files(tmp_path / "straight.pth"))
    calls = iter(range(10_000))
    with pytest.raises(Interrupted, match="--resume"):
        train(settings, data, run_files(tmp_path / "resumed.pth"),
              context=Context(should_stop=lambda: next(calls) == 9))
    train(settings, data, run_files(tmp_path / "resumed.pth"), policy=ResumePolicy(resume=True))
    straight, resumed = (torch.load(tmp_path / name, weights_only=True) for name in ("straight.pth", "resumed.pth"))
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)

    train(dataclasses.replace(settings, sampling="shuffle"), data, run_files(tmp_path / "shuffled.pth"))
    shuffled = torch.load(tmp_path / "shuffled.pth", weights_only=True)
    assert not all(torch.equal(straight[name], shuffled[name]) for name in straight)  # the sampling took effect
    with pytest.raises(UsageError, match="sampling balanced \\(now shuffle\\)"):
        train(dataclasses.replace(settings, sampling="shuffle"), data, run_files(tmp_path / "resumed.pth"),
              policy=ResumePolicy(resume=True))
