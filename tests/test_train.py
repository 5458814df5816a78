"""`cifarctl train`: tutorial defaults, saved files, log lines, resume, JSON."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from helpers import TutorialNet, limit_file_size

from cifarctl.data.catalog import locate
from cifarctl.data.memory import load_split
from cifarctl.errors import Interrupted, UsageError
from cifarctl.training.context import Context, ResumePolicy
from cifarctl.training.loop import train
from cifarctl.training.run_files import run_files
from cifarctl.training.settings import TrainSettings


def test_defaults_are_the_tutorials(cli, data_dir):
    settings = TrainSettings.for_model("net")
    assert (settings.options, settings.epochs, settings.batch_size, settings.recipe.lr, settings.recipe.momentum,
            settings.log_every) == ({"width": 6}, 2, 4, 0.001, 0.9, 2000)
    result = cli("train", "--json", "--seed", "1")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    config = document["config"]
    assert (config["epochs"], config["batch_size"], config["lr"], config["momentum"], config["log_every"],
            config["width"]) == (2, 4, 0.001, 0.9, 2000, 6)
    assert document["output"] == "cifar_net.pth"
    assert document["steps"] == 2 * 300 // 4


def test_saved_file_loads_in_the_tutorials_net(cli, data_dir, tmp_path):
    assert cli("train", "--epochs", "1", "--seed", "0").exit_code == 0
    net = TutorialNet()
    net.load_state_dict(torch.load(tmp_path / "cifar_net.pth", weights_only=True))
    assert (tmp_path / "cifar_net.ckpt").is_file()


def test_tutorial_log_lines_in_plain_output(cli, data_dir):
    result = cli("train", "--epochs", "2", "--log-every", "25", "--seed", "0")
    assert result.exit_code == 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert lines[0].startswith("[1,    25] loss: ") and len(lines[0]) == len("[1,    25] loss: 2.303")
    assert lines[-1].startswith("[2,    75] loss: ")
    assert len(lines) == 6
    assert "\x1b[" not in result.stderr
    assert "Finished Training" in result.stdout


def test_json_keeps_stdout_clean(cli, data_dir):
    result = cli("train", "--epochs", "1", "--log-every", "10", "--json", "--seed", "2")
    document = json.loads(result.stdout)
    assert set(document) >= {"config", "epochs", "final_loss", "train_seconds", "images_per_second", "output"}
    assert document["config"]["seed"] == 2
    assert "[1,    10] loss:" in result.stderr


def test_width_option_and_evaluate_infers_it(cli, data_dir):
    assert cli("train", "--epochs", "1", "--width", "10", "-o", "wide.pth", "--seed", "0").exit_code == 0
    result = cli("evaluate", "--model", "wide.pth", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["model"]["width"] == 10


def _weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize("stop_at", [37, 75])  # mid-epoch, and exactly at the epoch boundary
def test_interrupted_and_resumed_run_is_bit_identical(data_dir, tmp_path, stop_at):
    data = load_split(locate(data_dir), "train")
    settings = TrainSettings.for_model("net", seed=123, log_every=10)
    train(settings, data, run_files(tmp_path / "straight.pth"))

    calls = iter(range(10_000))
    with pytest.raises(Interrupted, match="--resume"):
        train(settings, data, run_files(tmp_path / "resumed.pth"),
              context=Context(should_stop=lambda: next(calls) == stop_at))
    assert not (tmp_path / "resumed.pth").exists()
    result = train(settings, data, run_files(tmp_path / "resumed.pth"), policy=ResumePolicy(resume=True))
    assert result.resumed_from == divmod(stop_at, 75)
    straight, resumed = _weights(tmp_path / "straight.pth"), _weights(tmp_path / "resumed.pth")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)


def test_resume_refuses_different_settings(data_dir, tmp_path):
    data = load_split(locate(data_dir), "train")
    train(TrainSettings.for_model("net", epochs=1, seed=1), data, run_files(tmp_path / "a.pth"))
    with pytest.raises(UsageError, match="batch_size 4 \\(now 8\\)"):
        train(TrainSettings.for_model("net", epochs=1, seed=1, batch_size=8), data, run_files(tmp_path / "a.pth"),
              policy=ResumePolicy(resume=True))
    with pytest.raises(UsageError, match="no checkpoint"):
        train(TrainSettings.for_model("net"), data, run_files(tmp_path / "b.pth"), policy=ResumePolicy(resume=True))


def test_resume_can_extend_training(data_dir, tmp_path, cli):
    assert cli("train", "--epochs", "1", "--seed", "4").exit_code == 0
    result = cli("train", "--epochs", "2", "--resume", "--json")  # the seed comes from the checkpoint
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["resumed_from"] == {"epoch": 2, "step": 0}
    assert document["epochs_run"] == 1 and document["config"]["seed"] == 4


def test_learnable_data_is_learned(cli, data_dir):
    assert cli("train", "--epochs", "6", "--seed", "0").exit_code == 0
    result = cli("evaluate", "--json")
    accuracy = json.loads(result.stdout)["accuracy"]
    assert accuracy > 0.5, f"accuracy {accuracy} is not well above the 10% of guessing"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--epochs", "0"], "--epochs"),
        (["--batch-size", "0"], "--batch-size"),
        (["--lr", "0"], "--lr"),
        (["--lr", "-1"], "--lr"),
        (["--momentum", "1"], "--momentum"),
        (["--width", "0"], "--width"),
        (["--output", "."], "is a directory"),
        (["--output", "x.ckpt"], ".ckpt"),
    ],
)
def test_bad_train_options(cli, args, fragment):
    result = cli("train", *args)
    assert result.exit_code == 2, result.stderr
    assert fragment in result.stderr


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(data_dir, tmp_path):
    """A real SIGINT to the installed command: exit 130, a checkpoint, and --resume completes."""
    command = ["cifarctl", "--data-dir", str(data_dir), "train", "--epochs", "30", "--log-every", "5", "--seed", "9"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    deadline = time.monotonic() + 60
    for line in process.stderr:
        if line.startswith("[1,    10]") or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    _stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert (tmp_path / "cifar_net.ckpt").is_file() and not (tmp_path / "cifar_net.pth").exists()
    done = subprocess.run(command + ["--resume", "--epochs", "1"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cifar_net.pth").is_file()


def test_model_option_lists_the_registered_models(cli, data_dir):
    from cifarctl.models import registry

    result = cli("train", "--model", "resnet")
    assert result.exit_code == 2 and "--model" in result.stderr
    assert "choose one of: " + ", ".join(registry.names()) in result.stderr


@pytest.mark.slow
def test_kill_9_during_training_never_leaves_a_half_file(data_dir, tmp_path):
    """Kill training at several moments, some right around a checkpoint write; every file
    under a real name always loads, and --resume finishes the job."""
    command = ["cifarctl", "--data-dir", str(data_dir), "train", "--epochs", "400", "--seed", "3", "--log-every", "10"]
    checkpoint = tmp_path / "cifar_net.ckpt"
    for extra_delay in (0.0, 0.05, 0.3):
        last_write = checkpoint.stat().st_mtime_ns if checkpoint.exists() else 0
        process = subprocess.Popen(command + (["--resume"] if checkpoint.exists() else []),
                                   cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (not checkpoint.exists() or checkpoint.stat().st_mtime_ns == last_write):
            time.sleep(0.01)
        time.sleep(extra_delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        for path in tmp_path.iterdir():
            if path.suffix in (".pth", ".ckpt"):
                torch.load(path, weights_only=True)  # complete and valid, or it would raise
    assert checkpoint.exists()
    base = command[:4]  # cifarctl --data-dir DIR train
    done = subprocess.run(base + ["--epochs", "1", "--seed", "3", "--resume"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "already trained" in done.stderr  # fewer epochs than done: refused
    state = torch.load(checkpoint, weights_only=True)
    done = subprocess.run(base + ["--epochs", str(state["step"] // 75 + 1), "--seed", "3", "--resume"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    torch.load(tmp_path / "cifar_net.pth", weights_only=True)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_resuming_a_finished_run_just_writes_the_output(cli, data_dir, tmp_path):
    assert cli("train", "--epochs", "1", "--seed", "2").exit_code == 0
    (tmp_path / "cifar_net.pth").unlink()  # as if killed between the checkpoint and the model file
    result = cli("train", "--epochs", "1", "--resume", "--json")
    assert result.exit_code == 0, result.stderr
    assert "nothing left to train" in result.stderr
    assert json.loads(result.stdout)["steps"] == 0
    torch.load(tmp_path / "cifar_net.pth", weights_only=True)


def test_resume_without_a_checkpoint_fails_before_anything_else(cli, data_dir):
    result = cli("train", "--resume")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --resume: no checkpoint at cifar_net.ckpt")


@pytest.mark.slow
def test_closing_the_pipe_does_not_stop_training(data_dir, tmp_path):
    """`cifarctl train ... | head -1`: the reader leaves, training still finishes and saves."""
    shell = (f"cifarctl --data-dir {data_dir} train --epochs 2 --log-every 1 --seed 1 2>&1 | head -1; "
             "echo status=${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "status=0" in done.stdout, done.stdout + done.stderr
    assert "BrokenPipe" not in done.stderr
    torch.load(tmp_path / "cifar_net.pth", weights_only=True)


def test_disk_full_while_saving_a_model_keeps_the_old_one(cli, data_dir, tmp_path):
    assert cli("train", "--epochs", "1", "--seed", "0").exit_code == 0
    good = (tmp_path / "cifar_net.pth").read_bytes()
    done = subprocess.run(["cifarctl", "--data-dir", str(data_dir), "train", "--epochs", "1", "--seed", "1",
                           "--width", "64"], cwd=tmp_path, capture_output=True, text=True,
                          preexec_fn=limit_file_size(len(good) + 1000), timeout=120)
    assert done.returncode == 1 and "File too large" in done.stderr, done.stderr
    assert (tmp_path / "cifar_net.pth").read_bytes() == good
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def _start_training(data_dir, tmp_path, *args):
    """A long training run, returned once it has logged its first loss line."""
    command = ["cifarctl", "--data-dir", str(data_dir), "train", "--epochs", "300", "--log-every", "5", "--seed", "4",
               *args]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    for line in process.stderr:
        if line.startswith("[1,") or time.monotonic() > deadline:
            break
    return process


SIGNALS = [(signal.SIGHUP, 129, "hung up"), (signal.SIGTERM, 143, "terminated")]
ONE_RUN_AND_A_SWEEP = [((), "cifar_net.ckpt"), (("--repeats", "2"), "cifar_net.seed4.ckpt")]  # seeds 4 and 5


@pytest.mark.parametrize(("signum", "code", "word"), SIGNALS)
@pytest.mark.parametrize(("args", "checkpoint"), ONE_RUN_AND_A_SWEEP)
def test_sighup_and_sigterm_save_a_checkpoint_like_ctrl_c(data_dir, tmp_path, signum, code, word, args, checkpoint):
    """A closed terminal or `kill` loses no work, in one run or a sweep: the checkpoint is saved,
    one line says why, 128 + signal."""
    process = _start_training(data_dir, tmp_path, *args)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {word} at epoch 1") and "--resume" in errors[0], stderr
    state = torch.load(tmp_path / checkpoint, weights_only=True)
    assert 0 < state["step"] < state["total_steps"]


def test_a_second_run_on_the_same_files_is_refused_at_once_while_the_first_runs(cli, data_dir, tmp_path):
    """Two runs writing one model, checkpoint and log: the second is refused, the first is not disturbed."""
    first = _start_training(data_dir, tmp_path, "-o", "m.pth")
    try:
        for output in ("m.pth", "./m.pth", "m"):  # `m` has the same checkpoint and log as `m.pth`
            started = time.monotonic()
            second = cli("train", "--epochs", "1", "--seed", "5", "-o", output)
            assert second.exit_code == 1, second.stderr
            assert "another training run (process " in second.stderr and "choose another --output" in second.stderr
            assert time.monotonic() - started < 30
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130
    state = torch.load(tmp_path / "m.ckpt", weights_only=True)
    assert state["settings"]["seed"] == 4
    assert not list(tmp_path.glob(".*.lock"))  # the lock goes with the run
    assert cli("train", "--epochs", "1", "--seed", "5", "-o", "other.pth").exit_code == 0


@pytest.mark.parametrize("args", [(), ("--seeds", "0-1")])
def test_too_little_disk_space_is_found_before_training(cli, data_dir, tmp_path, monkeypatch, args):
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr("cifarctl.output_paths.shutil.disk_usage", lambda path: real(path)._replace(free=200_000))
    result = cli("train", "--epochs", "1", "--seed" if not args else "--log-every", "0" if not args else "5", *args)
    assert result.exit_code == 1, result.stderr
    assert result.stderr.startswith("error: training net needs about ") and "free some space" in result.stderr
    assert "[1," not in result.stderr  # refused before the first step
    assert not list(tmp_path.glob("*.ckpt")) and not list(tmp_path.glob("*.metrics.jsonl"))


def test_a_sweep_refuses_an_output_another_run_holds(cli, data_dir, tmp_path):
    """A sweep whose second seed's files belong to a running run is refused before its first seed trains."""
    first = _start_training(data_dir, tmp_path, "-o", "m.seed1.pth")
    try:
        sweep = cli("train", "--epochs", "1", "--seeds", "0-1", "-o", "m.pth")
        assert sweep.exit_code == 1, sweep.stderr
        assert "another training run (process " in sweep.stderr and "m.seed1.pth" in sweep.stderr
        assert not (tmp_path / "m.seed0.pth").exists() and not (tmp_path / "m.seed0.ckpt").exists()
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert not list(tmp_path.glob(".*.lock"))


