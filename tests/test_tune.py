"""`cifarctl tune`: tiny Optuna studies on the fake dataset (Net, a few steps a trial): the study, its
database, resume, pruning, Ctrl-C, the best settings read back by `train`, and the refusals."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import tomllib

from cifarctl.data import store

# Net trained 10 steps of 64 images a trial (2 epochs of the fake 270 training images), one thread;
# only the learning rate is searched.
TINY = ["--model", "net", "--steps", "10", "--space", "batch_size=64", "--space", "lr=0.01:0.1:log",
        "--space", "momentum=0.9", "--space", "width=6", "--seed", "0", "--threads", "1"]




def _optuna_installed() -> bool:
    try:
        import optuna  # noqa: F401
    except ImportError:
        return False
    return True


# Every study needs Optuna (the [tune] extra); without it only the install line is tested.
needs_optuna = pytest.mark.skipif(not _optuna_installed(), reason="the tune extra (optuna) is not installed")


def tune(cli, *args: str):
    return cli("tune", *TINY, *args)


def study_of(tmp_path: Path, name: str = "net-cifar10"):
    import optuna

    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'tune' / 'tune.db'}")


@pytest.fixture
def splits_read(monkeypatch) -> list[str]:
    """Every split whose images are read from the data dir, by any loader."""
    read: list[str] = []
    real = store.cached_arrays

    def recording(folder, manifest, split, classes):
        read.append(split)
        return real(folder, manifest, split, classes)

    monkeypatch.setattr(store, "cached_arrays", recording)
    return read


@needs_optuna
def test_a_study_confirms_its_best_writes_it_for_train_and_continues(cli, data_dir, tmp_path, splits_read):
    (tmp_path / "cifarctl.toml").write_text("# my settings\nseed = 5\n")
    result = tune(cli, "--trials", "3", "--confirm-seeds", "3", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(splits_read) == {"train"}  # the test split is never read, not even to confirm
    assert document["counts"] == {"complete": 3, "pruned": 0, "failed": 0, "running": 0}
    assert [trial["number"] for trial in document["trials"]] == [0, 1, 2] and document["trials_run"] == 3
    assert all(len(trial["curve"]) == 2 for trial in document["trials"])  # reported at each epoch's end
    assert (document["validation"], document["seed"], document["length"]["steps"]) == (
        {"size": 30, "seed": 0, "of": 300}, 0, 10)
    best = document["best"]
    assert best["value"] == max(trial["value"] for trial in document["trials"])
    assert best["settings"] == {"lr": pytest.approx(best["params"]["lr"], rel=1e-3), "momentum": 0.9, "width": 6,
                                "batch_size": 64}
    confirmed = document["confirmed"]
    assert confirmed["seeds"] == [1, 2, 3] and confirmed["n"] == 3 and len(confirmed["ci95"]) == 2
    assert confirmed["settings"] == best["settings"]

    folder = tmp_path / "tune" / "net-cifar10"
    names = sorted(path.name for path in folder.iterdir())
    assert "trial-0000.pth" in names and "trial-0000.metrics.jsonl" in names
    assert not any(re.fullmatch(r"trial-\d{4}\.ckpt", name) for name in names)  # a trial's checkpoint goes
    assert f"trial-{best['number']:04d}.seed3.ckpt" in names  # a re-run's stays, for a rerun to measure
    assert (folder / "history.png").read_bytes().startswith(b"\x89PNG") and document["plot"].endswith("history.png")

    config = (tmp_path / "cifarctl.toml").read_text()
    assert config.startswith("# my settings\nseed = 5\n\n[train.net]\n# written by cifarctl tune")
    assert tomllib.loads(config)["train"]["net"] == best["settings"]
    assert document["config"]["text"] in config and document["config"]["section"] == "train.net"

    trained = cli("train", "--steps", "5", "--json")  # the section is what train starts from
    assert trained.exit_code == 0, trained.stderr
    settings = json.loads(trained.stdout)["config"]
    assert (settings["lr"], settings["batch_size"], settings["width"]) == (best["settings"]["lr"], 64, 6)
    assert f"[train.net]: lr {best['settings']['lr']:g}, momentum 0.9, width 6, batch_size 64\n" in trained.stderr

    again = tune(cli, "--trials", "4", "--confirm-seeds", "3", "--json")  # the same study, one more trial
    assert again.exit_code == 0, again.stderr
    continued = json.loads(again.stdout)
    assert continued["trials_run"] == 1 and [trial["number"] for trial in continued["trials"]] == [0, 1, 2, 3]
    assert continued["trials"][:3] == document["trials"]  # finished trials are kept as they were
    assert "3 of 4 trials done, 1 to run" in again.stderr
    if continued["best"]["number"] == best["number"]:  # the same best: its re-runs are measured, not retrained
        assert [run["steps"] for run in continued["confirmed"]["runs"]] == [0, 0, 0]
        assert continued["confirmed"]["mean"] == pytest.approx(confirmed["mean"])


@needs_optuna
def test_the_live_table_and_the_report(cli, data_dir):
    result = tune(cli, "--trials", "2", "--confirm-seeds", "0")
    assert result.exit_code == 0, result.stderr
    assert re.search(r"trial  lr\s+val acc\s+epochs\s+time\s+state\n\s+0  0\.\d+\s+\d+\.\d\d %\s+2\s+\d:\d\d  complete",
                     result.stderr), result.stderr
    assert "Study net-cifar10: 2 trials (2 complete)" in result.stdout
    assert "Best: trial" in result.stdout and "net recipe" in result.stdout
    assert "best settings written to cifarctl.toml [train.net]" in result.stdout


class PruneOddTrials:
    """A pruner that stops every odd-numbered trial at its first report."""

    def prune(self, study, trial) -> bool:
        return trial.number % 2 == 1


@needs_optuna
def test_a_pruned_trial_stops_at_once_and_keeps_only_its_metrics_log(cli, data_dir, tmp_path, monkeypatch):
    import optuna

    class Pruner(PruneOddTrials, optuna.pruners.BasePruner):
        pass

    monkeypatch.setattr("cifarctl.training.study.make_pruner", lambda name: Pruner())
    result = tune(cli, "--trials", "3", "--confirm-seeds", "0", "--pruner", "hyperband", "--json")
    assert result.exit_code == 0, result.stderr
    trials = json.loads(result.stdout)["trials"]
    assert [trial["state"] for trial in trials] == ["complete", "pruned", "complete"]
    pruned = trials[1]
    assert pruned["note"] == "pruned after epoch 1" and len(pruned["curve"]) == 1
    assert pruned["value"] == pruned["curve"][0][1] and pruned["output"] is None
    folder = tmp_path / "tune" / "net-cifar10"
    assert (folder / "trial-0001.metrics.jsonl").exists()
    assert not (folder / "trial-0001.pth").exists() and not (folder / "trial-0001.ckpt").exists()
    log = (folder / "trial-0001.metrics.jsonl").read_text().splitlines()
    epochs = [line for line in log if '"kind": "epoch"' in line]
    assert len(epochs) == 1  # it trained no further than the epoch it was pruned at


@needs_optuna
def test_ctrl_c_keeps_finished_trials_and_the_same_command_continues(cli, data_dir, tmp_path, monkeypatch):
    from cifarctl.interrupts import StopRequest
    from cifarctl.training import tuning

    class StopDuringTheSecondTrial(StopRequest):
        def __call__(self) -> bool:
            started = study_of(tmp_path).get_trials(deepcopy=False)
            return len(started) == 2 or self.requested

    monkeypatch.setattr(tuning, "StopRequest", StopDuringTheSecondTrial)
    result = tune(cli, "--trials", "2", "--confirm-seeds", "0")
    assert result.exit_code == 130, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: interrupted during trial 1, which the study keeps as failed; every finished trial is kept: rerun "
        "the same command to continue the study")
    states = [trial.state.name for trial in study_of(tmp_path).get_trials()]
    assert states == ["COMPLETE", "FAIL"]
    assert not (tmp_path / "tune" / "net-cifar10" / "trial-0001.ckpt").exists()

    monkeypatch.setattr(tuning, "StopRequest", StopRequest)
    again = tune(cli, "--trials", "2", "--confirm-seeds", "0", "--json")
    assert again.exit_code == 0, again.stderr
    trials = json.loads(again.stdout)["trials"]
    assert [(trial["number"], trial["state"], trial["note"]) for trial in trials] == [
        (0, "complete", ""), (1, "failed", "interrupted"), (2, "complete", "")]


@needs_optuna
def test_a_trial_left_running_by_a_dead_process_is_failed_on_the_next_run(cli, data_dir, tmp_path):
    import optuna

    assert tune(cli, "--trials", "1", "--confirm-seeds", "0").exit_code == 0
    study = study_of(tmp_path)
    orphan = study.ask()
    orphan.set_user_attr("host", __import__("socket").gethostname())
    orphan.set_user_attr("pid", 2**22 + 12345)  # no such process
    result = tune(cli, "--trials", "2", "--confirm-seeds", "0", "--json")
    assert result.exit_code == 0, result.stderr
    assert "trial 1 was left running by a process that ended: kept as failed" in result.stderr
    assert [trial.state for trial in study_of(tmp_path).get_trials()] == [
        optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE]


@needs_optuna
@needs_optuna
@pytest.mark.parametrize(("args", "message"), [
    (["--space", "colour=1:2"], "--space 'colour=1:2': net has no setting 'colour'; it takes lr, momentum,"),
    (["--space", "lr"], "--space 'lr' is not NAME=RANGE (e.g. lr=0.1:2:log"),
    (["--space", "lr=0.1:2:cubic"], "--space 'lr=0.1:2:cubic': 'cubic' is neither 'log' nor a step"),
    (["--space", "lr=2:0.1"], "the range's low end must be below its high end"),
    (["--space", "lr=0:1:log"], "'lr=0:1:log': 0 is outside 0 < lr <= 1e+06"),
    (["--space", "momentum=0.5:1.5"], "'momentum=0.5:1.5': 1.5 is outside 0 <= momentum < 1"),
    (["--space", "width=8.5,16"], "'width=8.5,16': '8.5' is not a whole number"),
    (["--space", "width=8,8"], "names a value twice"),
    (["--space", "lr=0.1:x"], "'x' is not a number"),
    (["--space", "lr=1:2", "--space", "lr=3:4"], "--space lr is given twice"),
    (["--space", "lr=0.5", "--space", "momentum=0.9", "--space", "width=6"], "nothing to search: net's space"),
    (["--steps", "5", "--time-budget", "1m"], "--time-budget and --steps each set a trial's length; give one"),
    (["--confirm-seeds", "2"], "a 95 % interval needs at least 3 seeds"),
    (["--compare-defaults", "--confirm-seeds", "0"], "--compare-defaults re-runs the recipe's defaults"),
    (["--storage", "tune.db"], "--storage 'tune.db' is not a database URL; use sqlite:///tune.db"),
    (["--study", "a/b"], "'a/b' is not a study name"),
    (["--pruner", "asha"], "'asha' is not one of: median, hyperband, none"),
])
def test_bad_searches_are_refused_in_one_line_with_exit_2(cli, tmp_path, args, message):
    result = cli("tune", "--model", "net", *args)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "tune").exists()


@needs_optuna
def test_more_jobs_than_cores_are_refused(cli, monkeypatch):
    monkeypatch.setattr("cifarctl.cpu_threads.cores_available", lambda: 2)
    result = cli("tune", "--jobs", "3")
    assert result.exit_code == 2 and "--jobs 3 needs 3 cores; this machine has 2: ask for fewer" in result.stderr


@needs_optuna
def test_a_study_of_another_model_or_not_of_cifarctl_is_refused(cli, data_dir, tmp_path):
    import optuna

    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    other = optuna.create_study(study_name="mine", storage=storage, direction="maximize")
    other.set_user_attr("cifarctl", {"model": "fast", "dataset": "cifar10"})
    foreign = optuna.create_study(study_name="foreign", storage=storage, direction="maximize")
    foreign.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5))
    for study, message in (("mine", "study 'mine' in {} tunes fast on cifar10, not net on cifar10; choose another "
                                    "--study (or --storage)"),
                           ("foreign", "study 'foreign' in {} was not made by cifarctl tune; choose another --study")):
        result = tune(cli, "--storage", storage, "--study", study)
        assert result.exit_code == 2, result.stderr
        assert result.stderr.strip() == "error: " + message.format(storage)


@needs_optuna
def test_a_study_is_continued_only_with_the_same_length_and_split(cli, data_dir):
    assert tune(cli, "--trials", "1", "--confirm-seeds", "0").exit_code == 0
    longer = cli("tune", *[arg if arg != "10" else "20" for arg in TINY], "--trials", "2")
    assert longer.exit_code == 2
    assert "trains each trial for --steps 10, not --steps 20; ask for the same, or choose another --study" in (
        longer.stderr)
    other_split = tune(cli, "--trials", "2", "--val-split", "60")
    assert other_split.exit_code == 2 and "measures its trials on 30 images held out of 300" in other_split.stderr
    other_seed = tune(cli, "--trials", "2", "--seed", "4")
    assert other_seed.exit_code == 2 and "trains every trial with seed 0; rerun with --seed 0" in other_seed.stderr


def test_without_optuna_one_line_names_the_extra(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    result = cli("tune", "--steps", "5")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: cifarctl tune needs Optuna, an optional extra: pip install 'cifarctl[tune]'"


@needs_optuna
@pytest.mark.slow
def test_jobs_run_trials_side_by_side_on_their_share_of_the_cores(cli, data_dir, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr("cifarctl.cpu_threads.cores_available", lambda: 2)
    result = cli("tune", *[arg for arg in TINY if arg not in ("--threads", "1")], "--trials", "3", "--jobs", "2",
                 "--confirm-seeds", "0", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["counts"]["complete"] >= 3 and document["jobs"] == 2
    assert "2 processes, 1 CPU thread each" in result.stderr
    for trial in document["trials"]:
        made_by = torch.load(trial["output"], weights_only=True)["made_by"]
        assert made_by["settings"]["threads"] == 1  # 2 cores shared by 2 processes


@needs_optuna
@pytest.mark.slow
def test_under_torchrun_every_process_trains_each_trial(data_dir, tmp_path):
    import os
    import subprocess

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
               "cifarctl", "--data-dir", str(data_dir), "tune", *TINY, "--trials", "2", "--confirm-seeds", "0",
               "--json"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(done.stdout)  # one document: rank 0 alone reports
    assert document["counts"]["complete"] == 2
    assert done.stderr.count("study net-cifar10") == 1 and "each trial on 2 processes (torchrun)" in done.stderr
    import torch

    assert torch.load(tmp_path / "tune" / "net-cifar10" / "trial-0001.pth", weights_only=True)["made_by"][
        "processes"] == 2
