import subprocess
import sys
from pathlib import Path

import pytest

from cifarctl import __version__
from cifarctl.cli.app import app
from cifarctl.cli.completions import completion_scripts

COMMANDS = ["download", "preview", "train", "tune", "evaluate", "benchmark-gpu"]
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


# Each command offers the common options it uses after its name, and only those.
COMMON_OPTIONS = {
    "download": {"--data-dir", "--dataset"},
    "preview": {"--data-dir", "--dataset", "--seed"},
    "train": {"--data-dir", "--dataset", "--device", "--seed"},
    "tune": {"--data-dir", "--dataset", "--device", "--seed"},
    "evaluate": {"--data-dir", "--dataset", "--device"},
    "benchmark-gpu": {"--data-dir", "--dataset", "--device"},
    "predict": {"--device"},
}


@pytest.mark.parametrize(("command", "options"), COMMON_OPTIONS.items(), ids=COMMON_OPTIONS)
def test_each_command_has_help_with_the_common_options_it_uses(cli, command, options):
    result = cli(command, "--help")
    assert result.exit_code == 0
    shown = {option for option in ("--data-dir", "--dataset", "--device", "--seed") if f"  {option} " in result.stdout}
    assert shown == options


METAVARS = [
    ([], "--config FILE"), ([], "--workers N"),
    (["download"], "--url URL"), (["download"], "--md5 MD5"), (["download"], "--from PATH"),
    (["download"], "--timeout SECONDS"), (["download"], "--retries N"),
    (["preview"], "--count N"), (["preview"], "--classes NAMES"), (["preview"], "--save FILE.png"),
    (["benchmark-gpu"], "--widths W,W,..."), (["benchmark-gpu"], "--steps N"), (["benchmark-gpu"], "--repeats N"),
]


@pytest.mark.parametrize(("command", "usage"), METAVARS, ids=[" ".join([*c, u]) for c, u in METAVARS])
def test_help_names_values_by_what_they_are(cli, command, usage):
    result = cli(*command, "--help")
    assert usage in result.stdout
    assert "<list[str]>" not in result.stdout and "<float range>" not in result.stdout


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


def _spy_on_start(monkeypatch, module: str) -> dict:
    """Record the Config a command starts with, and stop it there."""
    import cifarctl.cli.startup as startup

    seen = {}

    def spy(ctx):
        seen["config"] = startup.start(ctx).config
        raise SystemExit(0)

    monkeypatch.setattr(f"cifarctl.cli.{module}.start", spy)
    return seen


def test_common_options_work_after_the_subcommand(cli, monkeypatch, tmp_path):
    """The config reaching a command is file < env < root flag < command flag."""
    seen = _spy_on_start(monkeypatch, "train")
    (tmp_path / "cifarctl.toml").write_text('data_dir = "file"\ndevice = "cpu"\nseed = 1\n')
    monkeypatch.setenv("CIFARCTL_SEED", "2")
    with pytest.raises(SystemExit):
        cli("--data-dir", "root-flag", "train", "--device", "cuda:0")
    config = seen["config"]
    assert (config.data_dir, config.device, config.seed) == (Path("root-flag"), "cuda:0", 2)
    with pytest.raises(SystemExit):
        cli("--data-dir", "root-flag", "train", "--data-dir", "command-flag", "--seed", "3")
    config = seen["config"]
    assert (config.data_dir, config.device, config.seed) == (Path("command-flag"), "cpu", 3)


# Every global option, after every command that uses it, reaches the Config as it would
# before the command: `cifarctl predict --workers 2` was "no such option".
AFTER_THE_COMMAND = [
    ("predict", ["--workers", "2"], "workers", 2),
    ("download", ["--workers", "3"], "workers", 3),
    ("predict", ["--device", "cpu"], "device", "cpu"),
    ("plot", ["--no-color"], "color", False),
    ("export", ["-q"], "quiet", True),
    ("evaluate", ["-vv"], "verbose", 2),
    ("benchmark-gpu", ["--verbose"], "verbose", 1),
    ("preview", ["--seed", "7"], "seed", 7),
]


