"""Small and imbalanced folders: the batch fitted to the data, class weights, and per-class scores at the end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from fake_cifar import write_counted_folder as write_folder

from cifarctl.data.catalog import Classes
from cifarctl.data.class_balance import Balance, balance_of, class_weights, read_weights_file
from cifarctl.data.memory import Split
from cifarctl.errors import UsageError
from cifarctl.training.data_fit import DataFit, batch_note, fit_to_data
from cifarctl.training.settings import TrainSettings
from cifarctl.training.weighted_loss import ClassWeightedCrossEntropy, make_criterion

NAMES = ("apple", "berry", "cherry")


def split_of(counts: list[int]) -> Split:
    labels = torch.cat([torch.full((count,), label) for label, count in enumerate(counts)])
    return Split("train", torch.zeros(len(labels), 3, 32, 32, dtype=torch.uint8), labels,
                 Classes(tuple(f"c{index}" for index in range(len(counts)))))


def test_the_balance_names_the_largest_and_smallest_class_and_weights_inversely():
    balance = balance_of([0] * 40 + [1] * 10 + [2] * 4, NAMES)
    assert (balance.largest, balance.smallest, balance.ratio, balance.imbalanced) == (0, 2, 10.0, True)
    weights = balance.inverse_frequency()
    assert math.isclose(sum(w * c for w, c in zip(weights, balance.counts)) / sum(balance.counts), 1.0)
    assert weights[2] == pytest.approx(10 * weights[0])
    assert "largest class apple 40 images, smallest cherry 4 (10.0x)" in balance.plan()
    assert "train draws every class equally often (--sampling auto" in balance.plan()
    assert not Balance((30, 10, 12), NAMES).imbalanced  # 3x exactly is not over 3x
    assert "every class has 5 training images" in Balance((5, 5, 5), NAMES).plan()


def test_the_import_report_names_the_imbalance_and_what_train_does(cli, tmp_path):
    write_folder(tmp_path / "fruit", {"apple": 40, "berry": 10, "cherry": 4})
    result = cli("--dataset", "fruit", "download", "--from", "fruit")
    assert result.exit_code == 0, result.stderr
    assert "imbalanced: largest class apple 40 images, smallest cherry 4 (10.0x)" in result.stdout
    assert "train draws every class equally often" in result.stdout
    document = json.loads(cli("--dataset", "fruit", "download", "--from", "fruit", "--force", "--json").stdout)
    assert document["balance"] == {"largest": {"class": "apple", "images": 40},
                                   "smallest": {"class": "cherry", "images": 4}, "ratio": 10.0, "imbalanced": True}


@pytest.mark.parametrize(("images", "batch", "lr"), [(720, 64, 0.15), (300, 32, 0.075), (2000, 128, 0.3),
                                                    (40_000, 256, 0.6), (100, 16, 0.0375)])
def test_a_small_dataset_gets_a_batch_with_enough_steps_and_the_rate_with_it(images, batch, lr):
    settings = TrainSettings.for_model("fast")
    fitted = fit_to_data(settings, split_of([images]), 1, DataFit(batch=True, lr=True))
    assert (fitted.batch_size, fitted.recipe.lr) == (batch, pytest.approx(lr))
    assert fitted.recipe.weight_decay == settings.recipe.weight_decay  # lr x wd per image stays the recipe's
    assert fitted.batch_fitted_from == (None if batch == 256 else 256)


def test_a_given_batch_or_rate_is_kept_and_the_first_line_says_what_is_left_out():
    settings = TrainSettings.for_model("fast")
    data = split_of([720])
    assert fit_to_data(settings, data, 1, DataFit(batch=False, lr=False)) == settings
    kept_rate = fit_to_data(settings, data, 1, DataFit(batch=True, lr=False))
    assert (kept_rate.batch_size, kept_rate.recipe.lr) == (64, 0.6)
    fitted = fit_to_data(settings, data, 1, DataFit(batch=True, lr=True))
    assert batch_note(fitted, 720, 1) == ("batch and lr fitted to 720 images (11 steps an epoch, 16 images left out "
                                          "of each; the recipe's batch 256 gave 2 steps and left out 29 %)")
    assert batch_note(kept_rate, 720, 1).startswith("batch fitted to 720 images")
    assert batch_note(settings, 720, 1) == "208 of 720 images left out of each epoch (2 steps)"
    assert batch_note(settings, 40_000, 1) == ""  # 64 of 40,000 is not worth a word
    assert batch_note(TrainSettings.for_model("net"), 722, 1) == ""  # the tutorial keeps the short last batch


def test_class_weights_auto_only_above_three_to_one_and_from_a_file(tmp_path):
    imbalanced = Balance((400, 4000, 400), NAMES)
    assert class_weights("auto", imbalanced)["weights"] == pytest.approx([4.0, 0.4, 4.0])
    assert class_weights("auto", Balance((100, 300, 100), NAMES)) is None
    assert class_weights("none", imbalanced) is None
    (tmp_path / "w.json").write_text('{"cherry": 3, "apple": 1, "berry": 0.5}')
    (tmp_path / "w.txt").write_text("1, 0.5\n3\n")
    for name in ("w.json", "w.txt"):
        record = class_weights(str(tmp_path / name), imbalanced)
        assert record == {"source": "file", "file": str(tmp_path / name), "weights": [1.0, 0.5, 3.0]}


@pytest.mark.parametrize(("text", "fragment"), [
    ("[1, 2]", "has 2 weights, but the dataset has 3 classes"),
    ('{"apple": 1, "berry": 2}', "has no weight for 'cherry'"),
    ('{"apple": 1, "berry": 2, "cherry": 1, "durian": 1}', "names no class 'durian'"),
    ("1 -2 3", "not a weight"), ("1 x 3", "not a weight"), ("[1, true, 3]", "not a weight"),
    ("0 0 0", "weights every class 0"), ("", "holds no weights"), ("[1, 2", "not valid JSON")])
def test_a_bad_weights_file_is_refused_in_one_line(tmp_path, text, fragment):
    path = tmp_path / "w.json"
    path.write_text(text)
    with pytest.raises(UsageError, match=fragment.replace("(", r"\(")):
        read_weights_file(path)
        class_weights(str(path), Balance((1, 2, 3), NAMES))


def test_the_weighted_loss_weights_each_image_by_its_class_and_keeps_the_smoothing():
    torch.manual_seed(0)
    logits, targets = torch.randn(6, 3), torch.tensor([0, 0, 0, 1, 2, 2])
    weights = torch.tensor([0.5, 2.0, 1.0])
    loss = ClassWeightedCrossEntropy(weights, 0.2)(logits, targets)
    each = nn.CrossEntropyLoss(reduction="none", label_smoothing=0.2)(logits, targets)
    assert torch.isclose(loss, (weights[targets] * each).sum() / weights[targets].sum())
    same = ClassWeightedCrossEntropy(torch.ones(3), 0.2)(logits, targets)
    assert torch.isclose(same, nn.CrossEntropyLoss(label_smoothing=0.2)(logits, targets))
    assert type(make_criterion(TrainSettings.for_model("fast"), torch.device("cpu"))) is nn.CrossEntropyLoss


def test_training_on_an_imbalanced_folder_balances_it_and_reports_per_class_scores(cli, tmp_path):
    write_folder(tmp_path / "fruit", {"apple": 120, "berry": 120, "cherry": 12}, test_per_class=20)
    assert cli("--dataset", "fruit", "download", "--from", "fruit").exit_code == 0
    result = cli("--dataset", "fruit", "train", "--model", "fast", "--model-option", "width=8", "--epochs", "4",
                 "--seed", "0", "-o", "f.pth")
    assert result.exit_code == 0, result.stderr
    first = next(line for line in result.stderr.splitlines() if line.startswith("training "))
    assert "batch 16, lr 0.0375" in first and "batch and lr fitted to 252 images (15 steps an epoch" in first
    assert "every class drawn equally often (--sampling balanced)" in first and "class weights" not in first
    assert "Per class on the 60 test images (imbalanced training data): macro-F1 " in result.stdout
    assert "recall apple" in result.stdout and "; worst " in result.stdout
    header = json.loads(Path("f.metrics.jsonl").read_text().splitlines()[0])
    assert (header["sampling"], header["class_weights"]) == ("balanced", None)
    assert (header["batch_size"], header["batch_fitted_from"]) == (16, 256)
    shown = cli("--dataset", "fruit", "evaluate", "--model", "f.pth", "-v").stderr
    assert "every class drawn equally often" in " ".join(shown.split())  # the made-by record, however wrapped

    weighted = cli("--dataset", "fruit", "train", "--model", "fast", "--model-option", "width=8", "--epochs", "4",
                   "--seed", "0", "-o", "f.pth", "--restart", "--class-weights", "auto", "--json")
    assert "class weights 0.7-7 (inverse class frequency, --class-weights auto)" in weighted.stderr
    config = json.loads(weighted.stdout)["config"]
    assert config["class_weights"] == pytest.approx([0.7, 0.7, 7.0]) and config["class_weights_from"] == "auto"
    assert config["sampling"] == "shuffle"  # the weights correct the imbalance: auto does not sample too
    again = json.loads(cli("--dataset", "fruit", "train", "--model", "fast", "--model-option", "width=8",
                           "--epochs", "4", "--seed", "0", "-o", "f.pth", "--restart", "--sampling", "shuffle",
                           "--json").stdout)
    assert (again["config"]["class_weights"], again["config"]["sampling"]) == (None, "shuffle")
    assert again["class_scores"]["split"] == "test"
    scores = again["class_scores"]
    assert set(scores["recall"]) == {"apple", "berry", "cherry"} and 0 <= scores["macro_f1"] <= 1
    assert scores["worst_recall"]["recall"] == min(scores["recall"].values())


def test_a_balanced_run_reports_no_per_class_line(cli, data_dir):
    result = cli("--data-dir", str(data_dir), "train", "--epochs", "1", "--batch-size", "32", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["class_scores"] is None and document["config"]["class_weights"] is None
    assert document["config"]["sampling"] == "shuffle"
    assert np.isclose(document["config"]["lr"], 0.001)
