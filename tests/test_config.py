from pathlib import Path

import pytest

from cifarctl.config import Config, load_config
from cifarctl.errors import ConfigError


def test_defaults_follow_the_tutorial():
    config = load_config(environ={})
    assert config.data_dir == Path("data")
    assert config.device == "auto"
    assert config.seed is None


def test_file_then_environment_then_flags(tmp_path: Path):
    (tmp_path / "cifarctl.toml").write_text('data_dir = "from-file"\ndevice = "cpu"\nseed = 1\nworkers = 3\n')
    from_file = load_config(environ={}, cwd=tmp_path)
    assert (from_file.data_dir, from_file.device, from_file.seed, from_file.workers) == (
        Path("from-file"), "cpu", 1, 3)

    env = {"CIFARCTL_DATA_DIR": "from-env", "CIFARCTL_SEED": "2"}
    from_env = load_config(environ=env, cwd=tmp_path)
    assert (from_env.data_dir, from_env.device, from_env.seed) == (Path("from-env"), "cpu", 2)

    from_flags = load_config(environ=env, cwd=tmp_path, data_dir=Path("from-flag"), seed=None)
    assert from_flags.data_dir == Path("from-flag")
    assert from_flags.seed == 2, "a flag left unset must not override the environment"


def test_explicit_config_file_and_env_variable(tmp_path: Path):
    other = tmp_path / "other.toml"
    other.write_text('device = "cuda:1"\n')
    assert load_config(config_file=other, environ={}).device == "cuda:1"
    assert load_config(environ={"CIFARCTL_CONFIG": str(other)}).device == "cuda:1"


def test_no_color_environment_turns_colour_off():
    assert load_config(environ={"NO_COLOR": "1"}).color is False
    assert load_config(environ={"NO_COLOR": ""}).color is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('colour = true\n', "unknown setting 'colour'"),
        ('device = "tpu"\n', "'tpu' is not a device"),
        ('seed = -1\n', "below the minimum"),
        ('seed = "x"\n', "not a whole number"),
        ('data_dir = \n', "not valid TOML"),
        ('seed = 9223372036854775808\n', "above the maximum of 9223372036854775807"),
        ('seed = 100000000000000000000000\n', "above the maximum"),
        ('workers = 100000\n', "above the maximum of 256"),
        ('verbose = 1000\n', "above the maximum"),
        ('data_dir = "a\\u0000b"\n', "is not a path"),
    ],
)
def test_bad_config_files_are_named(tmp_path: Path, content: str, message: str):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(config_file=path, environ={})
    assert str(path) in str(caught.value)


def test_missing_config_file_is_a_usage_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(config_file=tmp_path / "nope.toml", environ={})


def test_bad_environment_names_the_variable():
    with pytest.raises(ConfigError, match=r"\$CIFARCTL_WORKERS"):
        load_config(environ={"CIFARCTL_WORKERS": "many"})


def test_with_flags_ignores_unset_values():
    config = Config(seed=5).with_flags(seed=None, device="cpu")
    assert (config.seed, config.device) == (5, "cpu")


