"""The model registry, model files, and every registered family end to end on tiny data."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from cifarctl.data.catalog import locate
from cifarctl.errors import CheckpointError, UsageError
from cifarctl.inference.model_files import MODEL_FORMAT, load_trained_model
from cifarctl.models import ModelInfo, build_model, expected_shapes, registry
from cifarctl.recipes import Recipe


def test_registry_is_importable_without_torch():
    probe = "import sys, cifarctl.models.registry as r; print(r.names(), 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.split()[-1] == "False", done.stderr


def test_every_family_builds_to_the_shapes_it_declares():
    for family in registry.FAMILIES.values():
        info = ModelInfo(family.name, family.resolve_options({}))
        model = build_model(info)
        assert {name: tuple(t.shape) for name, t in model.state_dict().items()} == expected_shapes(info)
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_options_are_checked_against_the_family():
    net = registry.get("net")
    assert net.resolve_options({}) == {"width": 6}
    with pytest.raises(UsageError, match=r"outside 1\.\.4096"):
        net.resolve_options({"width": 300_000})
    with pytest.raises(UsageError, match="does not take --depth"):
        net.resolve_options({"depth": 3})
    with pytest.raises(UsageError, match="choose one of"):
        registry.get("resnet")


@pytest.mark.parametrize("name", sorted(registry.FAMILIES))
def test_every_family_trains_saves_evaluates_and_resumes(cli, data_dir, tmp_path, name):
    """A few steps of each family, then evaluate reads the file, and an interrupted run resumed
    gives the same weights as an uninterrupted one."""
    args = ["train", "--model", name, "--epochs", "2", "--batch-size", "100", "--log-every", "1", "--seed", "5"]
    assert cli(*args, "-o", "straight.pth").exit_code == 0
    evaluated = cli("evaluate", "-m", "straight.pth", "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["model"]["name"] == name

    from cifarctl.data.memory import load_split
    from cifarctl.errors import Interrupted
    from cifarctl.training.context import Context
    from cifarctl.training.loop import train
    from cifarctl.training.run_files import run_files
    from cifarctl.training.settings import TrainSettings

    # the CLI runs take their threads from $CIFARCTL_THREADS (conftest): the same here, for equal sums
    settings = TrainSettings.for_model(name, seed=5, epochs=2, batch_size=100, log_every=1,
                                       threads=int(os.environ["CIFARCTL_THREADS"]))
    calls = iter(range(100))
    with pytest.raises(Interrupted):
        train(settings, load_split(locate(data_dir), "train"), run_files(tmp_path / "resumed.pth"),
              context=Context(should_stop=lambda: next(calls) == 4))
    assert cli(*args, "-o", "resumed.pth", "--resume").exit_code == 0
    straight = load_trained_model(tmp_path / "straight.pth").network.state_dict()
    resumed = load_trained_model(tmp_path / "resumed.pth").network.state_dict()
    assert all(torch.equal(straight[key], resumed[key]) for key in straight)


def test_non_tutorial_files_say_what_they_hold(cli, data_dir, tmp_path):
    assert cli("train", "--model", "resnet18", "--epochs", "1", "--batch-size", "150", "-o", "r.pth").exit_code == 0
    document = torch.load(tmp_path / "r.pth", weights_only=True)
    assert document["format"] == MODEL_FORMAT and document["family"] == "resnet18"
    assert document["normalization"]["mean"] == list(registry.get("resnet18").normalization[0])
    assert len(document["classes"]) == 10


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"format": MODEL_FORMAT, "version": 1, "family": "nope", "options": {}, "state_dict": {}}, "does not know"),
        ({"format": MODEL_FORMAT, "version": 1, "family": "net", "options": {"width": 300_000},
          "state_dict": {"w": torch.zeros(1)}}, "outside 1..4096"),
        ({"format": MODEL_FORMAT, "version": 1, "family": "net", "options": "x", "state_dict": {}}, "options"),
        ({"format": MODEL_FORMAT, "version": 9}, "version 9"),
        ({"conv1.weight": torch.zeros(6, 3, 5)}, "does not know"),
    ],
)
def test_hand_made_model_files_are_refused_cleanly(tmp_path, document, message):
    torch.save(document, tmp_path / "m.pth")
    with pytest.raises(CheckpointError, match=message):
        load_trained_model(tmp_path / "m.pth")


def test_sizes_claimed_by_a_file_are_limited_before_building(tmp_path):
    """A tutorial state_dict claiming width 300,000 must not allocate a giant Net."""
    state = {name: torch.zeros(1) for name in ("conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
                                               "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias")}
    state["conv1.weight"] = torch.zeros(300_000, 3, 1, 1)
    torch.save(state, tmp_path / "huge.pth")
    with pytest.raises(CheckpointError, match=r"outside 1\.\.4096"):
        load_trained_model(tmp_path / "huge.pth")


def test_non_finite_weights_are_reported(tmp_path):
    from cifarctl.models.net.network import Net

    state = Net().state_dict()
    state["fc3.bias"][0] = float("nan")
    torch.save(state, tmp_path / "nan.pth")
    with pytest.raises(CheckpointError, match="non-finite"):
        load_trained_model(tmp_path / "nan.pth")


TINY_ENTRY = """
from cifarctl.models.registry import Family, ModelOption
from cifarctl.recipes import Recipe

