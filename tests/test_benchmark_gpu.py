"""`cifarctl benchmark-gpu`: validation, JSON schema, the no-GPU path, and sound timing."""

import json

import pytest
import torch

from cifarctl import benchmark
from cifarctl.benchmark import Timing, reading, synchronize, time_steps

QUICK = ["--steps", "2", "--repeats", "2", "--warmup", "1"]


@pytest.mark.parametrize(
    ("widths", "fragment"),
    [("6,abc", "'abc' is not a whole number"), ("0", "outside 1..4096"), (",", "at least one width"),
     ("-3", "outside 1..4096"), ("6,,32", "empty entry"), ("", "at least one width")],
)
def test_bad_widths_are_usage_errors(cli, widths, fragment):
    result = cli("benchmark-gpu", "--widths", widths)
    assert result.exit_code == 2
    assert fragment in result.stderr and "Traceback" not in result.stderr


def test_cuda_requested_without_cuda_is_a_runtime_error(cli):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = cli("benchmark-gpu", "--device", "cuda", *QUICK)
    assert result.exit_code == 1
    assert "--device cuda:" in result.stderr


def test_json_schema_without_a_gpu(cli):
    result = cli("benchmark-gpu", "--widths", "2,4", "--batch-size", "3", *QUICK, "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert {"cuda_available", "devices", "results", "machine"} <= set(document)
    if not torch.cuda.is_available():
        assert document["cuda_available"] is False and "cuda" in document["unavailable"]
    assert document["devices"][0] == "cpu"
    cpu_rows = [row for row in document["results"] if row["device"] == "cpu"]
    assert [row["width"] for row in cpu_rows] == [2, 4]
    for row in cpu_rows:
        assert {"width", "device", "batch_size", "ms_per_step", "images_per_second", "params"} <= set(row)
        assert row["batch_size"] == 3 and row["ms_per_step"] > 0
        assert row["images_per_second"] == pytest.approx(3 / (row["ms_per_step"] / 1000), rel=1e-3)
    assert cpu_rows[0]["params"] < cpu_rows[1]["params"]
    assert {"cpu", "torch", "torch_build", "gpus"} <= set(document["machine"])


def test_table_without_a_gpu_says_why(cli):
    result = cli("benchmark-gpu", "--widths", "3", *QUICK)
    assert result.exit_code == 0, result.stderr
    assert "CPU ms/step" in result.stdout
    if not torch.cuda.is_available():
        reason = benchmark.cuda_unavailable_reason()
        assert f"GPU: none, {reason}" in result.stdout and "No GPU to compare with" in result.stdout
        assert "n/a" in result.stdout


def test_timing_synchronises_before_every_clock_read():
    log = []
    clock_values = iter(range(100))

    def clock():
        log.append("clock")
        return float(next(clock_values))

    per_step = time_steps(lambda: log.append("step"), steps=2, repeats=2, sync=lambda: log.append("sync"), clock=clock)
    assert log == ["sync", "clock", "step", "step", "sync", "clock"] * 2
    assert per_step == [0.5, 0.5]


def test_synchronize_waits_for_cuda(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    synchronize(torch.device("cuda:0"))
    synchronize(torch.device("cpu"))
    assert calls == [torch.device("cuda:0")]


def _timing(width, device, ms):
    return Timing(width, device, 4, 1000, ms, ms, ms, 4000 / ms, 1.0, 10, 3)


def test_reading_and_table_with_a_gpu():
    from rich.console import Console

    from cifarctl.cli.reports import benchmark_table

    results = [_timing(6, "cpu", 1.0), _timing(6, "cuda:0", 2.0), _timing(128, "cpu", 10.0), _timing(128, "cuda:0", 2.5)]
    assert reading(results, 4).startswith("The GPU pays off from width 128 at batch size 4 (4.0x)")
    console = Console(width=200, record=True)
    console.print(benchmark_table(results, [torch.device("cuda:0")], {}))
    text = console.export_text()
    assert "cuda:0 ms/step" in text and "0.5x" in text and "4.0x" in text


def test_reading_when_the_gpu_never_wins():
    results = [_timing(6, "cpu", 1.0), _timing(6, "cuda:0", 2.0)]
    assert "slower than the CPU at every width" in reading(results, 4)


def test_calibration_keeps_repeats_short():
    steps = benchmark._calibrated_steps(lambda: None, warmup=3, sync=lambda: None)
    assert steps == benchmark.MAX_CALIBRATED_STEPS
