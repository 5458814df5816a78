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
