"""The CLI's error contract: bad input to any command gets one line and the right exit code."""


import pytest
import torch

ALL_CLASSES = "plane,car,bird,cat,deer,dog,frog,horse,ship,truck"

# (command line, exit code, a fragment of the one error line)
BAD_INPUT = [
    (["download", "--retries", "x"], 2, "--retries"),
    (["download", "--retries", "-1"], 2, "--retries"),
    (["download", "--timeout", "-5"], 2, "--timeout"),
    (["download", "--md5", "abc"], 2, "not an MD5"),
    (["download", "--url", "not-a-url"], 2, "not an http"),
    (["download", "--from", "missing.tar.gz"], 2, "no such file or folder"),
    (["download", "--from", "a.tar.gz", "--url", "http://x/y"], 2, "either --from or --url"),
    (["preview", "--count", "0"], 2, "--count"),
    (["preview", "--count", "100000"], 2, "--count"),
    (["preview", "--count", "two"], 2, "--count"),
    (["preview", "--split", "validation"], 2, "--split"),
    (["preview", "--classes", ","], 2, "at least one class"),
    (["preview", "--classes", "unicorn"], 2, "not a CIFAR-10 class"),
    (["preview", "--scale", "0"], 2, "--scale"),
    (["preview", "--save", "no/such/dir/grid.png"], 2, "does not exist"),
    (["preview", "--save", "."], 2, "is a directory"),
    (["train", "--epochs", "-1"], 2, "--epochs"),
    (["train", "--epochs", "1e9"], 2, "--epochs"),
    (["train", "--batch-size", "0"], 2, "--batch-size"),
    (["train", "--lr", "nan"], 2, "--lr"),
    (["train", "--lr", "inf"], 2, "--lr"),
    (["train", "--momentum", "-0.1"], 2, "--momentum"),
    (["train", "--width", "100000"], 2, "--width"),
    (["train", "--log-every", "0"], 2, "--log-every"),
    (["train", "--output", "no/such/dir/model.pth"], 2, "does not exist"),
    (["train", "--output", "."], 2, "is a directory"),
    (["train", "--resume"], 2, "no checkpoint"),
    (["train", "--device", "tpu"], 2, "not a device"),
    (["train", "--device", "cuda:x"], 2, "not a device"),
    (["train", "--seed", "-1"], 2, "--seed"),
    (["train", "--model", "resnet"], 2, "choose one of: net, resnet18, fast"),
    (["train", "--model", "resnet18", "--width", "8"], 2, "does not take --width"),
    (["train", "--model-option", "width"], 2, "not NAME=VALUE"),
    (["train", "--model-option", "width=big"], 2, "not a whole number"),
    (["train", "--lr", "1e308"], 2, "--lr"),
    (["train", "--precision", "fp8"], 2, "--precision"),
    (["train", "--precision", "fp16", "--device", "cpu"], 2, "fp16 needs a GPU"),
    (["train", "--time-budget", "soon"], 2, "not a duration"),
    (["train", "--time-budget", "0s"], 2, "not a duration"),
    (["train", "--model", "fast", "--time-budget", "5m", "--epochs", "3"], 2, "--time-budget sets the run's length"),
    (["train", "--model", "resnet18", "--time-budget", "5m"], 2, "starts flat"),
    (["train", "--resume", "--restart"], 2, "contradict"),
    (["train", "--output", "x.metrics.jsonl"], 2, "metrics log"),
    (["train", "--steps", "0"], 2, "--steps"),
    (["train", "--eval-every", "-1"], 2, "--eval-every"),
    (["train", "--val-split", "300"], 2, "the training set has only 300"),
    (["train", "--val-split", "0"], 2, "holds out no image"),
    (["train", "--val-split", "1.5"], 2, "neither a count"),
    (["train", "--val-seed", "-1"], 2, "--val-seed"),
    (["train", "--seeds", "4-1"], 2, "runs backwards"),
    (["train", "--seeds", "0-9223372036854775808"], 2, "seeds go up to"),
    (["train", "--seeds", "0-2", "--seed", "1"], 2, "--seeds lists every run's seed"),
    (["train", "--repeats", "0"], 2, "--repeats"),
    (["train", "--repeats", "3", "--seed", "9223372036854775806"], 2, "past the largest seed"),
    (["train", "--lr", "0.1,0.1"], 2, "twice"),
    (["evaluate", "a.pth", "b.pth", "--save-reliability", "r.png"], 2, "draws one model"),
    (["evaluate", "--save-reliability", "r.jpg"], 2, "does not end in .png"),
    (["evaluate", "--model", "missing.pth"], 1, "does not exist"),
    (["evaluate", "--model", "."], 1, "is a directory"),
    (["evaluate", "--batch-size", "0"], 2, "--batch-size"),
    (["evaluate", "--split", "dev"], 2, "--split"),
    (["evaluate", "--seed", "1"], 2, "no such option"),
    (["benchmark-gpu", "--widths", "6,abc"], 2, "not a whole number"),
    (["benchmark-gpu", "--widths", "1e3"], 2, "not a whole number"),
    (["benchmark-gpu", "--batch-size", "-4"], 2, "--batch-size"),
    (["benchmark-gpu", "--repeats", "0"], 2, "--repeats"),
    (["benchmark-gpu", "--steps", "0"], 2, "--steps"),
    (["--config", "missing.toml", "train"], 2, "does not exist"),
]
if not torch.cuda.is_available():
    BAD_INPUT += [
        (["train", "--device", "cuda"], 1, "use --device cpu"),
        (["evaluate", "--device", "cuda:3"], 1, "use --device cpu"),
        (["benchmark-gpu", "--device", "cuda"], 1, "use --device cpu"),
    ]
