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
