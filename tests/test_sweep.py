"""Repeated runs (`train --seeds/--repeats`, `--lr A,B,C`): names, statistics, reports, resume."""

import json
import math
from pathlib import Path

import pytest
import torch

from cifarctl.data.catalog import locate
from cifarctl.data.memory import load_split
from cifarctl.errors import Interrupted, UsageError
from cifarctl.statistics import summarize, welch_p_value
from cifarctl.training.context import Context, ResumePolicy
from cifarctl.training.settings import TrainSettings
from cifarctl.training.sweep import RunOutcome, SweepResult, run_sweep
from cifarctl.training.sweep_plan import parse_seeds, plan_runs, repeat_seeds, run_output


def test_summary_matches_a_hand_computation():
    values = [0.50, 0.52, 0.47, 0.51, 0.55]
    summary = summarize(values)
    mean = 2.55 / 5  # 0.51
    std = math.sqrt((0.01**2 + 0.01**2 + 0.04**2 + 0 + 0.04**2) / 4)  # sample std: sqrt(0.0034 / 4)
    half = 2.7764451051977987 * std / math.sqrt(5)  # Student t, 4 degrees of freedom, 97.5 %
    assert summary.n == 5
    assert summary.mean == pytest.approx(mean) and summary.std == pytest.approx(std)
    assert (summary.low, summary.high) == (pytest.approx(mean - half), pytest.approx(mean + half))
    assert summary.as_json()["ci95"] == [round(mean - half, 6), round(mean + half, 6)]


def test_one_value_has_no_spread_and_bounds_clip_the_interval():
    assert summarize([0.4]).std is None and summarize([0.4]).low is None
    wide = summarize([0.0, 1.0, 0.0], bounds=(0.0, 1.0))
    assert wide.low == 0.0 and wide.high == 1.0


def test_welch_test_matches_a_hand_computation():
    from scipy.stats import t as student_t

    first, second = [0.60, 0.62, 0.61], [0.50, 0.52, 0.55]
    variance_1, variance_2 = 0.0002 / 2, 0.0038 / 3 / 2  # sample variances: 0.0001 and 0.000633...
    standard_error = math.sqrt(variance_1 / 3 + variance_2 / 3)
    t_value = (0.61 - 1.57 / 3) / standard_error  # 5.543
    df = (variance_1 / 3 + variance_2 / 3) ** 2 / ((variance_1 / 3) ** 2 / 2 + (variance_2 / 3) ** 2 / 2)  # 2.62
    assert (t_value, df) == (pytest.approx(5.5432, abs=1e-4), pytest.approx(2.6162, abs=1e-4))
    assert welch_p_value(first, second) == pytest.approx(2 * student_t.sf(t_value, df))  # 0.0165
    assert welch_p_value([0.5], second) is None
    assert welch_p_value([0.5, 0.5], [0.5, 0.5]) == 1.0


def test_sweep_result_summaries_and_comparison():
    runs = [RunOutcome(seed, lr, accuracy, 1.0, 1.0, Path(f"m{seed}.pth"), False)
            for lr, accuracies in ((0.1, [0.60, 0.62, 0.61]), (0.2, [0.50, 0.52, 0.55]), (0.3, [0.60, 0.58, 0.63]))
            for seed, accuracy in enumerate(accuracies)]
    result = SweepResult("lr", "val", runs)
    rows = {row.value: row for row in result.comparison()}
    assert rows[0.1].verdict == "best" and rows[0.1].gap == 0
    assert rows[0.2].verdict == "worse beyond the noise" and rows[0.2].gap == pytest.approx(0.61 - 1.57 / 3)
    assert rows[0.3].verdict == "within the noise"
    document = result.as_json()
    assert document["split"] == "val" and [row["lr"] for row in document["summary"]] == [0.1, 0.2, 0.3]
    assert document["summary"][0]["mean"] == pytest.approx(0.61) and document["summary"][0]["n"] == 3
    # 0.60, 0.62, 0.61: std 0.01; the interval is 0.61 ± t(97.5 %, 2 df) 4.3027 x 0.01 / sqrt(3)
    half = 4.302652729911275 * 0.01 / math.sqrt(3)
    assert document["summary"][0]["std"] == pytest.approx(0.01, abs=1e-6)
    assert document["summary"][0]["ci95"] == pytest.approx([0.61 - half, 0.61 + half], abs=1e-6)


