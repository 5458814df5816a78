import subprocess
import sys
from pathlib import Path

import pytest

from cifarctl import __version__
from cifarctl.cli.app import app
from cifarctl.cli.completions import completion_scripts

COMMANDS = ["download", "preview", "train", "evaluate", "benchmark-gpu"]
REPO = Path(__file__).resolve().parents[1]


def test_help_lists_every_command(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.stdout


def test_no_arguments_shows_help(cli):
    result = cli()
    assert result.exit_code == 0
    assert "Usage: cifarctl" in result.stdout


def test_version(cli):
    result = cli("--version")
    assert (result.exit_code, result.stdout.strip()) == (0, f"cifarctl {__version__}")


COMMON_OPTIONS = {
    "download": ("--data-dir", "--device", "--seed"),
    "preview": ("--data-dir", "--device", "--seed"),
    "train": ("--data-dir", "--device", "--seed"),
    "evaluate": ("--data-dir", "--device"),
    "benchmark-gpu": ("--data-dir", "--device", "--seed"),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help_with_the_common_options(cli, command):
    result = cli(command, "--help")
    assert result.exit_code == 0
    for option in COMMON_OPTIONS[command]:
        assert option in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["train", "--device", "tpu"], "invalid value for '--device'"),
        (["--device", "tpu", "train"], "invalid value for '--device'"),
        (["train", "--no-such-option"], "no such option"),
        (["--seed", "-3", "train"], "--seed"),
        (["no-such-command"], "no such command"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(cli, args, fragment):
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0]
    assert "--help" in lines[0]


def test_bad_environment_is_a_usage_error(cli, monkeypatch):
    monkeypatch.setenv("CIFARCTL_DEVICE", "gpu0")
    result = cli("train", "--help")  # help still works: nothing needs the config
    assert result.exit_code == 0
    result = cli("benchmark-gpu")
    assert result.exit_code == 2
    assert "$CIFARCTL_DEVICE" in result.stderr
    assert "Traceback" not in result.stderr


def test_common_options_work_after_the_subcommand(cli, monkeypatch, tmp_path):
    """The config reaching a command is file < env < root flag < command flag."""
    seen = {}
    import cifarctl.cli.options as options

    real = options.command_config

    def spy(ctx, **flags):
        seen["config"] = real(ctx, **flags)
        raise SystemExit(0)

    monkeypatch.setattr("cifarctl.cli.benchmark_gpu.command_config", spy)
    (tmp_path / "cifarctl.toml").write_text('data_dir = "file"\ndevice = "cpu"\nseed = 1\n')
    monkeypatch.setenv("CIFARCTL_SEED", "2")
    with pytest.raises(SystemExit):
        cli("--data-dir", "root-flag", "benchmark-gpu", "--device", "cuda:0")
    config = seen["config"]
    assert (config.data_dir, config.device, config.seed) == (Path("root-flag"), "cuda:0", 2)
    with pytest.raises(SystemExit):
        cli("--data-dir", "root-flag", "benchmark-gpu", "--data-dir", "command-flag", "--seed", "3")
    config = seen["config"]
    assert (config.data_dir, config.device, config.seed) == (Path("command-flag"), "cpu", 3)


def test_python_dash_m_and_the_entry_point_work():
    for command in ([sys.executable, "-m", "cifarctl", "--help"], ["cifarctl", "--help"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "benchmark-gpu" in done.stdout


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["evaluate", "--help"], ["download", "--help"]])
def test_help_does_not_import_torch(args):
    probe = (
        "import sys\n"
        "from cifarctl.cli.app import run\n"
        f"code = run({args!r})\n"
        "heavy = sorted(m for m in ('torch', 'torchvision', 'numpy') if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY="


def test_shell_completion_does_not_import_torch_and_completes_commands():
    env = {"_CIFARCTL_COMPLETE": "complete_bash", "COMP_WORDS": "cifarctl tr", "COMP_CWORD": "1"}
    probe = "import sys\nfrom cifarctl.cli.app import main\ntry:\n    main()\nfinally:\n    print('torch' in sys.modules, file=sys.stderr)\n"
    import os

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert "train" in done.stdout.split()
    assert done.stderr.strip().splitlines()[-1] == "False"


def test_completion_files_match_the_app():
    """Fails when completions/ drifts: run `python -m cifarctl.cli.completions` to refresh."""
    for filename, text in completion_scripts().items():
        committed = (REPO / "completions" / filename).read_text()
        assert committed == text, f"completions/{filename} is stale"
    assert app.info.name == "cifarctl"