FAMILY = Family(name={name!r}, title="Tiny", summary="a made-up family for a test",
                recipe=Recipe(name="tiny", epochs=1, batch_size=32, lr=0.05, schedule="onecycle", warmup=0.2,
                              augment="crop-flip", log_every=10),
                options=(ModelOption("channels", 4, 1, 64, "channels"),))
"""

TINY_NETWORK = """
from pathlib import Path

import torch.nn as nn


def build(channels=4, num_classes=10):
    return nn.Sequential(nn.Conv2d(3, channels, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(channels, num_classes))


def {prepare}(model, images):
    Path("prepared.txt").write_text(f"{{len(images)}} {{images.dtype}}")
"""

RUN_WITH_FAMILIES_IN = """
import sys

import cifarctl.models

cifarctl.models.__path__.append(sys.argv.pop(1))  # a folder outside the project, searched as part of it
from cifarctl.cli.app import run

sys.exit(run(sys.argv[1:]))
"""


def write_family(folder, name, prepare="prepare"):
    """A family folder: the entry in `__init__.py`, the network and a hook named `prepare` in `network.py`."""
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(TINY_ENTRY.format(name=name))
    (folder / name / "network.py").write_text(TINY_NETWORK.format(prepare=prepare))


def test_a_new_family_is_one_folder_and_nothing_else(data_dir, tmp_path):
    """A family's folder, put where cifarctl looks for families, and no project file edited:
    train lists it, builds it, trains it with its recipe and calls its prepare hook; a
    misspelled hook in another folder stops that family loading with one clear line."""
    write_family(tmp_path / "families", "tiny")
    write_family(tmp_path / "families", "typo", prepare="prepar")
    (tmp_path / "cli.py").write_text(RUN_WITH_FAMILIES_IN)

    def run(*args):
        return subprocess.run([sys.executable, "cli.py", str(tmp_path / "families"), "--data-dir", str(data_dir),
                               *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)

    helped = " ".join(run("train", "--help").stdout.split())
    assert "tiny: a made-up family for a test" in helped and "typo: a made-up family" in helped
    trained = run("train", "--model", "tiny", "--model-option", "channels=8", "--epochs", "1", "-o", "tiny.pth")
    assert trained.returncode == 0, trained.stderr
    assert "tiny recipe (1 epoch, batch 32, lr 0.05)" in trained.stderr
    assert (tmp_path / "prepared.txt").read_text() == "300 torch.float32"  # every training image, normalised
    evaluated = run("evaluate", "-m", "tiny.pth", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    model = json.loads(evaluated.stdout)["model"]
    assert (model["name"], model["channels"]) == ("tiny", 8)
    misspelled = run("train", "--model", "typo", "--epochs", "1", "-o", "typo.pth")
    assert misspelled.returncode == 1
    assert misspelled.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "network.py defines prepar(), which is neither build nor a hook" in misspelled.stderr
    assert "did you mean prepare?" in misspelled.stderr


@pytest.fixture
def families(tmp_path, monkeypatch):
    """A folder searched as part of `cifarctl.models` during one test, and forgotten after it."""
    import cifarctl.models
    from cifarctl.models import networks

    folder = tmp_path / "families"
    folder.mkdir()
    monkeypatch.setattr(cifarctl.models, "__path__", [*cifarctl.models.__path__, str(folder)])
    monkeypatch.setattr(networks, "_LOADED", {})
    yield folder
    for name in [name for name in sys.modules if name.startswith("cifarctl.models.made_up")]:
        del sys.modules[name]


def _made_up(folder, network, **changes):
    """A family `made_up` whose network.py is `network`, and its entry (with `changes`)."""
    from cifarctl.models.registry import Family, ModelOption

    (folder / "made_up").mkdir()
    (folder / "made_up" / "__init__.py").write_text("")
    (folder / "made_up" / "network.py").write_text(textwrap.dedent(network))
    entry = {"name": "made_up", "title": "MadeUp", "summary": "a made-up family", "recipe": MADE_UP,
             "options": (ModelOption("channels", 4, 1, 64, "channels"),)}
    return Family(**{**entry, **changes})


MADE_UP = Recipe(name="made-up", epochs=1, batch_size=32, lr=0.05)
BUILD = "def build(channels=4, num_classes=10):\n    return None\n"


@pytest.mark.parametrize(("network", "changes", "message"), [
    (BUILD + "def prepar(model, images): pass\n", {}, r"defines prepar\(\), .*did you mean prepare\?"),
    (BUILD + "def widen(model): pass\n", {}, r"defines widen\(\), which is neither build nor a hook .*_: _widen\)"),
    (BUILD + "def prepare(model): pass\n", {}, r"prepare\(model\) cannot be called as prepare\(model, images\)"),
    ("def build(num_classes=10): pass\n", {}, r"build\(num_classes=10\) cannot be called as build\(channels="),
    ("def make(channels=4, num_classes=10): pass\n", {}, "defines make"),
    ("import torch\n", {}, r"defines no build\("),
    (BUILD, {"recipe": MADE_UP.replace(freeze_stem_after=2)}, "defines no freeze_stem"),
    (BUILD, {"plain_state_dict": True}, r"defines no matches\(state_dict\)"),
], ids=["misspelled hook", "public helper", "hook arguments", "build options", "another public function",
        "no build", "recipe needs freeze_stem", "plain state_dict needs matches"])
def test_a_network_module_that_breaks_the_rules_does_not_load(families, network, changes, message):
    from cifarctl.models import hooks_of
    from cifarctl.models.registry import FamilyError

    with pytest.raises(FamilyError, match=message):
        hooks_of(_made_up(families, network, **changes))


def test_a_family_without_hooks_gets_every_default(families):
    from cifarctl.models import hooks_of
    from cifarctl.recipes.optimizers import standard_param_groups

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    hooks = hooks_of(_made_up(families, "import torch.nn as nn\n\n\ndef build(channels=4, num_classes=10):\n"
                                        "    return nn.Linear(channels, num_classes)\n"))
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    hooks.prepare(model, torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    assert hooks.matches(model.state_dict()) is None
    groups, expected = hooks.param_groups(model, 0.1, 5e-4), standard_param_groups(model, 0.1, 5e-4)
    assert [(len(g["params"]), g["weight_decay"]) for g in groups] == [(1, 5e-4), (3, 0.0)]
    assert [[id(p) for p in g["params"]] for g in groups] == [[id(p) for p in g["params"]] for g in expected]
    with pytest.raises(UsageError, match="no freeze_stem hook"):
        hooks.freeze_stem(model)


@pytest.mark.parametrize(("entry", "message"), [
    ("", r"defines no FAMILY = Family\(\.\.\.\)"),
    (TINY_ENTRY.format(name="other"), "named 'other' but its folder 'made_up'"),
])
def test_a_family_folder_that_breaks_the_rules_is_refused(families, entry, message):
    from cifarctl.models.registry import FamilyError, discover

    (families / "made_up").mkdir()
    (families / "made_up" / "__init__.py").write_text(entry)
    with pytest.raises(FamilyError, match=message):
        discover()


def test_families_are_found_in_order_the_tutorials_first():
    assert registry.names()[0] == "net" and list(registry.names()[1:]) == sorted(registry.names()[1:])
    assert {"net", "fast", "resnet18"} <= set(registry.names())


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_booby_trapped_training_checkpoint_is_refused(cli, data_dir, tmp_path):
    torch.save({"format": "cifarctl-training-checkpoint", "version": 1, "model": _Evil()}, tmp_path / "cifar_net.ckpt")
    result = cli("train", "--resume", "--seed", "0")
    assert result.exit_code == 1 and "refusing to load it" in result.stderr
    assert not (tmp_path / "PWNED").exists()


def test_checkpoint_of_another_kind_is_refused(cli, data_dir, tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "cifar_net.ckpt")
    result = cli("train", "--resume", "--seed", "0")
    assert result.exit_code == 1 and "not a cifarctl training checkpoint" in result.stderr


def _tutorial_state(**changes):
    from cifarctl.models.net.network import Net

    torch.manual_seed(0)
    state = Net().state_dict()
    for name, value in changes.items():
        if value is None:
            del state[name.replace("__", ".")]
        else:
            state[name.replace("__", ".")] = value(state[name.replace("__", ".")])
    return state


@pytest.mark.parametrize(
    ("make", "message"),
    [
        # "weights of a model cifarctl does not know" for a Net with one key missing
        (lambda: _tutorial_state(fc3__bias=None), r"does not fit Net \(width 6\): missing fc3\.bias;"),
        (lambda: {**_tutorial_state(), "fc4.weight": torch.zeros(2)}, r"unexpected fc4\.weight"),
        (lambda: _tutorial_state(fc1__weight=lambda t: torch.zeros(120, 256)),
         r"fc1\.weight is 120x256 where 120x400 is expected"),
        # int64 weights were accepted: load_state_dict turned them into floats without a word
        (lambda: _tutorial_state(conv1__weight=lambda t: t.to(torch.int64)),
         r"stores conv1\.weight as torch\.int64, but .* keeps floating-point numbers"),
    ],
    ids=["missing key", "extra key", "wrong shape", "int64 weights"],
)
def test_a_damaged_tutorial_state_dict_says_what_is_wrong(tmp_path, make, message):
    torch.save(make(), tmp_path / "m.pth")
    with pytest.raises(CheckpointError, match=message):
        load_trained_model(tmp_path / "m.pth")


def test_a_checkpoint_with_integer_counters_still_loads(cli, data_dir, tmp_path):
    """BatchNorm's num_batches_tracked is int64 by right: the number-kind rule must allow it."""
    assert cli("train", "--model", "resnet18", "--steps", "1", "--batch-size", "8", "-o", "r.pth").exit_code == 0
    trained = load_trained_model(tmp_path / "r.pth")
    assert any(t.dtype == torch.int64 for t in trained.network.state_dict().values())


def _torchscript(path):
    import warnings

    from cifarctl.models.net.network import Net

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(Net().eval(), torch.zeros(1, 3, 32, 32)), path)