@pytest.mark.parametrize(("text", "seeds"), [("0-4", [0, 1, 2, 3, 4]), ("3", [3]), ("1,3,7", [1, 3, 7]),
                                             ("2-3,9,2", [2, 3, 9]), (" 5 - 6 ", [5, 6])])
def test_seed_lists(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "not a seed"), ("a-b", "not a seed"), ("4-1", "runs backwards"), ("-1", "not a seed"),
    ("0-99999", "more than 1000 runs"), (f"{2**63}", "seeds go up to"), ("1,,2", "not a seed"),
])
def test_bad_seed_lists(text, fragment):
    with pytest.raises(UsageError, match=fragment):
        parse_seeds(text)


def test_repeats_and_names():
    assert repeat_seeds(3, None) == [0, 1, 2] and repeat_seeds(2, 10) == [10, 11]
    with pytest.raises(UsageError, match="past the largest seed"):
        repeat_seeds(2, 2**63 - 1)
    assert run_output(Path("out/cifar_net.pth"), 3) == Path("out/cifar_net.seed3.pth")
    assert run_output(Path("net"), 0, "lr", 0.3) == Path("net.lr0.3.seed0")
    planned = plan_runs(Path("m.pth"), [0, 1], "lr", [0.1, 0.2])
    assert [run.files.output.name for run in planned] == ["m.lr0.1.seed0.pth", "m.lr0.1.seed1.pth",
                                                          "m.lr0.2.seed0.pth", "m.lr0.2.seed1.pth"]
    assert planned[0].files.checkpoint.name == "m.lr0.1.seed0.ckpt"
    with pytest.raises(UsageError, match="no seeds"):
        plan_runs(Path("m.pth"), [])