@pytest.mark.parametrize(("command", "args", "field", "value"), AFTER_THE_COMMAND,
                         ids=[f"{c} {' '.join(a)}" for c, a, _, _ in AFTER_THE_COMMAND])
def test_global_options_are_accepted_after_the_command(cli, monkeypatch, command, args, field, value):
    seen = _spy_on_start(monkeypatch, command.replace("-", "_"))
    with pytest.raises(SystemExit):
        cli(command, *args)
    assert getattr(seen["config"], field) == value
    assert seen["config"].source_of(field) == "option"


def test_config_file_option_after_the_command(cli, monkeypatch, tmp_path):
    (tmp_path / "other.toml").write_text("seed = 11\n")
    seen = _spy_on_start(monkeypatch, "preview")
    with pytest.raises(SystemExit):
        cli("preview", "--config", str(tmp_path / "other.toml"))
    assert seen["config"].seed == 11


@pytest.mark.parametrize("command", ["download", "preview", "train", "tune", "evaluate", "predict", "export",
                                     "benchmark-gpu", "plot"])
def test_each_command_help_lists_its_global_options_apart(cli, command):
    from cifarctl.cli.app import COMMANDS

    help_text = cli(command, "--help").stdout
    own, _, shared = help_text.partition("Global options (before or after the command):")
    uses = {"--" + name.replace("_", "-") for name in COMMANDS[command][1]}
    for option in ("--config", "--no-color", "--quiet", "--verbose", *uses):
        assert f" {option} " in shared, (command, option)
        assert f" {option} " not in own, (command, option)


def test_root_help_says_where_global_options_go(cli):
    assert "before the command or after it" in " ".join(cli("--help").stdout.split())


def _all_commands():
    import typer.main

    from cifarctl.cli.startup import Group

    group = typer.main.get_command(app)
    assert isinstance(group, Group)
    return [group, *group.commands.values()]


def test_every_option_names_its_value_by_what_it_is():
    """No typer placeholders (<list[str]>, <int range>, <path>) beside N and FILE."""
    for command in _all_commands():
        for parameter in command.params:
            if getattr(parameter, "is_flag", False) or getattr(parameter, "count", False):
                continue
            if parameter.name in ("install_completion", "show_completion", "version", "help"):
                continue
            assert parameter.metavar, f"{command.name} {parameter.name} has no metavar"
            assert "<" not in parameter.metavar and "[" not in parameter.metavar, parameter.metavar


@pytest.mark.parametrize("command", ["", "download", "preview", "train", "tune", "evaluate", "predict", "export",
                                     "benchmark-gpu", "plot"])
def test_help_has_no_typer_placeholders_and_plain_usage(cli, command):
    text = cli(*command.split(), "--help").stdout
    for placeholder in ("<list[", "<int", "<float", "<path>", "<text>", "<str>", "[[", "]...]"):
        assert placeholder not in text, (command, placeholder)


def test_root_help_shows_each_command_summary_whole(cli, monkeypatch):
    """click cut summaries at the terminal's width ("Download CIFAR-10 (resumable, verified), or import it...")."""
    monkeypatch.setenv("COLUMNS", "80")
    text = " ".join(cli("--help").stdout.split())
    for command in _all_commands()[1:]:
        first_sentence = " ".join(command.help.split("\n\n")[0].split())
        assert first_sentence in text, command.name


def test_python_dash_m_and_the_entry_point_work():
    for command in ([sys.executable, "-m", "cifarctl", "--help"], ["cifarctl", "--help"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "benchmark-gpu" in done.stdout


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["tune", "--help"], ["evaluate", "--help"],
                                  ["download", "--help"]])
