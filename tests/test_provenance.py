"""What made a model file: the record `train` writes (`made_by`), and how evaluate, predict and
export show it (-v lines, --json keys, the export's metadata), or say why there is none."""

from __future__ import annotations

import importlib.metadata
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import torch
from helpers import TutorialNet
from PIL import Image

from cifarctl.inference.model_files import MODEL_FORMAT, save_trained_model
from cifarctl.inference.provenance import made_by_record, read_made_by
from cifarctl.models import ModelInfo, build_model
from cifarctl.training.settings import TrainSettings

PLAIN = "a plain state_dict (the tutorial's format): no record of how it was made"


def json_of(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def made_by_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(("made by", "trained:", "recipe:"))]


@pytest.fixture
def picture(tmp_path) -> Path:
    path = tmp_path / "red.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path)
    return path


def test_a_fast_models_record_round_trips_into_evaluate_predict_and_export(cli, data_dir, tmp_path, picture):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    trained = json_of(cli("train", "--model", "fast", "--width", "8", "--batch-size", "32", "--epochs", "1",
                          "--seed", "3", "-o", "f.pth", "--json"))
    record = json_of(cli("evaluate", "-m", "f.pth", "--json"))["model"]["made_by"]

    assert record["program"] == "cifarctl" and record["version"] == importlib.metadata.version("cifarctl")
    assert (record["torch"], record["device"], record["processes"]) == (str(torch.__version__), "cpu", 1)
    assert before <= datetime.fromisoformat(record["written"]) <= datetime.now(timezone.utc)
    assert (record["steps"], record["precision"]) == (trained["total_steps"], trained["precision"])
    settings = record["settings"]
    assert (settings["model"], settings["options"], settings["seed"]) == ("fast", {"width": 8, "widen": 2}, 3)
    assert (settings["recipe"]["name"], settings["recipe"]["batch_size"]) == ("fast", 32)
    assert settings["threads"] == trained["config"]["threads"] and settings["dataset"] == "cifar10"
    # exactly the run's settings, as its checkpoint keeps them for --resume
    checkpoint = torch.load(tmp_path / "f.ckpt", weights_only=True)["settings"]
    assert settings == json.loads(json.dumps(checkpoint))
    assert TrainSettings.from_dict(settings) == TrainSettings.from_dict(checkpoint)

    predicted = json_of(cli("predict", "-m", "f.pth", str(picture), "--json"))["model"]
    assert (predicted["made_by"], predicted["made_by_missing"]) == (record, None)
    exported = json_of(cli("export", "-m", "f.pth", "--json"))
    assert exported["model"]["made_by"] == record
    assert json.loads(Path(exported["metadata"]).read_text())["made_by"] == record

    for command in (("evaluate", "-m", "f.pth", "--no-show"), ("predict", "-m", "f.pth", str(picture))):
        result = cli("-v", *command)
        assert result.exit_code == 0, result.stderr
        made, run, recipe = made_by_lines(result.stderr)
        assert made.startswith(f"made by cifarctl {record['version']} on {record['written'][:10]} ")
        assert run.startswith(f"trained: fast (width 8, widen 2) with the fast recipe on cifar10: seed 3, "
                              f"{record['steps']} steps, {record['precision']} on cpu with ")
        assert "batch_size 32" in recipe and "lr 0.6" in recipe
        assert made_by_lines(cli(*command).stderr) == []  # without -v, nothing


def test_a_net_with_a_validation_split_is_described_and_says_so(cli, data_dir, tmp_path):
    assert cli("train", "--steps", "5", "--val-split", "30", "--val-seed", "2", "--seed", "1").exit_code == 0
    record = json_of(cli("evaluate", "--json"))["model"]["made_by"]
    assert record["settings"]["validation"]["size"] == 30 and record["steps"] == 5
    result = cli("-v", "evaluate", "--no-show")
    assert "30 images held out for validation (seed 2)" in made_by_lines(result.stderr)[1]