def test_train_seeds_writes_one_model_and_log_per_seed(cli, data_dir, tmp_path):
    result = cli("train", "--epochs", "1", "--seeds", "0-2", "--val-split", "30", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["split"] == "val" and document["option"] is None
    assert [run["seed"] for run in document["runs"]] == [0, 1, 2]
    for seed in range(3):
        for name in (f"cifar_net.seed{seed}.pth", f"cifar_net.seed{seed}.ckpt", f"cifar_net.seed{seed}.metrics.jsonl"):
            assert (tmp_path / name).is_file()
    accuracies = [run["accuracy"] for run in document["runs"]]
    summary = document["summary"][0]
    assert summary["n"] == 3 and summary["mean"] == pytest.approx(sum(accuracies) / 3, abs=1e-6)
    models = [f"cifar_net.seed{seed}.pth" for seed in range(3)]
    evaluated = json.loads(cli("evaluate", "--split", "val", "--json", *models).stdout)
    assert [model["accuracy"] for model in evaluated["models"]] == pytest.approx(accuracies, abs=1e-6)
    assert evaluated["accuracy"]["mean"] == pytest.approx(summary["mean"], abs=1e-6)
    assert evaluated["accuracy"]["std"] == pytest.approx(summary["std"], abs=1e-6)
    assert "Accuracy on the validation images: " in cli("evaluate", "--split", "val", *models).stdout


def test_a_grid_prints_the_comparison_table(cli, data_dir, tmp_path):
    result = cli("train", "--epochs", "1", "--repeats", "2", "--lr", "0.001,0.01", "--val-split", "30",
                 "--log-every", "1000")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "4 runs, measured on the validation split" in out
    assert "lr 0.001: validation accuracy" in out and "mean ± std of 2 runs; 95 % t-interval" in out
    assert "each value against the best" in out and "best" in out
    assert any(verdict in out for verdict in ("within the noise", "worse beyond the noise"))
    assert (tmp_path / "cifar_net.lr0.01.seed1.pth").is_file()


def test_without_a_validation_split_the_sweep_says_it_measured_the_test_split(cli, data_dir):
    result = cli("train", "--epochs", "1", "--repeats", "2", "--log-every", "1000")
    assert result.exit_code == 0, result.stderr
    assert "measured on the test split" in result.stdout and "--val-split" in result.stderr


def test_resuming_a_repeated_run_continues_only_the_interrupted_seed(data_dir, tmp_path):
    data = load_split(locate(data_dir), "train")
    evaluation = load_split(locate(data_dir), "test")
    settings = TrainSettings.for_model("net", epochs=1, log_every=10)
    planned = plan_runs(tmp_path / "m.pth", [0, 1, 2])
    straight = plan_runs(tmp_path / "straight.pth", [1])
    run_sweep(settings, straight, None, data, evaluation)

    steps = iter(range(10_000))
    # seed 0 asks 77 times (before each of its 75 steps, once after them, once while it is measured)
    stop_in_seed_1 = lambda: next(steps) == 77 + 30  # noqa: E731
    with pytest.raises(Interrupted):
        run_sweep(settings, planned, None, data, evaluation, context=Context(should_stop=stop_in_seed_1))
    first = planned[0].files
    finished_log = first.metrics.read_bytes()
    assert first.output.is_file() and not planned[1].files.output.exists() and not planned[2].files.checkpoint.exists()

    result = run_sweep(settings, planned, None, data, evaluation, ResumePolicy(resume=True))
    assert [run.resumed for run in result.runs] == [True, True, False]
    assert result.runs[0].steps == 0 and result.runs[1].steps == 75 - 30 and result.runs[2].steps == 75
    assert first.metrics.read_bytes() == finished_log  # seed 0 was not trained again
    resumed, reference = (torch.load(path, weights_only=True) for path in (planned[1].files.output,
                                                                          straight[0].files.output))
    assert all(torch.equal(resumed[name], reference[name]) for name in reference)  # seed 1 continued exactly
    assert torch.load(planned[2].files.checkpoint, weights_only=True)["step"] == 75


@pytest.mark.parametrize(("args", "fragment"), [
    (["--seeds", "0-2", "--seed", "1"], "--seeds lists every run's seed"),
    (["--seeds", "0-2", "--repeats", "2"], "--seeds lists every run's seed"),
    (["--repeats", "0"], "--repeats"),
    (["--seeds", "9-1"], "runs backwards"),
    (["--seeds", "0-5000"], "more than 1000 runs"),
    (["--seeds", f"0,{2**63}"], "seeds go up to"),
    (["--repeats", "2", "--seed", str(2**63 - 1)], "past the largest seed"),
    (["--lr", "0.1,x"], "'x' is not a number"),
    (["--lr", "0.1,0.1"], "twice"),
    (["--lr", "0.1,-1"], "--lr"),
    (["--repeats", "2", "--tensorboard", "tb"], "--tensorboard follows one run"),
])
def test_bad_repeat_options(cli, data_dir, args, fragment):
    result = cli("train", "--epochs", "1", *args)
    assert result.exit_code == 2, result.stderr
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_equal_means_have_one_best_and_the_other_within_the_noise():
    runs = [RunOutcome(seed, lr, accuracy, 1.0, 1.0, Path("m.pth"), False)
            for lr, accuracies in ((0.1, [0.5, 0.7]), (0.2, [0.7, 0.5])) for seed, accuracy in enumerate(accuracies)]
    verdicts = [row.verdict for row in SweepResult("lr", "val", runs).comparison()]
    assert verdicts == ["best", "within the noise"]


def test_an_unfinished_run_is_found_before_any_run_trains_again(cli, data_dir, tmp_path):
    assert cli("train", "--epochs", "1", "--seeds", "0-1", "--log-every", "1000").exit_code == 0
    finished = (tmp_path / "cifar_net.seed0.pth").read_bytes()
    state = torch.load(tmp_path / "cifar_net.seed1.ckpt", weights_only=True)
    state["step"] = 10
    torch.save(state, tmp_path / "cifar_net.seed1.ckpt")
    result = cli("train", "--epochs", "1", "--seeds", "0-1", "--log-every", "1000")
    assert result.exit_code == 2 and "cifar_net.seed1.ckpt holds an unfinished run" in result.stderr
    assert "run 1/2" not in result.stderr  # nothing was trained again
    assert (tmp_path / "cifar_net.seed0.pth").read_bytes() == finished


def test_a_side_without_spread_gives_a_p_value_without_a_library_warning():
    import warnings

    from cifarctl.statistics import welch_p_value

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = welch_p_value([1.0, 1.0, 1.0, 1.0, 1.0], [0.97, 0.98, 0.98, 0.99, 0.98])
    assert p is not None and 0.0 <= p < 0.05


def test_a_diverging_grid_value_is_a_result_and_the_rest_of_the_grid_runs(cli, data_dir, tmp_path):
    args = ["train", "--lr", "0.001,1000,0.01", "--seeds", "0-1", "--epochs", "1", "--log-every", "1000", "-o", "g.pth"]
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("(a result of the sweep, reported as diverged)") == 2
    rows = {line.split("│")[1].strip() + "/" + line.split("│")[2].strip(): line
            for line in result.stdout.splitlines() if line.startswith("│")}
    assert "diverged" in rows["1000/0"] and "diverged" in rows["1000/1"] and "%" in rows["0.01/1"]
    assert "lr 1000: every run diverged (2 of 2): no test accuracy" in result.stdout
    assert "diverged (every run)" in result.stdout and "lr 0.01: test accuracy" in result.stdout
    for value in ("0.001", "0.01"):
        assert (tmp_path / f"g.lr{value}.seed1.pth").is_file()
    assert not (tmp_path / "g.lr1000.seed0.pth").exists() and not (tmp_path / "g.lr1000.seed0.ckpt").exists()
    again = cli(*args, "--resume", "--json")
    assert again.exit_code == 0, again.stderr
    document = json.loads(again.stdout)
    runs = {(run["lr"], run["seed"]): run for run in document["runs"]}
    assert len(runs) == 6
    for value in (0.001, 0.01):  # the finished cells are read back, not lost or trained again
        assert runs[value, 0]["resumed"] and runs[value, 0]["steps"] == 0 and runs[value, 0]["accuracy"] is not None
    assert runs[1000, 1]["accuracy"] is None and "the loss became" in runs[1000, 1]["diverged"]
    assert runs[0.01, 1]["diverged"] is None
    summary = {row["lr"]: row for row in document["summary"]}
    assert summary[1000]["n"] == 0 and summary[1000]["mean"] is None and summary[1000]["diverged"] == 2
    assert summary[0.01]["n"] == 2 and summary[0.01]["diverged"] == 0
    comparison = document["comparison"]
    assert comparison[-1]["value"] == 1000 and comparison[-1]["verdict"] == "diverged (every run)"


def test_a_sweep_whose_every_run_diverged_is_one_error_line(cli, data_dir):
    result = cli("train", "--lr", "1000", "--seeds", "0-1", "--epochs", "1", "--log-every", "1000", "--json")
    assert result.exit_code == 1 and result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "every one of the 2 runs diverged" in errors[0]


def test_a_value_with_some_runs_diverged_is_measured_on_the_others_and_says_so():
    from cifarctl.cli.sweep_reports import summary_lines

    runs = [RunOutcome(0, 0.5, 0.4, 1.0, 1.0, Path("a0.pth"), False),
            RunOutcome(1, 0.5, None, math.nan, 0.0, Path("a1.pth"), False, diverged="the loss became nan"),
            RunOutcome(2, 0.5, 0.6, 1.0, 1.0, Path("a2.pth"), False),
            RunOutcome(0, 0.1, 0.3, 1.0, 1.0, Path("b0.pth"), False),
            RunOutcome(1, 0.1, 0.35, 1.0, 1.0, Path("b1.pth"), False)]
    result = SweepResult("lr", "val", runs)
    assert result.summaries()[0.5].n == 2 and result.summaries()[0.5].mean == pytest.approx(0.5)
    rows = {row.value: row for row in result.comparison()}
    assert rows[0.5].best and rows[0.5].verdict == "best; 1 of 3 runs diverged"
    assert "1 of 3 runs diverged and are left out" in summary_lines(result)[0]
    assert result.as_json()["runs"][1]["accuracy"] is None