def test_help_does_not_import_torch(args):
    probe = (
        "import sys\n"
        "from cifarctl.cli.app import run\n"
        f"code = run({args!r})\n"
        "heavy = sorted(m for m in ('torch', 'torchvision', 'numpy', 'optuna') if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY="


COMPLETIONS = [
    ("cifarctl tr", "train"),
    ("cifarctl train --mo", "--model"),  # 3.7 s: the --precision check imported torch
    ("cifarctl train --precision bf16 --time-budget 5m --lr 0.1 --mo", "--model-option"),
    ("cifarctl --device cpu train --model fast --width 8 --ep", "--epochs"),
    ("cifarctl tu", "tune"),
    ("cifarctl tune --model fast --space lr=0.1:2:log --pruner hyperband --tr", "--trials"),
    ("cifarctl predict --workers 2 --resize crop --to", "--top"),
    ("cifarctl evaluate --split test --save-confusion c.png --sa", "--save-mistakes"),
    ("cifarctl preview --classes cat,dog --co", "--count"),
    ("cifarctl benchmark-gpu --widths 6,32 --model net --re", "--repeats"),
    ("cifarctl download --md5 0123456789abcdef0123456789abcdef --fr", "--from"),
    ("cifarctl plot --smooth 3 --la", "--label"),
    ("cifarctl export --format onnx --to", "--tolerance"),
    ("cifarctl train --class-weights w.json --init-from m.pth --fr", "--freeze-backbone"),
    ("cifarctl train --sampling bal", "balanced"),
    ("cifarctl predict --explain h.png --st", "--strict"),
    ("cifarctl evaluate --explain e.png --save-m", "--save-mistakes"),
]


@pytest.mark.parametrize(("words", "expected"), COMPLETIONS, ids=[w for w, _ in COMPLETIONS])
def test_shell_completion_does_not_import_torch(words, expected):
    env = {"_CIFARCTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    probe = ("import sys\nfrom cifarctl.cli.app import main\ntry:\n    main()\nfinally:\n"
             "    print(sorted(m for m in ('torch', 'torchvision', 'numpy', 'optuna') if m in sys.modules), "
             "file=sys.stderr)\n")
    import os

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert expected in done.stdout.split(), done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(("words", "environment"), [
    ("cifarctl --data-dir d train --dataset p", {}),
    ("cifarctl train --data-dir d --dataset p", {}),
    ("cifarctl evaluate --dataset p", {"CIFARCTL_DATA_DIR": "d"}),
    ("cifarctl --config c.toml preview --dataset p", {}),
])
def test_completion_offers_the_imported_datasets_without_torch(tmp_path, words, environment):
    """`--dataset <TAB>` offers the built-ins and the datasets imported into the data dir that the command line,
    $CIFARCTL_DATA_DIR or the config names; read from the folders alone (no torch, no numpy)."""
    import os

    for name in ("pets", "pigs", "cifar-10-batches-py"):
        (tmp_path / "d" / name / ".cifarctl").mkdir(parents=True)
        (tmp_path / "d" / name / ".cifarctl" / "manifest.json").write_text("{}")
    (tmp_path / "d" / "plain").mkdir()  # a folder without a manifest is no dataset
    (tmp_path / "c.toml").write_text('data_dir = "d"\n')
    env = {"_CIFARCTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    probe = ("import sys\nfrom cifarctl.cli.app import main\ntry:\n    main()\nfinally:\n"
             "    print(sorted(m for m in ('torch', 'torchvision', 'numpy') if m in sys.modules), file=sys.stderr)\n")
    clean = {name: value for name, value in os.environ.items() if not name.startswith("CIFARCTL_")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**clean, "PYTHONPATH": str(REPO), **env, **environment})
    assert done.stdout.split() == ["pets", "pigs"], done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_the_imported_dataset_names_are_read_from_the_folders(tmp_path):
    from cifarctl.dataset_names import imported_dataset_names

    (tmp_path / "zoo" / ".cifarctl").mkdir(parents=True)
    (tmp_path / "zoo" / ".cifarctl" / "manifest.json").write_text("{}")
    assert imported_dataset_names(tmp_path) == ["zoo"]
    assert imported_dataset_names(tmp_path / "missing") == []