def test_a_failed_write_after_a_checkpoint_names_the_file_and_the_kept_checkpoint(cli, data_dir, tmp_path, monkeypatch):
    """The model file cannot be written at the end: the error names it and says the run's checkpoint is safe."""
    import errno

    from cifarctl.atomic_writes import write_error

    def full(path, *args, **kwargs):
        raise write_error(path, OSError(errno.ENOSPC, "No space left on device"))

    with monkeypatch.context() as patched:
        patched.setattr("cifarctl.training.loop.save_trained_model", full)
        result = cli("train", "--steps", "10", "--seed", "0")
    assert result.exit_code == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: cannot write cifar_net.pth: No space left on device")
    assert "the last checkpoint (cifar_net.ckpt) was kept" in line and "--resume" in line
    resumed = cli("train", "--steps", "10", "--seed", "0", "--resume")
    assert resumed.exit_code == 0 and (tmp_path / "cifar_net.pth").is_file()


def test_nohup_keeps_training_through_a_hangup(data_dir, tmp_path):
    """`nohup cifarctl train`: SIGHUP is ignored on purpose and must stay ignored."""
    import sys

    command = [sys.executable, "-c", "import signal, sys; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
               "from cifarctl.cli.app import main; sys.argv[0] = 'cifarctl'; main()",
               "--data-dir", str(data_dir), "train", "--steps", "300", "--log-every", "5", "--seed", "4"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in process.stderr:
        if line.startswith("[1,"):
            break
    process.send_signal(signal.SIGHUP)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert (tmp_path / "cifar_net.pth").is_file()


def test_training_on_cifar100_gives_the_net_a_100_way_head_and_a_described_file(cli, cifar100_data_dir, tmp_path):
    from cifarctl.inference.model_files import load_trained_model

    common = ("--data-dir", str(cifar100_data_dir), "--dataset", "cifar100", "train", "--epochs", "1")
    result = cli(*common, "--model", "net", "--batch-size", "32", "--output", str(tmp_path / "net100.pth"), "--json")
    assert result.exit_code == 0, result.stderr
    assert (json.loads(result.stdout)["config"]["dataset"], json.loads(result.stdout)["config"]["classes"]) == (
        "cifar100", 100)
    saved = torch.load(tmp_path / "net100.pth", weights_only=True)
    # not the tutorial's bare state_dict: a Net of 100 outputs must say what they are
    assert saved["dataset"] == "cifar100" and saved["classes"][:2] == ["apple", "aquarium_fish"]
    assert tuple(saved["state_dict"]["fc3.weight"].shape) == (100, 84)
    trained = load_trained_model(tmp_path / "net100.pth")
    assert (trained.dataset, len(trained.classes), trained.info.classes) == ("cifar100", 100, 100)
    checkpoint = load_trained_model(tmp_path / "net100.ckpt")
    assert checkpoint.classes == trained.classes


def test_the_tutorial_net_on_cifar10_is_still_a_bare_state_dict(cli, data_dir, tmp_path):
    output = str(tmp_path / "cifar_net.pth")
    assert cli("train", "--epochs", "1", "--batch-size", "32", "--output", output).exit_code == 0
    net = TutorialNet()
    net.load_state_dict(torch.load(tmp_path / "cifar_net.pth", weights_only=True))  # the tutorial's own load


def test_resuming_on_another_dataset_is_refused(cli, _imported_cifar100, data_dir, tmp_path):
    import shutil

    shutil.copytree(_imported_cifar100 / "cifar-100-python", data_dir / "cifar-100-python")
    output = str(tmp_path / "m.pth")
    assert cli("--data-dir", str(data_dir), "train", "--epochs", "1", "--batch-size", "32",
               "--output", output).exit_code == 0
    result = cli("--data-dir", str(data_dir), "--dataset", "cifar100", "train", "--epochs", "2", "--batch-size", "32",
                 "--output", output, "--resume")
    assert result.exit_code == 2
    assert "dataset cifar10 (now cifar100)" in result.stderr
    assert "classes of 10 (plane, car, bird, ...) (now of 100 (apple, aquarium_fish, baby, ...))" in result.stderr


def test_a_run_on_another_dataset_than_cifar10_names_it(cli, data_dir, _imported_cifar100):
    import shutil

    shutil.copytree(_imported_cifar100 / "cifar-100-python", data_dir / "cifar-100-python")  # both in one data dir
    result = cli("--dataset", "cifar100", "train", "--model", "net",
                 "--epochs", "1", "--batch-size", "32", "--seed", "0", "--val-split", "100")
    assert result.exit_code == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("training Net (width 6) on 700 CIFAR-100 images (100 more held out for validation) on ")
    summary = result.stdout.split("Training summary")[1]
    assert "dataset" in summary and "CIFAR-100, 100 classes" in summary
    tutorial = cli("train", "--epochs", "1", "--seed", "0")  # CIFAR-10 goes without saying, as before
    assert tutorial.stderr.splitlines()[0].startswith("training Net (width 6) on 300 images on ")
    assert "dataset" not in tutorial.stdout.split("Training summary")[1]


def test_a_diverging_run_leaves_the_earlier_runs_files_as_they_were(cli, data_dir, tmp_path):
    """A finished run, then a new run on the same output that diverges before its first checkpoint:
    the model, checkpoint and metrics log are still the first run's, all three, and the error
    says this run wrote none of them."""
    assert cli("train", "--epochs", "1", "--seed", "1", "--log-every", "5", "-o", "dv.pth").exit_code == 0
    before = {name: (tmp_path / name).read_bytes() for name in ("dv.pth", "dv.ckpt", "dv.metrics.jsonl")}
    result = cli("train", "--epochs", "1", "--seed", "1", "--log-every", "5", "--lr", "500", "-o", "dv.pth")
    assert result.exit_code == 1 and "training diverged" in result.stderr, result.stderr
    assert "this run wrote no checkpoint; dv.ckpt and its metrics log are an earlier run's" in result.stderr
    assert "(epoch 1)" in result.stderr
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    assert not [path for path in tmp_path.iterdir() if ".tmp-" in path.name]
    assert cli("plot", "dv.pth").exit_code == 0


def test_a_new_runs_log_replaces_the_earlier_one_with_its_first_checkpoint(data_dir, tmp_path):
    files = run_files(tmp_path / "m.pth")
    data = load_split(locate(data_dir), "train")
    train(TrainSettings.for_model("net", epochs=1, seed=1, log_every=5), data, files)
    first_log = files.metrics.read_text()
    calls = iter(range(10_000))
    with pytest.raises(Interrupted):  # stopped at its 10th step: the stop saves its first checkpoint
        train(TrainSettings.for_model("net", epochs=2, seed=2, log_every=5), data, files,
              policy=ResumePolicy(restart=True), context=Context(should_stop=lambda: next(calls) == 10))
    log = files.metrics.read_text()
    assert log != first_log and log.count('"kind": "step"') == 2  # the new run's two loss lines, only
    assert torch.load(files.checkpoint, weights_only=True)["settings"]["seed"] == 2


@pytest.mark.parametrize(("model", "batch_size", "log_every"), [
    ("net", None, 2000), ("net", 4, 2000), ("net", 32, 250), ("net", 100_000, 1), ("fast", 128, 40)])
def test_the_default_loss_line_comes_as_often_per_image_at_any_batch_size(model, batch_size, log_every):
    """The tutorial's line every 2000 batches of 4: at batch 32 every 250 (5 lines an epoch, not none)."""
    assert TrainSettings.for_model(model, batch_size=batch_size).log_every == log_every
    assert TrainSettings.for_model(model, batch_size=batch_size, log_every=7).log_every == 7


def test_a_stop_during_the_end_of_run_measuring_is_honoured_within_a_batch(data_dir, tmp_path, monkeypatch):
    """SIGTERM while --eval-every measures the last epoch: the measuring stops after the batch in
    hand, the finished run's checkpoint is saved, and --resume writes the model from it."""
    from cifarctl.training import measuring

    measured_batches = []
    real_predict = measuring.predict

    def counted_predict(*args, **kwargs):
        measured_batches.append(1)
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(measuring, "EVALUATION_BATCH", 10)
    monkeypatch.setattr(measuring, "predict", counted_predict)
    place = locate(data_dir)
    data, test = load_split(place, "train"), load_split(place, "test")
    settings = TrainSettings.for_model("net", epochs=1, seed=2, eval_every=1)
    files = run_files(tmp_path / "m.pth")
    with pytest.raises(Interrupted, match="rerun the same command with --resume"):
        train(settings, data, files, test, context=Context(should_stop=lambda: len(measured_batches) >= 2))
    assert len(measured_batches) == 2 and len(test) > 20  # stopped after the second of 10 batches
    state = torch.load(files.checkpoint, weights_only=True)
    assert state["step"] == state["total_steps"] and not files.output.exists()
    resumed = train(settings, data, files, test, policy=ResumePolicy(resume=True))
    assert files.output.is_file() and resumed.steps == 0
