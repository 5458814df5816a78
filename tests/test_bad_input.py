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