if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
    BAD_INPUT.append((["train", "--device", "mps"], 1, "MPS backend is not available"))


@pytest.mark.parametrize(("args", "code", "fragment"), BAD_INPUT, ids=[" ".join(a) for a, _, _ in BAD_INPUT])
def test_bad_input_gets_one_line_and_the_right_exit_code(cli, data_dir, tmp_path, args, code, fragment):
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = cli("--data-dir", str(data_dir), *args) if args[0] != "--data-dir" and args[0] != "--config" else cli(*args)
    assert result.exit_code == code, result.stderr
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before, "a failed command left files behind"


def test_debug_variable_shows_the_traceback(cli, monkeypatch):
    monkeypatch.setenv("CIFARCTL_DEBUG", "1")
    result = cli("evaluate", "--model", "missing.pth")
    assert result.exit_code == 1 and "Traceback" in result.stderr


# --- untrusted files ---------------------------------------------------------------------


# --- faults ------------------------------------------------------------------------------


def test_outputs_inside_any_dataset_folder_or_over_an_input_are_refused(cli, data_dir, tmp_path):
    """Every command that writes checks its outputs against the dataset folder and its own inputs."""
    assert cli("train", "--epochs", "1", "--seed", "0").exit_code == 0
    inside = str(data_dir / "cifar-10-batches-py" / "x")
    before = (data_dir / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    for args in (["export", "--model", "cifar_net.pth", "-o", str(data_dir / "cifar-10-batches-py" / "data_batch_1")],
                 ["evaluate", "--save-confusion", inside + ".png"],
                 ["plot", "cifar_net.pth", "-o", inside + ".png"],
                 ["train", "--epochs", "1", "--tensorboard", inside, "-o", "other.pth"]):
        result = cli("--data-dir", str(data_dir), *args)
        assert result.exit_code == 2 and "inside the dataset" in result.stderr, (args, result.stderr)
    assert (data_dir / "cifar-10-batches-py" / "data_batch_1").read_bytes() == before
    (tmp_path / "m.pt").write_bytes((tmp_path / "cifar_net.pth").read_bytes())
    over = cli("export", "--model", "m.pt", "--format", "torchscript", "-o", "m.pt")
    assert over.exit_code == 2 and "the file this command reads" in over.stderr
    wrong_suffix = cli("export", "--model", "cifar_net.pth", "--format", "torchscript", "-o", "x.onnx")
    assert wrong_suffix.exit_code == 2 and "does not end in .pt" in wrong_suffix.stderr


@pytest.mark.parametrize(("change", "fragment"), [
    ({"metrics_bytes": "lots"}, "'metrics_bytes'"),
    ({"running_loss": "x"}, "'running_loss'"),
    ({"running_loss": float("nan")}, "'running_loss'"),
    ({"test_accuracy": 5.0}, "'test_accuracy'"),
    ({"dataset": {"images": "many", "fingerprint": "x"}}, "'dataset'"),
    ({"torch_rng": torch.zeros(3, dtype=torch.uint8)}, "'torch_rng'"),
    ({"model": {"a": torch.zeros(1)}}, "does not fit"),
])
def test_a_damaged_checkpoint_is_one_line_naming_what_is_wrong(cli, data_dir, tmp_path, change, fragment):
    assert cli("train", "--steps", "40", "--seed", "0", "--log-every", "5").exit_code == 0
    state = torch.load(tmp_path / "cifar_net.ckpt", weights_only=True)
    state.update({"step": 20, **change})
    torch.save(state, tmp_path / "cifar_net.ckpt")
    result = cli("train", "--steps", "40", "--seed", "0", "--log-every", "5", "--resume")
    assert result.exit_code == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error:") and fragment in lines[-1], result.stderr
    assert not [line for line in lines[:-1] if not line.startswith("training ")], result.stderr  # nothing but the first line
    assert "internal error" not in result.stderr


@pytest.mark.parametrize("text", ["1e-9", "1h1h", "30m1h", "٣s", "0.5"])
def test_durations_outside_their_documented_form_are_refused(cli, text):
    result = cli("train", "--model", "fast", "--time-budget", text)
    assert result.exit_code == 2 and "--time-budget" in result.stderr
