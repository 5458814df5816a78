"""How many CPU threads a run takes: as asked, one for tiny batches, else measured."""

import json

from cifarctl import cpu_threads


def test_threads_as_asked_or_one_for_tiny_batches(monkeypatch):
    monkeypatch.setattr(cpu_threads, "cores_available", lambda: 4)
    assert cpu_threads.choose_threads("cpu", 256, requested=3) == (3, "as asked")
    assert cpu_threads.choose_threads("cpu", 4)[0] == 1


def test_all_cores_when_they_make_the_probe_faster(monkeypatch):
    monkeypatch.setattr(cpu_threads, "cores_available", lambda: 4)
    threads, why = cpu_threads.choose_threads("cpu", 256, probe=lambda n: 1.0 / n)
    assert threads == 4 and "measured" in why


def test_one_thread_when_another_process_keeps_the_cores_busy(monkeypatch):
    # What a busy CPU looks like: OpenMP's threads wait for a descheduled sibling, so more threads are slower.
    monkeypatch.setattr(cpu_threads, "cores_available", lambda: 2)
    threads, why = cpu_threads.choose_threads("cpu", 256, probe=lambda n: 0.01 * (3 if n > 1 else 1))
    assert threads == 1 and "busy" in why


def test_a_run_says_how_many_threads_it_chose_and_a_resume_keeps_them(cli, data_dir, monkeypatch):
    monkeypatch.delenv("CIFARCTL_THREADS")
    # Measuring picks 4 threads here, whatever this machine's cores and load would pick, so a
    # resume that measured again instead of keeping the run's 1 thread cannot pass unseen.
    monkeypatch.setattr(cpu_threads, "cores_available", lambda: 4)
    monkeypatch.setattr(cpu_threads, "convolution_seconds", lambda threads: 1.0 / threads)
    args = ["train", "--model", "fast", "--width", "8", "--batch-size", "50", "--epochs", "1", "--seed", "0"]
    measured = cli(*args, "--output", "measured.pth", "--json")
    assert measured.exit_code == 0, measured.stderr
    assert "4 CPU threads (measured: 4.0x faster than 1)" in measured.stderr
    assert json.loads(measured.stdout)["config"]["threads"] == 4
    first = cli(*args, "--threads", "1", "--json")
    assert first.exit_code == 0, first.stderr
    assert "1 CPU thread (as asked)" in first.stderr
    assert json.loads(first.stdout)["config"]["threads"] == 1
    resumed = cli(*args, "--resume", "--json")
    assert resumed.exit_code == 0, resumed.stderr
    assert json.loads(resumed.stdout)["config"]["threads"] == 1


def test_threads_from_the_environment_or_config_file(cli, data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("CIFARCTL_THREADS", "1")
    args = ["train", "--model", "fast", "--width", "8", "--batch-size", "50", "--steps", "2", "--seed", "0"]
    assert "1 CPU thread (as asked)" in cli(*args).stderr
    monkeypatch.delenv("CIFARCTL_THREADS")
    (tmp_path / "cifarctl.toml").write_text("threads = 1\n")
    assert "1 CPU thread (as asked)" in cli(*args, "--restart").stderr
    (tmp_path / "cifarctl.toml").write_text("threads = 0\n")
    refused = cli(*args, "--restart")
    assert refused.exit_code == 2 and "threads" in refused.stderr


def test_processes_and_threads_are_capped_at_the_cpus_by_one_rule(monkeypatch):
    monkeypatch.setattr(cpu_threads, "cores_available", lambda: 2)
    assert cpu_threads.capped_to_cpus(0) == (2, None)  # 0: one per CPU
    assert cpu_threads.capped_to_cpus(2) == (2, None) and cpu_threads.capped_to_cpus(1) == (1, None)
    assert cpu_threads.capped_to_cpus(256, "decoder processes") == (
        2, "256 decoder processes asked, capped at the 2 CPUs this process may use")
    one = cpu_threads.capped_to_cpus(5, "threads", cpus=1)
    assert one == (1, "5 threads asked, capped at the 1 CPU this process may use")
    threads, why = cpu_threads.choose_threads("cpu", 256, requested=64)
    assert threads == 2 and why == "64 threads asked, capped at the 2 CPUs this process may use"


def test_train_threads_beyond_the_cpus_are_capped_and_the_first_line_says_so(cli, data_dir, monkeypatch):
    monkeypatch.setattr(cpu_threads, "cores_available", lambda: 2)
    result = cli("train", "--threads", "64", "--steps", "2", "--batch-size", "32", "--seed", "0", "--json")
    assert result.exit_code == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert "2 CPU threads (64 threads asked, capped at the 2 CPUs this process may use)" in first, first
    assert json.loads(result.stdout)["config"]["threads"] == 2


def test_import_workers_beyond_the_cpus_are_capped_and_said_once(cli, monkeypatch, tmp_path):
    from PIL import Image

    for name in ("cat", "dog"):
        (tmp_path / "pets" / name).mkdir(parents=True)
        for index in range(3):
            Image.new("RGB", (8, 8), (index * 40, 0, 0)).save(tmp_path / "pets" / name / f"{index}.png")
    monkeypatch.setattr(cpu_threads, "cores_available", lambda: 2)
    result = cli("download", "--dataset", "pets", "--from", str(tmp_path / "pets"), "--workers", "256",
                 "--test-split", "2")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "asked, capped" in line]
    assert warnings == ["warning: --workers: 256 decoder processes asked, capped at the 2 CPUs this process may use"]
