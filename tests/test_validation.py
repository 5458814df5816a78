"""`train --val-split`: a held-out, class-balanced validation split that training reads instead of the test split."""

import json

import pytest
import torch

from cifarctl.data import memory
from cifarctl.data.catalog import locate
from cifarctl.data.memory import load_split
from cifarctl.data.validation import held_out_indices, split_off, validation_size
from cifarctl.errors import CifarctlError, UsageError


def test_split_is_disjoint_balanced_and_reproducible(data_dir):
    data = load_split(locate(data_dir), "train")
    trained_on, validation, record = split_off(data, 45, seed=3)
    assert (len(trained_on), len(validation)) == (255, 45)
    held = held_out_indices(data.labels, 45, 3)
    kept = sorted(set(range(len(data))) - set(held.tolist()))
    assert len(set(held.tolist())) == 45 and not set(held.tolist()) & set(kept)  # disjoint
    assert torch.equal(trained_on.images, data.images[kept]) and torch.equal(validation.images, data.images[held])
    counts = torch.bincount(validation.labels, minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 45  # 4 or 5 of every class
    assert torch.equal(held, held_out_indices(data.labels, 45, 3))  # same seed, same images
    assert not torch.equal(held, held_out_indices(data.labels, 45, 4))
    assert record.as_dict() == {"size": 45, "seed": 3, "of": 300, "fingerprint": record.fingerprint}
    assert validation.name == "val"


@pytest.mark.parametrize(("text", "size"), [("30", 30), ("0.1", 30), ("0.5", 150), ("299", 299)])
def test_split_size_is_a_count_or_a_fraction(text, size):
    assert validation_size(text, 300) == size


@pytest.mark.parametrize(("text", "fragment"), [
    ("300", "the training set has only 300"), ("5000", "the training set has only 300"),
    ("1.0", "neither a count"), ("0", "holds out no image"), ("0.001", "holds out no image"),
    ("-3", "neither a count"), ("ten", "neither a count"), ("nan", "neither a count"),
])
def test_bad_split_sizes_are_refused(text, fragment):
    with pytest.raises(UsageError, match=fragment):
        validation_size(text, 300)


def test_a_split_that_would_empty_a_class_is_refused(data_dir):
    data = load_split(locate(data_dir), "train")
    with pytest.raises(UsageError, match="holds out 299 of the 300 images of the training set, "
                                         "which would leave a class of its 10 nothing"):
        held_out_indices(data.labels, 299, 0)


def test_train_records_the_split_and_eval_every_reads_only_it(cli, data_dir, tmp_path, monkeypatch):
    loaded = []
    real = memory.load_split
    monkeypatch.setattr("cifarctl.training.runs.load_split",
                        lambda folder, split: loaded.append(split) or real(folder, split))
    result = cli("train", "--epochs", "2", "--val-split", "30", "--val-seed", "5", "--eval-every", "1",
                 "--log-every", "20", "--seed", "0", "--json")
    assert result.exit_code == 0, result.stderr
    assert loaded == ["train"]  # the test split is never read while training
    assert "val acc" in result.stderr and "test acc" not in result.stderr
    assert "on 270 images (30 more held out for validation)" in result.stderr
    document = json.loads(result.stdout)
    assert document["test_accuracy"] is None and 0 <= document["val_accuracy"] <= 1
    assert (document["config"]["val_split"], document["config"]["val_seed"]) == (30, 5)
    epochs = [json.loads(line) for line in (tmp_path / "cifar_net.metrics.jsonl").read_text().splitlines()
              if '"epoch"' in line and '"kind": "epoch"' in line]
    assert len(epochs) == 2 and all("val_accuracy" in record and "test_accuracy" not in record for record in epochs)

    model = torch.load(tmp_path / "cifar_net.pth", weights_only=True)
    checkpoint = torch.load(tmp_path / "cifar_net.ckpt", weights_only=True)
    for recorded in (model["validation"], checkpoint["settings"]["validation"]):
        assert (recorded["size"], recorded["seed"], recorded["of"]) == (30, 5, 300)

    monkeypatch.setattr(memory, "load_split", real)
    evaluated = json.loads(cli("evaluate", "--split", "val", "--json").stdout)
    assert evaluated["split"] == "val" and evaluated["total"] == 30
    assert evaluated["accuracy"] == pytest.approx(document["val_accuracy"], abs=1e-6)  # the same 30 images
    assert evaluated["model"]["validation"] == {"size": 30, "seed": 5, "of": 300}
    shown = cli("evaluate", "--split", "val").stdout  # "val" is the option's word; reports spell it out
    assert "on the 30 validation images:" in shown and "Accuracy on the 30 validation images" in shown
    tested = json.loads(cli("evaluate", "--json").stdout)
    assert tested["split"] == "test" and tested["total"] == 100
    trained_on = json.loads(cli("evaluate", "--split", "train", "--json").stdout)
    assert trained_on["total"] == 270  # the images it trained on, not the held-out ones


def test_without_a_split_the_tutorial_run_is_unchanged(cli, data_dir, tmp_path):
    result = cli("train", "--epochs", "1", "--eval-every", "1", "--seed", "0")
    assert result.exit_code == 0, result.stderr
    assert "test acc" in result.stderr and "held out" not in result.stderr
    assert set(torch.load(tmp_path / "cifar_net.pth", weights_only=True)) == {
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight",
        "fc2.bias", "fc3.weight", "fc3.bias"}  # still the tutorial's bare state_dict
    refused = cli("evaluate", "--split", "val")
    assert refused.exit_code == 2 and "trained without a validation split" in refused.stderr


def test_resume_keeps_the_recorded_split(cli, data_dir, tmp_path):
    assert cli("train", "--epochs", "1", "--val-split", "0.1", "--seed", "1").exit_code == 0
    result = cli("train", "--epochs", "2", "--resume", "--eval-every", "1", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["config"]["val_split"] == 30 and document["val_accuracy"] is not None
    other = cli("train", "--epochs", "3", "--resume", "--val-split", "20")
    assert other.exit_code == 2 and "validation" in other.stderr and "same options" in other.stderr


def test_a_recorded_split_that_does_not_match_the_data_is_refused(cli, data_dir, tmp_path):
    assert cli("train", "--epochs", "1", "--val-split", "30", "--seed", "1").exit_code == 0
    model = torch.load(tmp_path / "cifar_net.pth", weights_only=True)
    model["validation"]["of"] = 50_000
    torch.save(model, tmp_path / "elsewhere.pth")
    result = cli("evaluate", "-m", "elsewhere.pth", "--split", "val")
    assert result.exit_code == 1
    assert "different size (300 images)" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    model["validation"]["of"] = 300
    model["validation"]["fingerprint"] = "0" * 16
    torch.save(model, tmp_path / "other.pth")
    result = cli("evaluate", "-m", "other.pth", "--split", "val")
    assert result.exit_code == 1 and "different content" in result.stderr
    model["validation"] = {"size": "many"}
    torch.save(model, tmp_path / "damaged.pth")
    result = cli("evaluate", "-m", "damaged.pth", "--split", "val")
    assert result.exit_code == 1 and "cannot be read" in result.stderr


def test_rebuild_checks_the_data(data_dir):
    from cifarctl.data.validation import rebuild

    data = load_split(locate(data_dir), "train")
    _, validation, record = split_off(data, 30, 2)
    assert torch.equal(rebuild(data, record, "m.pth")[1].images, validation.images)
    shifted = memory.Split("train", data.images.flip(0), data.labels.flip(0))
    with pytest.raises(CifarctlError, match="different content"):
        rebuild(shifted, record, "m.pth")