def _exported_program(path):
    from cifarctl.models.net.network import Net

    torch.export.save(torch.export.export(Net().eval(), (torch.zeros(1, 3, 32, 32),)), path)


@pytest.mark.parametrize(("write", "name", "kind"), [
    (_torchscript, "net.pt", "a TorchScript file"),
    (_exported_program, "net.pt2", "an ExportedProgram file"),
    (lambda path: path.write_bytes(b"\x08\x07\x12\x07pytorch"), "net.onnx", "an ONNX file"),
])
def test_an_exported_file_given_as_a_model_says_what_it_is(cli, tmp_path, write, name, kind):
    """A TorchScript file was "truncated or not a PyTorch file"."""
    write(tmp_path / name)
    result = cli("evaluate", "--model", name, "--no-download")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{name} is {kind}" in lines[0] and "give the .pth that 'cifarctl train' wrote" in lines[0]


@pytest.mark.parametrize("family", ["net", "resnet18", "fast"])
def test_every_family_has_one_output_per_class(family):
    from cifarctl.models import ModelInfo, build_model, registry

    for classes in (3, 100):
        info = ModelInfo(family, registry.get(family).resolve_options({}), classes)
        model = build_model(info).eval()
        with torch.no_grad():
            assert tuple(model(torch.zeros(2, 3, 32, 32)).shape) == (2, classes)


def test_a_model_is_measured_only_on_the_classes_it_learned(cli, cifar100_data_dir, tmp_path):
    output = str(tmp_path / "m100.pth")
    assert cli("--data-dir", str(cifar100_data_dir), "--dataset", "cifar100", "train", "--epochs", "1",
               "--batch-size", "64", "--output", output).exit_code == 0
    result = cli("--data-dir", str(cifar100_data_dir), "--dataset", "cifar10", "evaluate", "--model", output)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {output} was trained on cifar100 (100 classes: apple, aquarium_fish, baby, bear, beaver, ...), "
        "but --dataset cifar10 has 10 classes: plane, car, bird, cat, deer, ...; pass --dataset cifar100, "
        "or a model trained on cifar10")
    told = cli("--data-dir", str(cifar100_data_dir), "evaluate", "--model", output, "--json")  # no --dataset: its own
    assert told.exit_code == 0, told.stderr
    assert json.loads(told.stdout)["total"] == 300
