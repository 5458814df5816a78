"""The metrics log beside the model: its lines after a normal run, Ctrl-C + --resume, and kill -9 + --resume."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cifarctl.data.catalog import locate
from cifarctl.data.memory import load_split
from cifarctl.errors import CifarctlError, Interrupted
from cifarctl.training.context import Context, ResumePolicy
from cifarctl.training.loop import train
from cifarctl.training.metrics import read_metrics
from cifarctl.training.run_files import run_files
from cifarctl.training.settings import TrainSettings

STEPS_PER_EPOCH = 300 // 4  # the fake training set at the tutorial's batch size
TIMING_KEYS = {"time", "seconds", "images_per_second"}  # the only fields allowed to differ between runs
REPO = Path(__file__).resolve().parents[1]


def _records(path: Path) -> list[dict]:
    records, warnings = read_metrics(path)
    assert warnings == []
    return records


def _without_timing(records: list[dict]) -> list[dict]:
    return [{key: value for key, value in record.items() if key not in TIMING_KEYS} for record in records]


def test_a_normal_run_logs_every_step_line_and_every_epoch(cli, data_dir, tmp_path):
    result = cli("train", "--epochs", "2", "--log-every", "10", "--seed", "5", "--eval-every", "1")
    assert result.exit_code == 0, result.stderr
    records = _records(tmp_path / "cifar_net.metrics.jsonl")
    assert records[0] == {"kind": "run", "dataset": "cifar10", "classes": 10,  # what the run trains on, first
                          "batch_size": 4, "batch_fitted_from": None, "class_weights": None,
                          "class_weights_from": None, "sampling": "shuffle", "init_from": None,
                          "freeze_backbone": False}
    steps = [record for record in records if record["kind"] == "step"]
    epochs = [record for record in records if record["kind"] == "epoch"]
    assert len(steps) == 2 * (STEPS_PER_EPOCH // 10) and len(epochs) == 2
    assert [record["global_step"] for record in steps] == [
        epoch * STEPS_PER_EPOCH + step for epoch in range(2) for step in range(10, STEPS_PER_EPOCH + 1, 10)]
    assert [record["images"] for record in steps] == [4 * record["global_step"] for record in steps]
    assert set(steps[0]) == {"kind", "epoch", "step", "global_step", "images", "loss", "lr", "time"}
    assert set(epochs[0]) == {"kind", "epoch", "global_step", "images", "train_loss", "train_accuracy",
                              "test_accuracy", "lr", "images_per_second", "seconds", "time"}
    assert [record["global_step"] for record in epochs] == [STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]
    assert all(0 <= record["test_accuracy"] <= 1 for record in epochs)
    times = [record["time"] for record in records[1:]]  # after the header, which has none
    assert times == sorted(times)
    # the printed tutorial lines and the log hold the same values
    printed = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert printed == [f"[{r['epoch']}, {r['step']:5d}] loss: {r['loss']:.3f}" for r in steps]


def test_the_core_train_function_writes_the_log_too(data_dir, tmp_path):
    settings = TrainSettings.for_model("net", seed=2, epochs=1, log_every=25)
    result = train(settings, load_split(locate(data_dir), "train"),
                   run_files(tmp_path / "net.pth"))
    assert len(_records(result.files.metrics)) == 1 + 3 + 1  # the run header, three loss lines, one epoch


def test_each_logged_loss_is_the_mean_of_its_own_steps(data_dir, tmp_path):
    """75 steps an epoch, a line every 10: the 5 steps after [1, 70] are not carried into [2, 10]."""
    data = load_split(locate(data_dir), "train")
    every_10 = train(TrainSettings.for_model("net", seed=7, log_every=10), data, run_files(tmp_path / "a.pth"))
    every_5 = train(TrainSettings.for_model("net", seed=7, log_every=5), data, run_files(tmp_path / "b.pth"))
    fine = {(r["epoch"], r["step"]): r["loss"] for r in _records(every_5.files.metrics) if r["kind"] == "step"}
    for record in _records(every_10.files.metrics):
        if record["kind"] == "step":
            epoch, step = record["epoch"], record["step"]
            assert record["loss"] == pytest.approx((fine[epoch, step - 5] + fine[epoch, step]) / 2, rel=1e-4)


@pytest.mark.parametrize("stop_at", [37, 75, 121])  # mid-epoch, at the epoch boundary, in epoch 2
def test_ctrl_c_and_resume_give_the_same_log_as_a_straight_run(data_dir, tmp_path, stop_at):
    data = load_split(locate(data_dir), "train")
    settings = TrainSettings.for_model("net", seed=11, log_every=10)
    straight = train(settings, data, run_files(tmp_path / "straight.pth"))

    calls = iter(range(10_000))
    with pytest.raises(Interrupted):
        train(settings, data, run_files(tmp_path / "resumed.pth"),
              context=Context(should_stop=lambda: next(calls) == stop_at))
    lines_before = len(_records(tmp_path / "resumed.metrics.jsonl"))
    epochs_done, in_epoch = divmod(stop_at, STEPS_PER_EPOCH)
    assert lines_before == 1 + epochs_done * (STEPS_PER_EPOCH // 10 + 1) + in_epoch // 10  # 1: the run header
    resumed = train(settings, data, run_files(tmp_path / "resumed.pth"), policy=ResumePolicy(resume=True))
    assert _without_timing(_records(resumed.files.metrics)) == _without_timing(_records(straight.files.metrics))
    assert len(resumed.loss_history) == len(straight.loss_history) - (lines_before - 1 - epochs_done)


def test_kill_9_and_resume_leave_no_gap_and_no_duplicate(cli, data_dir, tmp_path):
    """SIGKILL right after a checkpoint write, while later lines are already in the log:
    --resume cuts them off and writes them again, once."""
    command = [sys.executable, "-m", "cifarctl", "--data-dir", str(data_dir), "train", "--epochs", "400",
               "--seed", "3", "--log-every", "10"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    files = run_files(tmp_path / "cifar_net.pth")
    for extra_delay in (0.0, 0.2):
        last_write = files.checkpoint.stat().st_mtime_ns if files.checkpoint.exists() else 0
        process = subprocess.Popen(command + (["--resume"] if files.checkpoint.exists() else []), cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (
                not files.checkpoint.exists() or files.checkpoint.stat().st_mtime_ns == last_write):
            time.sleep(0.005)
        time.sleep(extra_delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        read_metrics(files.metrics)  # a cut last line is allowed here, and only here
        checkpoint = torch.load(files.checkpoint, weights_only=True)
        assert files.metrics.stat().st_size >= checkpoint["metrics_bytes"] > 0
    epochs = checkpoint["step"] // STEPS_PER_EPOCH + 1
    done = subprocess.run(command[:6] + ["--epochs", str(epochs), "--seed", "3", "--log-every", "10", "--resume"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr

    straight = cli("--data-dir", str(data_dir), "train", "--epochs", str(epochs), "--seed", "3", "--log-every", "10",
                   "-o", "straight.pth")
    assert straight.exit_code == 0, straight.stderr
    resumed_records = _records(files.metrics)
    assert _without_timing(resumed_records) == _without_timing(_records(tmp_path / "straight.metrics.jsonl"))
    steps = [record["global_step"] for record in resumed_records if record["kind"] == "step"]
    assert steps == sorted(set(steps)) and len(steps) == epochs * (STEPS_PER_EPOCH // 10)


def test_a_cut_last_line_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "run.metrics.jsonl"
    good = {"kind": "step", "epoch": 1, "step": 10, "global_step": 10, "images": 40, "loss": 2.3, "lr": 0.001,
            "time": 0.5}
    path.write_text(json.dumps(good) + "\n" + json.dumps(good)[:25])
    records, warnings = read_metrics(path)
    assert records == [good]
    assert len(warnings) == 1 and "line 2" in warnings[0] and "cut" in warnings[0]


def test_unreadable_logs_are_one_clear_error(tmp_path):
    with pytest.raises(CifarctlError, match="does not exist"):
        read_metrics(tmp_path / "missing.metrics.jsonl")
    (tmp_path / "binary.metrics.jsonl").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CifarctlError, match="cannot be read"):
        read_metrics(tmp_path / "binary.metrics.jsonl")


def test_pandas_reads_the_log(cli, data_dir, tmp_path):
    pandas = pytest.importorskip("pandas")
    assert cli("train", "--epochs", "1", "--log-every", "25", "--seed", "1").exit_code == 0
    frame = pandas.read_json(tmp_path / "cifar_net.metrics.jsonl", lines=True)
    assert list(frame["kind"]) == ["run"] + ["step"] * 3 + ["epoch"]
    assert frame.loc[frame["kind"] == "step", "loss"].notna().all()


def test_a_full_disk_at_the_logs_last_write_names_the_log(tmp_path):
    """The last bytes may only fail when the log is closed: the error still names the file."""
    import errno

    from cifarctl.atomic_writes import WriteError
    from cifarctl.training.metrics import MetricsLog

    class FullAtClose(io.StringIO):
        def close(self):
            raise OSError(errno.ENOSPC, "No space left on device")

    log = MetricsLog(tmp_path / "run.metrics.jsonl")
    log._handle = FullAtClose()
    with pytest.raises(WriteError, match=r"cannot write .*run\.metrics\.jsonl: No space left on device; free some"):
        log.close()


def test_the_log_starts_with_what_the_run_trains_on_once_even_after_a_resume(cli, cifar100_data_dir, tmp_path):
    args = ("--data-dir", str(cifar100_data_dir), "--dataset", "cifar100", "train", "--model", "net",
            "--batch-size", "32", "--log-every", "5", "--seed", "4")
    assert cli(*args, "--epochs", "1").exit_code == 0
    resumed = cli(*args, "--epochs", "2", "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    records = _records(tmp_path / "cifar_net.metrics.jsonl")
    assert {key: records[0][key] for key in ("kind", "dataset", "classes")} == {
        "kind": "run", "dataset": "cifar100", "classes": 100}
    assert [record["kind"] for record in records].count("run") == 1
    assert [record["epoch"] for record in records if record["kind"] == "epoch"] == [1, 2]


def test_a_header_that_names_no_usable_class_count_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "run.metrics.jsonl"
    step = {"kind": "step", "epoch": 1, "step": 1, "global_step": 1, "images": 4, "loss": 2.0}
    path.write_text("".join(json.dumps(line) + "\n" for line in ({"kind": "run", "classes": 1}, step)))
    records, warnings = read_metrics(path)
    assert records == [step] and len(warnings) == 1 and "'classes'" in warnings[0]
