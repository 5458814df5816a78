"""`train --tensorboard DIR`: the metrics log's scalars in TensorBoard, and a clear error without the extra."""

import sys

import pytest

from cifarctl.data.catalog import locate
from cifarctl.data.memory import load_split
from cifarctl.errors import Interrupted
from cifarctl.training.context import Context, ResumePolicy
from cifarctl.training.loop import train
from cifarctl.training.metrics import read_metrics
from cifarctl.training.run_files import run_files
from cifarctl.training.settings import TrainSettings


def _scalars(folder) -> dict[str, list[tuple[int, float]]]:
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    events = accumulator.EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(event.step, event.value) for event in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_gets_the_same_scalars_as_the_log(cli, data_dir, tmp_path):
    pytest.importorskip("tensorboard")
    result = cli("train", "--epochs", "2", "--log-every", "10", "--eval-every", "1", "--seed", "4",
                 "--tensorboard", "runs/net")
    assert result.exit_code == 0, result.stderr
    records, _ = read_metrics(tmp_path / "cifar_net.metrics.jsonl")
    scalars = _scalars(tmp_path / "runs" / "net")
    steps = [record for record in records if record["kind"] == "step"]
    assert [step for step, _ in scalars["loss/running"]] == [record["global_step"] for record in steps]
    assert [value for _, value in scalars["loss/running"]] == pytest.approx([r["loss"] for r in steps], rel=1e-6)
    assert len(scalars["accuracy/test"]) == 2 and len(scalars["learning_rate"]) == len(steps)
    assert "accuracy/train" not in scalars  # the tutorial's recipe does not count training accuracy


def test_a_resumed_run_shows_each_step_once(data_dir, tmp_path):
    pytest.importorskip("tensorboard")
    from cifarctl.training.tensorboard import TensorBoardSink

    data = load_split(locate(data_dir), "train")
    settings = TrainSettings.for_model("net", seed=8, log_every=10)
    calls = iter(range(10_000))
    files = run_files(tmp_path / "net.pth")
    with pytest.raises(Interrupted):
        train(settings, data, files, context=Context(should_stop=lambda: next(calls) == 100,
                                                   metrics_sink=TensorBoardSink(tmp_path / "tb")))
    # a killed run may have written events past its checkpoint: pretend so by logging a stray one
    stray = TensorBoardSink(tmp_path / "tb")
    stray.write({"kind": "step", "global_step": 110, "loss": 99.0, "lr": 0.001})
    stray.close()
    train(settings, data, files, policy=ResumePolicy(resume=True),
          context=Context(metrics_sink=TensorBoardSink(tmp_path / "tb")))
    steps = [step for step, _ in _scalars(tmp_path / "tb")["loss/running"]]
    assert steps == sorted(set(steps)) and len(steps) == 2 * 7
    assert 99.0 not in [value for _, value in _scalars(tmp_path / "tb")["loss/running"]]


def test_without_the_package_the_error_names_the_extra(cli, data_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    result = cli("train", "--epochs", "1", "--tensorboard", "tb")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "pip install 'cifarctl[tensorboard]'" in result.stderr
    assert not (tmp_path / "cifar_net.pth").exists() and not (tmp_path / "cifar_net.ckpt").exists()


def test_a_file_is_not_a_tensorboard_folder(cli, data_dir, tmp_path):
    (tmp_path / "tb").write_text("")
    result = cli("train", "--epochs", "1", "--tensorboard", "tb")
    assert result.exit_code == 2 and "is not a folder" in result.stderr