def test_completion_files_match_the_app():
    """Fails when completions/ drifts: run `python -m cifarctl.cli.completions` to refresh."""
    for filename, text in completion_scripts().items():
        committed = (REPO / "completions" / filename).read_text()
        assert committed == text, f"completions/{filename} is stale"
    assert app.info.name == "cifarctl"


def test_verbose_shows_each_setting_with_its_source_and_the_data_dir(cli, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CIFARCTL_WORKERS", "2")
    result = cli("-v", "--data-dir", str(data_dir), "preview", "--seed", "4", "--count", "1")
    assert result.exit_code == 0, result.stderr
    assert "setting seed = 4 (option)" in result.stderr
    assert "setting workers = 2 ($CIFARCTL_WORKERS)" in result.stderr
    assert "setting device = auto (default)" in result.stderr
    assert f"data dir: {data_dir}" in result.stderr
    assert "dataset: CIFAR-10, 300 training and 100 test images" in result.stderr
    assert "setting" not in cli("--data-dir", str(data_dir), "preview", "--seed", "4").stderr


def test_options_that_did_nothing_are_gone(cli):
    """A global option after a command that does not use it is refused, saying so."""
    for args in (["download", "--seed", "1"], ["download", "--device", "cpu"], ["preview", "--device", "cpu"],
                 ["predict", "--data-dir", "x"], ["benchmark-gpu", "--seed", "1"], ["train", "--workers", "2"]):
        result = cli(*args)
        assert result.exit_code == 2, args
        assert f"{args[0]} does not use {args[1]} (a global option that other commands use)" in result.stderr, args
    assert "no such option: --nope" in cli("train", "--nope").stderr


@pytest.mark.parametrize("args", [["plot", "missing.metrics.jsonl"], ["predict"], ["export", "--model", "missing.pth"],
                                  ["evaluate", "--model", "missing.pth", "--no-download"],
                                  ["download", "--from", "missing"]], ids=lambda args: args[0])
def test_verbose_shows_the_settings_for_every_command(cli, args):
    """export, plot and predict skipped -v's settings dump: every command now starts the same way."""
    result = cli(*args, "-v")
    assert result.exit_code != 0
    assert "setting device = auto (default)" in result.stderr
    assert "setting verbose = 1 (option)" in result.stderr


COMMANDS = ("download", "preview", "train", "tune", "evaluate", "predict", "export", "plot", "benchmark-gpu")


@pytest.mark.parametrize("command", COMMANDS)
def test_no_help_line_is_wider_than_a_wide_terminal(cli, monkeypatch, command):
    monkeypatch.setenv("COLUMNS", "200")
    lines = cli(command, "--help").stdout.splitlines()
    assert lines and max(map(len, lines)) <= 100


def test_train_help_groups_its_options_into_panels(cli):
    text = cli("train", "--help").stdout
    panels = ["Model:", "Recipe:", "Length:", "Measuring and repeated runs:", "Output and resume:", "Machine:"]
    positions = [text.index(f"\n{panel}\n") for panel in panels]
    assert positions == sorted(positions)
    assert text.index("  --time-budget DURATION") > text.index("\nLength:\n") > text.index("  --label-smoothing S")
    assert text.index("  --seeds LIST") > text.index("\nMeasuring and repeated runs:\n")


def test_tune_help_groups_its_options_into_panels(cli):
    text = cli("tune", "--help").stdout
    panels = ["Search:", "Each trial's length:", "Measuring:", "Study and database:", "Output:", "Machine:"]
    positions = [text.index(f"\n{panel}\n") for panel in panels]
    assert positions == sorted(positions)
    assert text.index("  --space NAME=RANGE") > text.index("\nSearch:\n")
    assert "fast lr=0.2:2:log" in " ".join(text.split())  # each family's default space, from its entry
