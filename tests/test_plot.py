"""`cifarctl plot` and the loss sparkline: PNGs from one or several metrics logs, cut logs, plain text off a
terminal."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cifarctl.cli.sparkline import ASCII_LEVELS, BLOCKS, sparkline
from cifarctl.pictures.training_plots import smooth

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_log(path: Path, epochs: int = 3, steps_per_epoch: int = 5, accuracy: bool = True) -> Path:
    lines = []
    for epoch in range(1, epochs + 1):
        for step in range(1, steps_per_epoch + 1):
            global_step = (epoch - 1) * steps_per_epoch + step
            lines.append({"kind": "step", "epoch": epoch, "step": step, "global_step": global_step,
                          "images": 32 * global_step, "loss": 2.3 / (1 + 0.1 * global_step), "lr": 0.01,
                          "time": global_step / 10})
        lines.append({"kind": "epoch", "epoch": epoch, "global_step": epoch * steps_per_epoch,
                      "images": 32 * epoch * steps_per_epoch, "train_loss": 2.0 / epoch,
                      "train_accuracy": 0.2 * epoch if accuracy else None,
                      "test_accuracy": 0.18 * epoch if accuracy else None, "lr": 0.01,
                      "images_per_second": 1000.0, "seconds": 1.0, "time": epoch * steps_per_epoch / 10})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def assert_png(path: Path, min_size: tuple[int, int] = (600, 350), max_size: tuple[int, int] = (2000, 1200)) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
    assert min_size[0] <= width <= max_size[0] and min_size[1] <= height <= max_size[1], image.size
    assert not [p for p in path.parent.iterdir() if ".tmp-" in p.name]


def test_plot_of_a_real_run_found_from_its_model_file(cli, data_dir, tmp_path):
    trained = cli("train", "--epochs", "2", "--log-every", "10", "--eval-every", "1", "--seed", "2", "--json")
    assert trained.exit_code == 0, trained.stderr
    final_loss = json.loads(trained.stdout)["final_loss"]
    result = cli("plot", "cifar_net.pth")
    assert result.exit_code == 0, result.stderr
    assert_png(tmp_path / "cifar_net.metrics.png", min_size=(1000, 400))  # two panels: loss and accuracy
    # the same number under the same name as train's summary ("last loss" was another number)
    assert result.stdout.startswith(f"cifar_net: 2 epochs logged, final loss {final_loss:.3f} "
                                    "(mean over the last epoch)")
    assert json.loads(cli("plot", "cifar_net.pth", "--json").stdout)["runs"][0]["final_loss"] == final_loss
    assert "test accuracy" in result.stdout and "saved the plot of 1 run to cifar_net.metrics.png" in result.stderr


def test_plot_with_no_arguments_reads_the_default_model_log(cli, tmp_path):
    write_log(tmp_path / "cifar_net.metrics.jsonl")
    result = cli("plot")
    assert result.exit_code == 0, result.stderr
    assert_png(tmp_path / "cifar_net.metrics.png")


def test_plot_compares_two_runs_on_one_figure(cli, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_log(tmp_path / "a" / "net.metrics.jsonl")
    write_log(tmp_path / "b" / "net.metrics.jsonl", epochs=5)
    result = cli("plot", "a/net.metrics.jsonl", "b/net.pth", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["output"] == "comparison.png"
    assert [run["label"] for run in document["runs"]] == ["a/net", "b/net"]  # same names: told apart by folder
    assert [run["epochs"] for run in document["runs"]] == [3, 5]
    assert_png(tmp_path / "comparison.png", min_size=(1000, 400))


def test_plot_labels_output_and_loss_only_logs(cli, tmp_path):
    write_log(tmp_path / "x.metrics.jsonl", accuracy=False)
    write_log(tmp_path / "y.metrics.jsonl", accuracy=False)
    (tmp_path / "out").mkdir()
    result = cli("plot", "x.metrics.jsonl", "y.metrics.jsonl", "--label", "lr 0.1", "--label", "lr 0.01",
                 "-o", "out/lr.png", "--smooth", "1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("lr 0.1: 3 epochs logged")
    assert_png(tmp_path / "out" / "lr.png", max_size=(900, 1200))  # no accuracy: the loss panel alone


def test_a_run_without_a_whole_epoch_names_its_loss_the_last_running_loss(cli, tmp_path):
    write_log(tmp_path / "short.metrics.jsonl", epochs=1)
    lines = (tmp_path / "short.metrics.jsonl").read_text().splitlines()[:-1]  # stopped before the epoch ended
    (tmp_path / "short.metrics.jsonl").write_text("\n".join(lines) + "\n")
    result = cli("plot", "short.metrics.jsonl")
    assert result.exit_code == 0, result.stderr
    assert "last running loss 1.533 (no whole epoch logged)" in result.stdout and "final loss" not in result.stdout


def test_a_run_with_one_logged_point_draws_a_marker(cli, tmp_path):
    """A line through one point draws nothing: the figure was empty."""
    point = {"kind": "step", "epoch": 1, "step": 1, "global_step": 1, "images": 4, "loss": 2.3, "lr": 0.001, "time": 1}
    (tmp_path / "one.metrics.jsonl").write_text(json.dumps(point) + "\n")
    (tmp_path / "none.metrics.jsonl").write_text(json.dumps({**point, "loss": None}) + "\n" + json.dumps(point) + "\n")
    result = cli("plot", "one.metrics.jsonl", "-o", "one.png")
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "one.png") as image:
        pixels = image.convert("RGB").load()
        width, height = image.size
        # the run's colour (matplotlib's C0, #1f77b4) inside the plotting area, away from the legend
        blue = sum(1 for x in range(width // 8, width * 3 // 5) for y in range(height // 6, height * 5 // 6)
                   if all(abs(a - b) <= 40 for a, b in zip(pixels[x, y], (0x1F, 0x77, 0xB4))))
    assert blue >= 20, "no marker for the one logged point"


def test_a_log_cut_by_a_crash_is_plotted_with_a_warning(cli, tmp_path):
    log = write_log(tmp_path / "crashed.metrics.jsonl")
    log.write_bytes(log.read_bytes()[:-40])  # kill -9 in the middle of writing the last line
    result = cli("plot", str(log))
    assert result.exit_code == 0, result.stderr
    assert "warning:" in result.stderr and "line 18 is cut" in result.stderr and "Traceback" not in result.stderr
    assert_png(tmp_path / "crashed.metrics.png")


@pytest.mark.parametrize(
    ("setup", "args", "code", "fragment"),
    [
        (None, ["missing.pth"], 1, "missing.metrics.jsonl does not exist"),
        ("empty", ["empty.metrics.jsonl"], 1, "has no loss values yet"),
        ("garbage", ["garbage.metrics.jsonl"], 1, "has no loss values yet"),
        ("ok", ["ok.metrics.jsonl", "-o", "plot.jpg"], 2, "does not end in .png"),
        ("ok", ["ok.metrics.jsonl", "--label", "a", "--label", "b"], 2, "2 --label values for 1 runs"),
        ("ok", ["ok.metrics.jsonl", "--smooth", "0"], 2, "--smooth"),
        ("ok", ["ok.metrics.jsonl", "-o", "nowhere/deeper/x.png"], 2, "does not exist"),
        ("huge", ["huge.metrics.jsonl"], 1, "has no loss values yet"),  # its one line: "images": 10**400
    ],
)
def test_plot_errors_are_one_line(cli, tmp_path, setup, args, code, fragment):
    if setup == "ok":
        write_log(tmp_path / "ok.metrics.jsonl")
    elif setup == "empty":
        (tmp_path / "empty.metrics.jsonl").write_text("")
    elif setup == "garbage":
        (tmp_path / "garbage.metrics.jsonl").write_text("not json\n[1, 2]\n")
    elif setup == "huge":
        (tmp_path / "huge.metrics.jsonl").write_text(
            '{"kind": "step", "epoch": 1, "step": 1, "global_step": 1, "images": 1' + "0" * 400 + ', "loss": 2.0}\n')
    result = cli("plot", *args)
    assert result.exit_code == code, result.stderr
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    # the error is the last line, alone; only warnings (about skipped records) may come before it
    assert lines and lines[-1].startswith("error: ") and fragment in lines[-1], result.stderr
    assert all(line.startswith("warning: ") for line in lines[:-1]), result.stderr


def test_smoothing_is_a_centred_mean_that_does_not_lag():
    assert smooth([1.0, 2.0, 3.0, 4.0, 5.0], 3) == [1.5, 2.0, 3.0, 4.0, 4.5]
    assert smooth([4.0, 1.0], 1) == [4.0, 1.0]


def test_sparkline_blocks_and_ascii():
    falling = [3.0, 2.5, 2.0, 1.5, 1.0]
    assert sparkline(falling) == "█▆▅▃▁"
    assert sparkline(falling, unicode=False) == "^~-._"
    assert sparkline([]) == "" and sparkline([1.0, 1.0]) == BLOCKS[4] * 2
    long = sparkline([float(value) for value in range(1000)], width=40, unicode=False)
    assert len(long) == 40 and long[0] == ASCII_LEVELS[0] and long[-1] == ASCII_LEVELS[-1]


def test_training_summary_sparkline_is_plain_ascii_off_a_terminal(cli, data_dir):
    result = cli("train", "--epochs", "1", "--log-every", "10", "--seed", "1")
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "loss curve" in line)
    curve = row.split("loss curve", 1)[1].strip(" │|").split()[0]
    assert len(curve) == 7 and set(curve) <= set(ASCII_LEVELS), row
    assert " -> " in row and "→" not in row


@pytest.mark.parametrize("args", [["--help"], ["plot", "--help"], ["evaluate", "--help"], ["train", "--help"]])
def test_help_imports_neither_torch_nor_matplotlib(args):
    probe = (
        "import sys\n"
        "from cifarctl.cli.app import run\n"
        f"code = run({args!r})\n"
        "print('HEAVY=' + ','.join(sorted(m for m in ('torch', 'matplotlib', 'tensorboard') if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY="


def test_special_files_and_bad_records_are_refused_or_skipped(cli, tmp_path):
    os.mkfifo(tmp_path / "f.metrics.jsonl")
    fifo = cli("plot", "f.metrics.jsonl")
    assert fifo.exit_code == 1 and "not a regular file" in fifo.stderr
    (tmp_path / "bad.metrics.jsonl").write_text(
        '{"kind": "step", "loss": 1.0}\n'
        '{"kind": "step", "epoch": 1, "step": 1, "global_step": 1, "images": "many", "loss": 1.0}\n'
        '{"kind": "epoch", "epoch": 1, "global_step": 1, "images": 4, "test_accuracy": 1e308}\n'
        '{"kind": "step", "epoch": 1, "step": 2, "global_step": 2, "images": 8, "loss": 2.0}\n')
    result = cli("plot", "bad.metrics.jsonl", "-o", "bad.png")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("skipped") == 3 and "Traceback" not in result.stderr


@pytest.mark.parametrize(("field", "text"), [
    ("images", "1" + "0" * 400), ("epoch", "1" + "0" * 400), ("global_step", "-3"), ("step", "1e999"),
    ("loss", "1" + "0" * 400), ("loss", "-1.0"), ("lr", "-0.5"), ("time", "1e999"), ("seconds", "1" + "0" * 400),
    ("images_per_second", "-1"), ("train_loss", "NaN"), ("test_accuracy", "1.5"), ("val_accuracy", "-Infinity"),
    ("something_new", "1" + "0" * 400),
], ids=lambda value: value if len(value) < 20 else "10**400")
def test_every_number_in_a_log_is_checked_against_its_range(cli, tmp_path, field, text):
    """A hand-edited log (`"images": 10**400`, a negative loss) loses that line, with a warning, never the plot."""
    log = write_log(tmp_path / "run.metrics.jsonl")
    lines = log.read_text().splitlines()
    kind = "epoch" if field in ("train_loss", "test_accuracy", "val_accuracy", "seconds", "images_per_second") \
        else "step"
    index = next(number for number, line in enumerate(lines) if json.loads(line)["kind"] == kind)
    record = json.loads(lines[index])
    record[field] = 0
    lines[index] = json.dumps(record).replace(f'"{field}": 0', f'"{field}": {text}')
    log.write_text("\n".join(lines) + "\n")
    result = cli("plot", str(log), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("warning:") == 1 and f"line {index + 1} holds '{field}'" in result.stderr
    assert "internal error" not in result.stderr


@pytest.mark.parametrize("hostile", ["[" * 100_000, "{\"a\":" * 50_000 + "1" + "}" * 50_000, "[" * 40 + "]" * 40])
def test_a_hostile_line_nested_without_end_is_skipped_not_a_crash(cli, tmp_path, hostile):
    log = write_log(tmp_path / "run.metrics.jsonl")
    log.write_text(log.read_text() + hostile + "\n")
    result = cli("plot", str(log))
    assert result.exit_code == 0, result.stderr
    assert "line 19" in result.stderr and "skipped" in result.stderr
    assert "internal error" not in result.stderr and "Recursion" not in result.stderr


def test_a_log_whose_name_is_not_utf8_is_plotted(cli, tmp_path):
    """matplotlib cannot draw the name's lone surrogate: an internal error of many lines."""
    write_log(tmp_path / os.fsdecode(b"run\xff.metrics.jsonl"))
    result = cli("plot", os.fsdecode(b"run\xff.metrics.jsonl"), "--label", os.fsdecode(b"x\xfe"), "-o", "p.png")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("x\\xfe: 3 epochs logged")
    assert_png(tmp_path / "p.png")
    result = cli("plot", os.fsdecode(b"run\xff.metrics.jsonl"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / os.fsdecode(b"run\xff.metrics.png")).is_file()


def test_mean_draws_the_seeds_of_one_configuration_as_one_curve_with_a_band(cli, tmp_path):
    from cifarctl.pictures.training_plots import RunCurves

    for seed in range(3):
        write_log(tmp_path / f"net.lr0.1.seed{seed}.metrics.jsonl", epochs=3 + seed)  # shared: the first 3 epochs
    write_log(tmp_path / "net.lr0.2.seed0.metrics.jsonl")
    write_log(tmp_path / "net.lr0.2.seed1.metrics.jsonl", accuracy=False)
    result = cli("plot", "--mean", "--json", *sorted(str(p) for p in tmp_path.glob("*.jsonl")), "-o", "band.png")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [(run["label"], run["runs"]) for run in document["runs"]] == [("net.lr0.1", 3), ("net.lr0.2", 2)]
    assert len(document["runs"][0]["log"]) == 3
    assert_png(tmp_path / "band.png", min_size=(1000, 400))
    text = cli("plot", "--mean", *sorted(str(p) for p in tmp_path.glob("*.jsonl")), "-o", "band.png")
    assert "net.lr0.1 (mean of 3 runs): 3 epochs logged" in text.stdout
    assert "saved the plot of 2 configurations" in text.stderr

    def curves(accuracy: float, loss: float) -> RunCurves:
        return RunCurves("x", [10, 20], [loss, loss + 1], [1], [20], [loss], [None], [accuracy])

    mean = RunCurves.mean_of("x", [curves(0.5, 1.0), curves(0.7, 2.0), curves(0.6, 3.0)])
    assert mean.runs == 3 and mean.step_losses == [2.0, 3.0] and mean.test_accuracy == [pytest.approx(0.6)]
    assert mean.spread["step_losses"] == [1.0, 1.0] and mean.spread["test_accuracy"] == [pytest.approx(0.1)]
    assert mean.spread["train_accuracy"] == [None]  # not logged: no band


def test_mean_needs_one_label_per_configuration(cli, tmp_path):
    for seed in (0, 1):
        write_log(tmp_path / f"net.seed{seed}.metrics.jsonl")
    result = cli("plot", "--mean", "net.seed0.metrics.jsonl", "net.seed1.metrics.jsonl", "--label", "a", "--label", "b")
    assert result.exit_code == 2
    assert "2 --label values for 1 configurations; give one per configuration" in result.stderr


def _baselines(monkeypatch, runs):
    """The random-guessing lines plot_training draws: (height in %, label)."""
    from cifarctl.pictures import training_plots

    drawn = {}
    monkeypatch.setattr(training_plots, "save_png", lambda figure, path: drawn.update(figure=figure))
    training_plots.plot_training(runs, Path("unused.png"))
    accuracy = drawn["figure"].axes[1]
    return sorted((line.get_ydata()[0], line.get_label()) for line in accuracy.lines
                  if line.get_label().startswith("random guessing"))


def test_random_guessing_is_drawn_at_one_over_the_logged_classes(monkeypatch, tmp_path):
    from cifarctl.pictures.training_plots import RunCurves
    from cifarctl.training.metrics import read_metrics, run_header

    old = write_log(tmp_path / "old.metrics.jsonl")  # from before logs said their classes
    new = tmp_path / "new.metrics.jsonl"
    new.write_text(json.dumps(run_header("cifar100", 100)) + "\n" + old.read_text())
    runs = {}
    for path in (old, new):
        records, warnings = read_metrics(path)
        assert warnings == []
        runs[path.stem] = RunCurves.from_records(path.stem, records)
    assert (runs["new.metrics"].classes, runs["new.metrics"].dataset) == (100, "cifar100")
    assert (runs["old.metrics"].classes, runs["old.metrics"].dataset) == (10, None)
    assert _baselines(monkeypatch, [runs["new.metrics"]]) == [(1.0, "random guessing (1 %)")]
    assert _baselines(monkeypatch, [runs["old.metrics"]]) == [(10.0, "random guessing (10 %)")]
    both = _baselines(monkeypatch, [runs["old.metrics"], runs["new.metrics"]])
    assert both == [(1.0, "random guessing (1 %)"), (10.0, "random guessing (10 %)")]
    assert RunCurves.mean_of("m", [runs["new.metrics"], runs["new.metrics"]]).classes == 100


def test_a_cifar100_run_is_plotted_against_its_own_baseline(cli, cifar100_data_dir, tmp_path):
    trained = cli("--data-dir", str(cifar100_data_dir), "--dataset", "cifar100", "train", "--model", "net",
                  "--epochs", "2", "--batch-size", "32", "--eval-every", "1", "--seed", "1")
    assert trained.exit_code == 0, trained.stderr
    result = cli("plot", "--json")
    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)["runs"][0]
    assert (run["dataset"], run["classes"], run["epochs"]) == ("cifar100", 100, 2)
    assert_png(tmp_path / "cifar_net.metrics.png", min_size=(1000, 400))


