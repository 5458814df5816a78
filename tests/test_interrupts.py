"""Ctrl-C while saving matters: one keypress saves, a deliberate second one aborts."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cifarctl.interrupts import ABORT_MESSAGE, StopRequest

REPO = Path(__file__).resolve().parents[1]

# Waits for Ctrl-C like the training loop, then takes a while to "save" (when a duplicate
# of the same signal is most likely to land), then writes the file.
SAVER = """
import pathlib, sys, time
from cifarctl.interrupts import StopRequest
with StopRequest() as stop:
    print("ready", flush=True)
    while not stop():
        time.sleep(0.001)
    time.sleep(0.2)
    pathlib.Path(sys.argv[1]).write_text("saved")
"""


def _start_saver(tmp_path: Path) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", SAVER, str(tmp_path / "saved")], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


def test_one_ctrl_c_delivered_twice_still_saves(tmp_path):
    """`timeout` (or a shell) forwards the terminal's SIGINT: two signals 1 ms apart."""
    process = _start_saver(tmp_path)
    process.send_signal(signal.SIGINT)
    os.system("sleep 0.001")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert (tmp_path / "saved").read_text() == "saved"


def _fake_clock(times):
    return lambda: times[0]


def test_a_second_signal_within_the_grace_period_is_ignored():
    now = [100.0]
    stop = StopRequest(grace_s=1.0, clock=_fake_clock(now))
    stop._on_sigint(signal.SIGINT, None)
    now[0] = 100.9
    stop._on_sigint(signal.SIGINT, None)
    assert stop()


def test_a_later_second_ctrl_c_aborts_with_a_message():
    now = [100.0]
    stop = StopRequest(grace_s=1.0, clock=_fake_clock(now))
    stop._on_sigint(signal.SIGINT, None)
    now[0] = 101.5
    with pytest.raises(KeyboardInterrupt, match=ABORT_MESSAGE):
        stop._on_sigint(signal.SIGINT, None)


def test_sigterm_then_ctrl_c_in_the_grace_period_is_one_request():
    now = [5.0]
    stop = StopRequest(grace_s=1.0, clock=_fake_clock(now))
    stop._on_sigterm(signal.SIGTERM, None)
    stop._on_sigint(signal.SIGINT, None)
    assert stop()


def test_the_abort_message_is_the_one_error_line(cli, monkeypatch):

    def interrupted_twice(*args, **kwargs):
        raise KeyboardInterrupt(ABORT_MESSAGE)

    monkeypatch.setattr("cifarctl.data.acquire.download_dataset", interrupted_twice)
    result = cli("download")
    assert result.exit_code == 130
    assert result.stderr == f"error: {ABORT_MESSAGE}\n"


@pytest.mark.parametrize(("command", "interrupted_at"), [
    ("download", "cifarctl.data.acquire.download_dataset"),
    ("preview", "cifarctl.data.acquire.ensure_dataset"),
])
def test_ctrl_c_in_a_command_is_said_not_swallowed(cli, monkeypatch, command, interrupted_at):
    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(interrupted_at, ctrl_c)
    result = cli(command)
    assert (result.exit_code, result.stderr) == (130, "error: interrupted\n")


@pytest.mark.parametrize(("signum", "code", "line"), [(signal.SIGTERM, 143, "error: terminated\n"),
                                                      (signal.SIGHUP, 129, "error: hung up\n")])
def test_sigterm_and_sighup_stop_any_command_in_one_line(tmp_path, signum, code, line):
    """`kill` or a closed terminal during a download that hangs: one line, 128 + the signal, nothing left behind."""
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/cifar-10-python.tar.gz"
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(["cifarctl", "--data-dir", str(tmp_path / "data"), "download", "--url", url,
                                "--timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment, cwd=tmp_path)
    time.sleep(2.0)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    silent.close()
    assert process.returncode == code, stderr
    assert stderr.endswith(line) and stderr.count("error:") == 1 and "Traceback" not in stderr, stderr
    assert not [path for path in (tmp_path / "data").rglob("*") if ".tmp-" in path.name]


# A parent that holds a lock, as `download` holds the data dir's, while its decoder workers work.
LOCK_HOLDER = """
import sys, time
from concurrent.futures import ProcessPoolExecutor
from cifarctl.locks import exclusive_lock
from cifarctl.interrupts import prepare_worker

def work(seconds):
    import os
    sys.stdout.write(f"{os.getpid()}\\n")  # one write: two workers' lines never interleave, buffered or not
    sys.stdout.flush()
    time.sleep(seconds)

with exclusive_lock(__import__("pathlib").Path(sys.argv[1])):
    pool = ProcessPoolExecutor(max_workers=2, initializer=prepare_worker)
    futures = [pool.submit(work, 120) for _ in range(2)]
    time.sleep(120)
"""


def test_workers_die_with_their_parent_and_leave_no_lock_behind(tmp_path):
    """kill -9 of a command while its decoders run: the decoders die too, and the next
    command on the same data dir gets the lock at once."""
    import time

    from cifarctl.locks import exclusive_lock

    lock = tmp_path / ".cifarctl.lock"
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(lock)], env=environment,
                              stdout=subprocess.PIPE, text=True)
    workers = [int(parent.stdout.readline()) for _ in range(2)]
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)
    with exclusive_lock(lock, busy="still held by {holder}"):
        pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


