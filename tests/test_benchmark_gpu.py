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

    from cifarctl.cli.benchmark_reports import benchmark_table

    results = [_timing(6, "cpu", 1.0), _timing(6, "cuda:0", 2.0),
               _timing(128, "cpu", 10.0), _timing(128, "cuda:0", 2.5)]
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


# --- figures that should not be believed are flagged ---------------------------------------------

@pytest.mark.parametrize(
    ("per_step_s", "cpu_share", "fragment"),
    [([0.001, 0.00105, 0.0011], 0.98, None),
     ([0.00125, 0.328, 0.002], 0.95, "repeats ranged 1.250-328.000 ms/step"),
     ([0.001, 0.001, 0.001], 0.3, "30% of a CPU"),
     ([0.001, 0.001], None, None)],
    ids=["steady", "spread", "descheduled", "accelerator"],
)
def test_measurement_problems(per_step_s, cpu_share, fragment):
    problems = benchmark.measurement_problems(per_step_s, cpu_share)
    assert (fragment is None) == (problems == [])
    if fragment:
        assert fragment in problems[0]


def _unstable(width, device, ms, problem="repeats ranged 1-3 ms/step"):
    timing = _timing(width, device, ms)
    timing.problems = [problem]
    return timing


def test_warnings_name_unstable_results_and_impossible_orderings():
    results = [_unstable(6, "cpu", 328.0), _timing(128, "cpu", 100.0)]
    warnings = benchmark.benchmark_warnings(results)
    assert any("width 6 on cpu is unstable" in warning for warning in warnings)
    assert any("width 128 on cpu measured 3.3x faster than width 6" in warning for warning in warnings)
    assert "idle machine" in warnings[-1]
    assert benchmark.benchmark_warnings([_timing(6, "cpu", 1.0), _timing(128, "cpu", 10.0)]) == []


def test_the_table_marks_unstable_figures(cli):
    from rich.console import Console

    from cifarctl.cli.benchmark_reports import UNSTABLE_MARK, benchmark_table

    console = Console(width=200, record=True)
    console.print(benchmark_table([_unstable(6, "cpu", 2.0), _timing(32, "cpu", 3.0)], [], {}))
    lines = console.export_text().splitlines()
    rows = {line.split("│")[1].strip(): line for line in lines if line.startswith("│")}
    assert UNSTABLE_MARK in rows["6"] and UNSTABLE_MARK not in rows["32"]
    assert any("unstable measurement" in line for line in lines)


def test_a_busy_cpu_is_reported_in_json_and_in_a_warning(cli, monkeypatch):
    monkeypatch.setattr(benchmark.time, "process_time", lambda: 0.0)  # as if the CPU went elsewhere
    result = cli("benchmark-gpu", "--widths", "2", "--device", "cpu", *QUICK, "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["results"][0]["unstable"] is True
    assert document["results"][0]["cpu_share"] == 0
    assert any("of a CPU" in warning for warning in document["warnings"])
    assert "warning: width 2 on cpu is unstable" in result.stderr


def test_json_has_warnings_and_an_unstable_flag_per_result(cli):
    result = cli("benchmark-gpu", "--widths", "2", "--device", "cpu", "--steps", "50", "--repeats", "3", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert isinstance(document["warnings"], list)
    rows = document["results"]
    assert [(row["width"], row["device"]) for row in rows] == [(2, "cpu")]  # all([]) would pass anything
    assert all(isinstance(row["unstable"], bool) for row in rows)
    unstable = ["width 2 on cpu is unstable" in warning for warning in document["warnings"]]
    assert any(unstable) == rows[0]["unstable"]


@pytest.mark.parametrize(("batch_size", "small"), [(4, True), (8, True), (16, False)])
def test_cpu_steps_use_the_thread_settings_of_training(batch_size, small):
    threads, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    seen = {}
    real_time_steps = benchmark.time_steps

    def spy(step, *args, **kwargs):
        seen.setdefault("threads", torch.get_num_threads())
        seen.setdefault("onednn", torch.backends.mkldnn.enabled)
        return real_time_steps(step, *args, **kwargs)

    settings = benchmark.BenchSettings(widths=(2,), batch_size=batch_size, steps=2, warmup=1, repeats=2)
    import unittest.mock

    with unittest.mock.patch.object(benchmark, "time_steps", spy):
        timing = benchmark.benchmark_width(2, torch.device("cpu"), settings)
    if small:
        assert seen == {"threads": 1, "onednn": False}
    else:
        assert seen == {"threads": threads, "onednn": onednn}
    assert timing.threads == (1 if small else threads)
    assert (torch.get_num_threads(), torch.backends.mkldnn.enabled) == (threads, onednn)


def test_a_narrow_terminal_cuts_no_number(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "20")
    result = cli("benchmark-gpu", "--widths", "3,5", *QUICK)
    assert result.exit_code == 0, result.stderr
    assert "…" not in result.stdout
    assert "CPU ms/step" in result.stdout


def test_the_fast_model_is_timed_across_its_widths(cli):
    result = cli("benchmark-gpu", "--model", "fast", "--widths", "8,16", "--batch-size", "8", "--steps", "1",
                 "--repeats", "1", "--warmup", "0", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["model"] == "fast" and [r["width"] for r in document["results"]] == [8, 16]
    refused = cli("benchmark-gpu", "--model", "resnet18")
    assert refused.exit_code == 2 and "not a model with a width" in refused.stderr


def test_cifar100_heads_have_a_hundred_outputs(cli):
    """Only the last layer differs: Net's fc3 takes 84 features, a weight and a bias per class."""
    measured = {}
    for dataset in ("cifar10", "cifar100"):  # CIFAR-100's classes are known without its files
        result = cli("--dataset", dataset, "benchmark-gpu", "--widths", "4,6", "--device", "cpu", *QUICK, "--json")
        assert result.exit_code == 0, result.stderr
        measured[dataset] = [row["params"] for row in json.loads(result.stdout)["results"] if row["device"] == "cpu"]
    assert [big - small for small, big in zip(measured["cifar10"], measured["cifar100"])] == [90 * (84 + 1)] * 2