def test_a_config_file_that_is_not_utf8_is_named(tmp_path: Path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('data_dir = "donn\u00e9es"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="is not UTF-8 text") as caught:
        load_config(config_file=path, environ={})
    assert str(path) in str(caught.value)


def test_a_config_file_that_is_not_utf8_is_one_line_on_the_command_line(cli, tmp_path: Path):
    (tmp_path / "cifarctl.toml").write_bytes(b"seed = 1 # \xff\xfe\n")
    result = cli("download", "--from", "x")
    assert result.exit_code == 2 and result.stderr.startswith("error: config file")
    assert len(result.stderr.splitlines()) == 1 and "internal error" not in result.stderr


@pytest.mark.parametrize(("args", "fragment"), [
    (["--seed", "9223372036854775808", "preview"], "above the maximum"),
    (["preview", "--seed", "99999999999999999999999"], "above the maximum"),
])
def test_seeds_that_do_not_fit_are_usage_errors(cli, args, fragment):
    result = cli(*args)
    assert result.exit_code == 2 and fragment in result.stderr and "--seed" in result.stderr, result.stderr


def test_each_value_remembers_where_it_came_from(tmp_path: Path):
    (tmp_path / "cifarctl.toml").write_text('device = "cpu"\nseed = 1\n')
    config = load_config(environ={"CIFARCTL_SEED": "2", "NO_COLOR": "1"}, cwd=tmp_path, workers=3)
    assert config.source_of("device") == str(tmp_path / "cifarctl.toml")
    assert config.source_of("seed") == "$CIFARCTL_SEED"
    assert config.source_of("color") == "$NO_COLOR"
    assert config.source_of("workers") == "option"
    assert config.source_of("data_dir") == "default"
    assert config.with_flags(seed=4).source_of("seed") == "option"
    assert "seed = 2 ($CIFARCTL_SEED)" in config.described()


def test_a_fifo_as_config_file_is_refused_without_waiting(cli, tmp_path: Path):
    import os

    os.mkfifo(tmp_path / "fifo.toml")
    result = cli("--config", str(tmp_path / "fifo.toml"), "train")
    assert result.exit_code == 2 and "is a FIFO (named pipe), not a regular file" in result.stderr


@pytest.mark.parametrize("content", ["x = " + "[" * 100_000, "x = " + "{a = " * 50_000])
def test_a_hostile_config_file_is_one_clear_error(cli, tmp_path: Path, content: str):
    (tmp_path / "hostile.toml").write_text(content)
    result = cli("--config", str(tmp_path / "hostile.toml"), "train")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: config file") and "internal error" not in result.stderr


def test_the_dataset_comes_from_file_environment_or_option(tmp_path: Path):
    assert load_config(environ={}).dataset == "cifar10"
    (tmp_path / "cifarctl.toml").write_text('dataset = "cifar100"\n')
    assert load_config(environ={}, cwd=tmp_path).dataset == "cifar100"
    assert load_config(environ={"CIFARCTL_DATASET": "pets"}, cwd=tmp_path).dataset == "pets"
    assert load_config(environ={}, cwd=tmp_path, dataset="cifar10").source_of("dataset") == "option"
    with pytest.raises(ConfigError, match=r"bad value for dataset in \$CIFARCTL_DATASET: 'a/b' is not a usable"):
        load_config(environ={"CIFARCTL_DATASET": "a/b"})


def test_a_configured_dataset_is_what_every_command_reads(cli, cifar100_data_dir, tmp_path: Path):
    (tmp_path / "cifarctl.toml").write_text(f'data_dir = "{cifar100_data_dir}"\ndataset = "cifar100"\n')
    result = cli("preview", "--count", "1", "--seed", "3", "--classes", "aquarium_fish")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].strip() == "aquarium_fish"


def test_model_sections_are_read_with_their_source(tmp_path: Path):
    (tmp_path / "cifarctl.toml").write_text('seed = 1\n\n[train.fast]\nlr = 0.8\nwidth = 96\n\n'
                                            '[train.net]\nlr = 0.01\n')
    config = load_config(environ={}, cwd=tmp_path)
    assert config.train == {"fast": {"lr": 0.8, "width": 96}, "net": {"lr": 0.01}}
    assert config.source_of("train") == str(tmp_path / "cifarctl.toml")
    assert f"train.fast.width = 96 ({tmp_path / 'cifarctl.toml'})" in config.described()
    (tmp_path / "empty").mkdir()
    assert load_config(environ={}, cwd=tmp_path / "empty").train == {}


@pytest.mark.parametrize(("content", "message"), [
    ("train = 3\n", "holds one table per model"),
    ("[train]\nlr = 0.1\n", "holds one table per model"),
    ('[train.fast]\nlr = "fast"\n', r"\[train.fast\] lr = 'fast' is not a finite number"),
    ("[train.fast]\nlr = inf\n", "is not a finite number"),
    ("[train.fast]\nnesterov = true\n", "is not a finite number"),
])
def test_bad_model_sections_are_named(tmp_path: Path, content: str, message: str):
    (tmp_path / "cifarctl.toml").write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_config(environ={}, cwd=tmp_path)


def test_train_starts_from_the_model_section_and_options_win(cli, data_dir, tmp_path: Path):
    import json

    (tmp_path / "cifarctl.toml").write_text("[train.net]\nlr = 0.004\nmomentum = 0.8\nwidth = 8\n"
                                            "[train.fast]\nlr = 2.0\n")
    result = cli("train", "--epochs", "1", "--batch-size", "50", "--seed", "0", "--momentum", "0.7", "--json")
    assert result.exit_code == 0, result.stderr
    config = json.loads(result.stdout)["config"]
    assert (config["lr"], config["momentum"], config["width"]) == (0.004, 0.7, 8)  # --momentum wins
    assert "cifarctl.toml [train.net]: lr 0.004, width 8\n" in result.stderr


@pytest.mark.parametrize(("section", "message"), [
    ("colour = 1", r"cifarctl.toml \[train.net\]: net has no setting 'colour'; it takes lr, momentum,"),
    ("momentum = 1.5", r"cifarctl.toml \[train.net\]: momentum = 1.5 is outside 0 <= momentum < 1"),
    ("width = 8.5", r"width = 8.5 is outside 1 <= width <= 4096, whole numbers"),
])
def test_a_bad_model_section_stops_train_with_exit_2(cli, data_dir, tmp_path: Path, section: str, message: str):
    import re

    (tmp_path / "cifarctl.toml").write_text(f"[train.net]\n{section}\n")
    result = cli("train", "--epochs", "1")
    assert result.exit_code == 2 and re.search(message, result.stderr), result.stderr
    assert not (tmp_path / "cifar_net.pth").exists()