# `cifarctl ARGS...` with `module.function` made slow: it says "slow phase" on stderr, then sleeps (in the
# command, or in its decoder processes): python -c SLOW_AT module function ARGS...
SLOW_AT = """
import importlib, os, sys, time
module, function = sys.argv[1:3]

def slow(*args, **kwargs):
    os.write(2, b"slow phase\\n")
    time.sleep(300)

setattr(importlib.import_module(module), function, slow)
for setting in os.environ.get("SET_BEFORE", "").split():  # module:NAME=NUMBER, e.g. a smaller chunk
    where, _, value = setting.partition("=")
    name, _, attribute = where.partition(":")
    setattr(importlib.import_module(name), attribute, int(value))
sys.argv[1:] = sys.argv[3:]
from cifarctl.cli.app import main
main()
"""
STOPPED = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated"), signal.SIGHUP: (129, "hung up")}


def _pictures(folder: Path, count: int) -> Path:
    from PIL import Image

    for index in range(count):
        (folder / ("cat" if index % 2 else "dog")).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (index % 256, 0, 0)).save(folder / ("cat" if index % 2 else "dog") / f"{index}.png")
    return folder


def _long_phases(tmp_path: Path, data_dir: Path) -> dict[str, tuple[str, str, list[str]]]:
    from helpers import save_tutorial_model

    model = str(save_tutorial_model(tmp_path))
    archive = data_dir / "cifar-10-batches-py"
    pictures = str(_pictures(tmp_path / "pictures", 300))
    return {  # phase: (module, function made slow, command)
        "evaluate measuring": ("cifarctl.inference.evaluation", "predict_probabilities",
                               ["--data-dir", str(data_dir), "evaluate", "--model", model]),
        "import decoding (workers)": ("cifarctl.data.image_folder", "_decode_chunk",
                                      ["--workers", "2", "--data-dir", "imported", "--dataset", "pets", "download",
                                       "--from", pictures, "--test-split", "0.1"]),
        "import verifying": ("cifarctl.data.store", "parse_splits",
                             ["--data-dir", "copied", "download", "--from", str(archive)]),
        "prepare (download: verify what is there)": ("cifarctl.data.store", "cache_intact",
                                                     ["--data-dir", str(data_dir), "download"]),
        "predict decoding (workers)": ("cifarctl.inference.images", "decode_chunk",
                                       ["--workers", "2", "predict", "--model", model, pictures]),
        "export check": ("cifarctl.inference.export", "_reloaded", ["export", "--model", model]),
    }


PHASES = ["evaluate measuring", "import decoding (workers)", "import verifying",
          "prepare (download: verify what is there)", "predict decoding (workers)", "export check"]


@pytest.mark.parametrize("phase", PHASES)
def test_every_long_phase_stops_on_a_signal_at_once_and_leaves_nothing(tmp_path, data_dir, phase):
    """Ctrl-C, SIGTERM or SIGHUP in a long phase outside training: the command stops within seconds (not when
    the phase ends: it sleeps 300 s here), says so in one line with 128 + the signal, and leaves no file."""
    import time

    signum = list(STOPPED)[PHASES.index(phase) % 3]
    module, function, args = _long_phases(tmp_path, data_dir)[phase]
    before = _files(tmp_path)
    # chunks of 100 images: two decoder processes busy at once, as with thousands of images
    environment = {**os.environ, "PYTHONPATH": str(REPO), "SET_BEFORE": "cifarctl.data.image_folder:DECODE_CHUNK=100"}
    process = subprocess.Popen([sys.executable, "-c", SLOW_AT, module, function, *args], cwd=tmp_path,
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    while (line := process.stderr.readline()) and line != "slow phase\n":
        lines.append(line)
    assert line == "slow phase\n", f"{phase}: never reached {module}.{function}: {''.join(lines)}"
    sent = time.monotonic()
    process.send_signal(signum)
    _, rest = process.communicate(timeout=120)
    waited = time.monotonic() - sent
    code, word = STOPPED[signum]
    assert process.returncode == code, rest
    errors = [line for line in rest.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {word}"], rest
    assert "Traceback" not in rest and "Exception" not in rest
    assert waited < 20, f"{phase}: {waited:.1f} s from the signal to the exit"
    after = _files(tmp_path)
    assert after == before, f"{phase} left {set(after) - set(before)}"
    assert not [path for path in tmp_path.rglob("*") if ".tmp-" in path.name]


def _files(folder: Path) -> list[Path]:
    """Every file but a data dir's lock (which stays, by design: a data dir's lock file is never removed)."""
    return sorted(path for path in folder.rglob("*") if path.is_file() and path.name != ".cifarctl.lock")