@pytest.mark.parametrize(("steps_per_epoch", "epochs", "said"), [
    (0, 1, ["its loss is one point (only its one epoch's mean loss was logged)", "its accuracy is one point"]),
    (5, 1, ["its accuracy is one point"]),
    (0, 3, []),
    (5, 3, []),
])
def test_a_panel_of_one_point_is_said(cli, tmp_path, steps_per_epoch, epochs, said):
    """`plot --mean` of two 1-epoch runs drew one dot per panel and said nothing: each lone point is named, on
    stderr and in --json's warnings, with what would draw a curve."""
    for seed in (0, 1):
        write_log(tmp_path / f"net.seed{seed}.metrics.jsonl", epochs=epochs, steps_per_epoch=steps_per_epoch)
    result = cli("plot", "--mean", "net.seed0.metrics.jsonl", "net.seed1.metrics.jsonl", "-o", "p.png", "--json")
    assert result.exit_code == 0, result.stderr
    warnings = json.loads(result.stdout)["runs"][0]["warnings"]
    assert len(warnings) == len(said) and all(part in warning for part, warning in zip(said, warnings)), warnings
    assert [line.removeprefix("warning: ") for line in result.stderr.splitlines()] == warnings
    if steps_per_epoch == 0 and epochs == 1:
        assert "smaller --log-every" in warnings[0] and "train more epochs" in warnings[1]
        assert warnings[0].startswith("net: ")
