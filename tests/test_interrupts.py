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
