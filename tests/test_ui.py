"""Terminal output: plain when asked, and never a crash over a closed stdout or stderr."""

import json
import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cifarctl.cli import ui as ui_module
from cifarctl.cli.ui import UI, LiveEvents, PlainEvents

REPO = Path(__file__).resolve().parents[1]


def _shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `python -m cifarctl ...` through bash, so `>&-` really closes a descriptor."""
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(["bash", "-c", command.replace("CIFARCTL", f"{sys.executable} -m cifarctl")],
                          cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


# (shell command, exit code, a fragment of stderr or None when stderr is closed)
CLOSED_STREAMS = [
    ("CIFARCTL --help >&-", 0, ""),
    ("CIFARCTL --version 2>&-", 0, None),
    ("CIFARCTL download --from SOURCE >&-", 0, "differ from the official release"),
    ("CIFARCTL download --from SOURCE 2>&-", 0, None),
    ("CIFARCTL download --from SOURCE >&- 2>&-", 0, None),
    ("CIFARCTL evaluate --model missing.pth >&-", 1, "error: model file missing.pth does not exist"),
    ("CIFARCTL evaluate --model missing.pth 2>&-", 1, None),
    ("CIFARCTL download --from nowhere 2>&-", 2, None),
    ("CIFARCTL download --from nowhere >&-", 2, "error: --from nowhere: no such file or folder"),
]


@pytest.mark.parametrize(("command", "code", "fragment"), CLOSED_STREAMS, ids=[c for c, _, _ in CLOSED_STREAMS])
def test_a_closed_stdout_or_stderr_changes_nothing_but_the_output(fake_batches, tmp_path, command, code, fragment):
    done = _shell(command.replace("SOURCE", str(fake_batches)), tmp_path)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    if fragment is not None:
        assert fragment in done.stderr
    if "download --from SOURCE" in command:
        assert (tmp_path / "data" / "cifar-10-batches-py" / ".cifarctl" / "manifest.json").is_file()


def test_files_opened_with_stdout_closed_do_not_catch_stray_output(tmp_path):
    """Descriptor 1 is reserved (on /dev/null), so a file opened later never becomes 'stdout'."""
    probe = ("import os, sys\nfrom cifarctl.cli.app import _reserve_standard_descriptors\n"
             "_reserve_standard_descriptors()\nfd = os.open('f', os.O_WRONLY | os.O_CREAT)\nprint(fd, file=sys.stderr)\n")
    done = subprocess.run(["bash", "-c", f"{sys.executable} -c \"$PROBE\" >&-"], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PROBE": probe, "PYTHONPATH": str(REPO)}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stderr.strip()) > 2


# --- colour off means plain, even on a terminal -------------------------------------------------

@pytest.fixture
def terminal(monkeypatch):
    """Pretend stdout and stderr are a colour terminal."""
    monkeypatch.setattr(ui_module.PipeSafe, "isatty", lambda self: True)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("CI", raising=False)


def test_a_terminal_gets_colour_and_a_live_bar(terminal):
    ui = UI(color=True)
    assert isinstance(ui.events(), LiveEvents)


def test_without_colour_a_terminal_gets_plain_progress_lines(terminal):
    assert isinstance(UI(color=False).events(), PlainEvents)


@pytest.mark.parametrize("switch", [["--no-color"], []], ids=["--no-color", "NO_COLOR"])
def test_errors_without_colour_have_no_escape_codes(cli, terminal, monkeypatch, switch):
    if not switch:
        monkeypatch.setenv("NO_COLOR", "1")
    result = cli(*switch, "evaluate", "--model", "missing.pth")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: model file") and "\x1b[" not in result.stderr


def test_errors_in_colour_are_still_red_by_default(cli, terminal):
    result = cli("evaluate", "--model", "missing.pth")
    assert "\x1b[" in result.stderr


def test_progress_without_colour_on_a_terminal_moves_no_cursor(cli, terminal, fake_batches, monkeypatch):
    result = cli("--no-color", "download", "--from", str(fake_batches))
    assert result.exit_code == 0, result.stderr
    assert "\x1b[" not in result.stderr and "\x1b[" not in result.stdout


def test_json_never_carries_nan_or_infinity(capsys):
    from cifarctl.cli.ui import UI

    UI(color=False).print_json({"loss": float("nan"), "nested": [float("inf"), 1.5], "ok": 2})
    assert json.loads(capsys.readouterr().out) == {"loss": None, "nested": [None, 1.5], "ok": 2}


@pytest.mark.parametrize(("error", "counted"), [
    (OSError(errno.EIO, "Input/output error"), True),
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (BrokenPipeError(errno.EPIPE, "Broken pipe"), False),
])
def test_a_failed_write_to_stdout_is_kept_for_the_exit_code(error, counted):
    from cifarctl.cli.ui import WRITE_FAILURES, PipeSafe

    class Failing(io.StringIO):
        def write(self, text):
            raise error

        def fileno(self):
            raise io.UnsupportedOperation

    WRITE_FAILURES.clear()
    stream = PipeSafe(Failing(), "stdout")
    stream.write("result\n")
    assert stream.gone
    assert [failure for _, failure in WRITE_FAILURES] == ([error] if counted else [])
    WRITE_FAILURES.clear()