def test_the_tutorials_file_has_no_record_and_still_loads_in_the_tutorials_net(cli, data_dir, tmp_path, picture):
    assert cli("train", "--steps", "5", "--seed", "0").exit_code == 0
    TutorialNet().load_state_dict(torch.load(tmp_path / "cifar_net.pth", weights_only=True))
    for command in (("evaluate", "--no-show"), ("predict", str(picture))):
        model = json_of(cli(*command, "--json"))["model"]
        assert (model["made_by"], model["made_by_missing"]) == (None, PLAIN)
        result = cli("-v", *command)
        assert f"made by: unknown, {PLAIN}" in result.stderr.splitlines()
        assert "warning" not in result.stderr
    checkpoint = json_of(cli("evaluate", "-m", "cifar_net.ckpt", "--json"))["model"]
    assert checkpoint["made_by"] is None and checkpoint["made_by_missing"].startswith("a training checkpoint")


def save_fast_model(path: Path, made_by: dict | None = None) -> None:
    info = ModelInfo("fast", {"width": 8, "widen": 2})
    torch.manual_seed(0)
    save_trained_model(path, info, build_model(info).state_dict(), tta=False, made_by=made_by)


def a_run() -> dict:
    return {"settings": TrainSettings.for_model("fast", {"width": 8}, seed=5).as_dict(), "precision": "fp32",
            "steps": 12, "processes": 1, "device": "cpu"}


def test_an_older_file_without_the_record_still_loads(cli, data_dir, tmp_path):
    save_fast_model(tmp_path / "old.pth")  # as model files were written before the record
    assert "made_by" not in torch.load(tmp_path / "old.pth", weights_only=True)
    result = cli("-v", "evaluate", "-m", "old.pth", "--no-show")
    assert result.exit_code == 0 and "warning" not in result.stderr, result.stderr
    assert "made by: unknown, written by a cifarctl from before model files recorded how they were made" in (
        result.stderr.splitlines())
    assert json_of(cli("evaluate", "-m", "old.pth", "--json"))["model"]["made_by"] is None


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda record: record["settings"].update(seed="zero"), "made_by.settings.seed is the text 'zero'"),
        (lambda record: record["settings"]["options"].update(width=8.5),
         "made_by.settings.options.width is the number 8.5"),
        (lambda record: record["settings"]["recipe"].update(lr=torch.zeros(2)),
         "made_by.settings.recipe.lr is a tensor"),
        (lambda record: record.update(written="yesterday"), "made_by.written is the text 'yesterday'"),
        (lambda record: record.update(version="\x1b[31m1.0"), "made_by.version is the text"),
        (lambda record: record.pop("settings"), "made_by.settings is missing"),
        (lambda record: record.update({3: "three"}), "made_by has an entry named 3"),
    ],
)
def test_a_damaged_record_is_ignored_with_one_warning_line(cli, data_dir, tmp_path, damage, named):
    save_fast_model(tmp_path / "m.pth", a_run())
    document = torch.load(tmp_path / "m.pth", weights_only=True)
    damage(document["made_by"])
    torch.save(document, tmp_path / "m.pth")

    result = cli("evaluate", "-m", "m.pth", "--json")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: m.pth: the record of how it was made cannot be "
                                                         "read (") and named in warnings[0], result.stderr
    assert warnings[0].endswith("so it is ignored") and "\x1b" not in warnings[0]
    model = json.loads(result.stdout)["model"]
    assert model["made_by"] is None and named in model["made_by_missing"]
    assert "Traceback" not in result.stderr


def test_the_record_is_plain_data_that_weights_only_loading_reads(tmp_path):
    run = a_run()
    run["settings"]["dataset"] = Path("cifar10")  # an object of another class must not make the file unreadable
    record = made_by_record(run, datetime(2026, 12, 3, 10, 20, tzinfo=timezone(timedelta(hours=1))))
    assert (record["written"], record["settings"]["dataset"]) == ("2026-12-03T10:20:00+01:00", "cifar10")
    save_fast_model(tmp_path / "m.pth", run)
    document = torch.load(tmp_path / "m.pth", weights_only=True)
    assert document["format"] == MODEL_FORMAT and read_made_by(document["made_by"]).record == document["made_by"]
    assert type(document["made_by"]["torch"]) is str
