"""`train --init-from MODEL`: the same family and size start from a file's weights, a new head for new classes,
`--freeze-backbone` trains only the head, and the model file says where it started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from fake_cifar import write_counted_folder as write_folder

from cifarctl.inference.model_files import load_trained_model
from cifarctl.input_files import md5_of
from cifarctl.torch_files import load_state, save_state

FAST = ("--model", "fast", "--model-option", "width=8")


@pytest.fixture
def start_model(cli, data_dir) -> Path:
    """A FastNet (width 8) trained two epochs on the fake CIFAR-10: the file runs start from."""
    result = cli("--data-dir", str(data_dir), "train", *FAST, "--epochs", "2", "--batch-size", "32", "--seed", "0",
                 "-o", "start.pth")
    assert result.exit_code == 0, result.stderr
    return Path("start.pth")


def parameters(path: Path) -> dict[str, torch.Tensor]:
    network = load_trained_model(path).network
    return {name: parameter.detach().clone() for name, parameter in network.named_parameters()}


def test_a_run_on_other_classes_gets_a_new_head_and_a_frozen_backbone_keeps_the_file_s(cli, start_model, tmp_path):
    write_folder(tmp_path / "fruit", {"apple": 30, "berry": 30, "cherry": 30})
    assert cli("--dataset", "fruit", "download", "--from", "fruit").exit_code == 0
    result = cli("--dataset", "fruit", "train", *FAST, "--epochs", "2", "--seed", "1", "--init-from", "start.pth",
                 "--freeze-backbone", "-o", "fruit.pth", "--json")
    assert result.exit_code == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("starting from")]
    assert said == ["starting from start.pth (fast trained on cifar10, 10 classes); its head is replaced by a new "
                    "one, since this data has 3 classes, not 10; only the head trains (--freeze-backbone)"]
    before, after = parameters(start_model), parameters(Path("fruit.pth"))
    assert after["head.weight"].shape == (3, 16)
    assert all(torch.equal(before[name], after[name]) for name in before if not name.startswith("head."))
    document = json.loads(result.stdout)
    assert (document["config"]["init_from"], document["config"]["freeze_backbone"]) == ("start.pth", True)
    record = load_state(Path("fruit.pth"))["made_by"]["settings"]["init_from"]
    assert record == {"path": "start.pth", "md5": md5_of(start_model), "family": "fast", "dataset": "cifar10",
                      "classes": 10, "head_replaced": True, "freeze_backbone": True}
    header = json.loads(Path("fruit.metrics.jsonl").read_text().splitlines()[0])
    assert (header["init_from"], header["freeze_backbone"]) == ("start.pth", True)
    shown = cli("-v", "evaluate", "--dataset", "fruit", "-m", "fruit.pth", "--no-show")
    assert "started from start.pth (MD5 " in shown.stderr and "head replaced, backbone frozen" in shown.stderr


def test_the_same_classes_keep_the_head_and_everything_trains(cli, data_dir, start_model):
    result = cli("--data-dir", str(data_dir), "train", *FAST, "--steps", "10", "--batch-size", "32", "--seed", "2",
                 "--init-from", "start.pth", "-o", "more.pth")
    assert result.exit_code == 0, result.stderr
    assert "starting from start.pth (fast trained on cifar10, 10 classes)\n" in result.stderr
    before, after = parameters(start_model), parameters(Path("more.pth"))
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert not torch.equal(before["blocks.0.conv1.weight"], after["blocks.0.conv1.weight"])
    # started from the file, not from scratch: ten steps (Lookahead keeps the average of every 5th) move it a little
    moved = (after["blocks.2.conv2.weight"] - before["blocks.2.conv2.weight"]).norm()
    assert moved < 0.5 * before["blocks.2.conv2.weight"].norm()


def test_the_start_is_recorded_in_the_checkpoint_and_a_resume_continues_it(cli, data_dir, start_model):
    common = ("--data-dir", str(data_dir), "train", *FAST, "--epochs", "2", "--batch-size", "32", "--seed", "3",
              "--init-from", "start.pth", "-o", "r.pth")
    assert cli(*common).exit_code == 0
    resumed = cli(*common, "--resume")
    assert resumed.exit_code == 0 and "nothing left to train" in resumed.stderr, resumed.stderr
    refused = cli("--data-dir", str(data_dir), "train", *FAST, "--epochs", "2", "--batch-size", "32", "--seed", "3",
                  "-o", "r.pth", "--resume")
    assert refused.exit_code == 2 and "init_from --init-from start.pth (now no --init-from)" in refused.stderr


@pytest.mark.parametrize(("args", "fragment"), [
    (("--model", "net"), "holds FastNet (width 8, widen 2), but this run trains Net (width 6)"),
    (("--model", "fast", "--width", "16"),
     "but this run trains FastNet (width 16, widen 2); start from a model of the same family "
     "and size, or train --model fast --model-option width=8 --model-option widen=2"),
])
def test_another_family_or_size_is_refused_naming_both(cli, data_dir, start_model, args, fragment):
    result = cli("--data-dir", str(data_dir), "train", *args, "--init-from", "start.pth", "-o", "x.pth")
    assert result.exit_code == 2 and fragment in result.stderr, result.stderr
    assert not Path("x.pth").exists()


def test_without_a_size_option_the_run_takes_the_file_s_size(cli, data_dir, start_model):
    result = cli("--data-dir", str(data_dir), "train", "--model", "fast", "--init-from", "start.pth", "--steps", "2",
                 "--batch-size", "32", "-o", "more.pth", "--json")
    assert result.exit_code == 0, result.stderr
    assert load_trained_model(Path("more.pth")).info.options == {"width": 8, "widen": 2}


def test_another_image_size_is_refused_naming_both(cli, data_dir, start_model):
    document = load_state(start_model)
    document["image_size"] = [64, 64]
    save_state(document, Path("big.pth"))
    result = cli("--data-dir", str(data_dir), "train", *FAST, "--init-from", "big.pth", "-o", "x.pth")
    assert result.exit_code == 2, result.stderr
    assert "--init-from big.pth was trained on 64x64 images, but CIFAR-10 has 32x32 ones" in result.stderr


def test_the_output_is_never_the_file_it_starts_from(cli, data_dir, start_model):
    result = cli("--data-dir", str(data_dir), "train", *FAST, "--init-from", "start.pth", "-o", "start.pth")
    assert result.exit_code == 2 and "is the file this command reads" in result.stderr
