"""Terminal output: plain when asked, and never a crash over a closed stdout or stderr."""

import errno
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cifarctl.cli.progress_events import LiveEvents, PlainEvents
from cifarctl.cli.streams import PipeSafe
from cifarctl.cli.ui import UI

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
             "_reserve_standard_descriptors()\nfd = os.open('f', os.O_WRONLY | os.O_CREAT)\n"
             "print(fd, file=sys.stderr)\n")
    done = subprocess.run(["bash", "-c", f"{sys.executable} -c \"$PROBE\" >&-"], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PROBE": probe, "PYTHONPATH": str(REPO)}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stderr.strip()) > 2


# --- colour off means plain, even on a terminal -------------------------------------------------

@pytest.fixture
def terminal(monkeypatch):
    """Pretend stdout and stderr are a colour terminal."""
    monkeypatch.setattr(PipeSafe, "isatty", lambda self: True)
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
    from cifarctl.cli.streams import WRITE_FAILURES, PipeSafe

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


def _non_utf8(name: bytes) -> str:
    return os.fsdecode(name)  # what Python makes of a name that is not UTF-8: b"\xe9" -> "\udce9"


@pytest.mark.parametrize(("args", "stream", "shown"), [
    (["evaluate", "--model", b"caf\xe9.pth", "--no-download"], "stderr", "model file caf\\xe9.pth does not exist"),
    (["plot", b"run\xff.metrics.jsonl"], "stderr", "metrics log run\\xff.metrics.jsonl does not exist"),
    (["predict", "--device", "cpu", "."], "stdout", "caf\\xe9.png\t"),
    (["predict", "--device", "cpu", "."], "stderr", "skipped bad\\xff.png: not an image"),
], ids=["error line", "plot error", "predict rows", "predict warning"])
def test_names_that_are_not_utf8_print_readably(cli, tmp_path, args, stream, shown):
    """They printed as \\udcff on stderr (and a strict stdout could not print them at all)."""
    from helpers import save_tutorial_model
    from PIL import Image

    save_tutorial_model(tmp_path)
    Image.new("RGB", (40, 40), "red").save(_non_utf8(b"caf\xe9.png"), format="PNG")
    (tmp_path / _non_utf8(b"bad\xff.png")).write_bytes(b"not a picture")
    result = cli(*(_non_utf8(arg) if isinstance(arg, bytes) else arg for arg in args))
    text = getattr(result, stream)
    assert shown in text, text
    assert "\\udc" not in text and not any(0xDC80 <= ord(c) <= 0xDCFF for c in text)


def test_json_keeps_names_that_are_not_utf8_exactly(cli, tmp_path):
    """--json is for programs: the escaped surrogate reads back as the very file name."""
    from helpers import save_tutorial_model
    from PIL import Image

    save_tutorial_model(tmp_path)
    Image.new("RGB", (40, 40), "red").save(_non_utf8(b"caf\xe9.png"), format="PNG")
    result = cli("predict", "--device", "cpu", "--json", ".")
    assert result.exit_code == 0, result.stderr
    path = json.loads(result.stdout)["predictions"][0]["path"]
    assert os.fsencode(path).endswith(b"caf\xe9.png")


def test_a_strict_stdout_still_prints_rows_with_names_that_are_not_utf8(tmp_path):
    """With a strict encoder (a UTF-8 locale that is not C.UTF-8) the row was dropped in silence."""
    from helpers import save_tutorial_model
    from PIL import Image

    save_tutorial_model(tmp_path)
    Image.new("RGB", (40, 40), "red").save(tmp_path / _non_utf8(b"caf\xe9.png"), format="PNG")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-m", "cifarctl", "predict", "--device", "cpu", "."], cwd=tmp_path,
                          capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"caf\\xe9.png\t"), done.stdout
