"""`cifarctl evaluate`: the tutorial's report, better, and safe loading of model files."""

import json

import pytest
import torch
from helpers import save_tutorial_model


@pytest.fixture
def tutorial_model(tmp_path):
    return save_tutorial_model(tmp_path)


def test_report_has_the_tutorials_lines_and_more(cli, data_dir, tutorial_model):
    result = cli("evaluate", "--model", str(tutorial_model))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("GroundTruth: ")
    assert "\nPredicted:   " in out
    assert "Accuracy of the network on the 100 test images:" in out
    assert "random guessing" in out
    assert "Accuracy per class" in out and "Confusion matrix" in out
    for name in ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"):
        assert name in out


def test_json_schema(cli, data_dir, tutorial_model):
    result = cli("evaluate", "--model", str(tutorial_model), "--json")
    document = json.loads(result.stdout)
    assert set(document) == {"split", "accuracy", "correct", "total", "baseline", "tta", "per_class", "confusion",
                             "model", "accuracy_ci95", "top5_accuracy", "per_class_scores", "macro_f1", "calibration"}
    assert document["total"] == 100 and document["baseline"] == 0.1
    assert document["accuracy"] == document["correct"] / document["total"]
    assert len(document["confusion"]) == 10 and all(len(row) == 10 for row in document["confusion"])
    assert sum(map(sum, document["confusion"])) == 100
    assert list(document["per_class"]) == ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert document["model"]["name"] == "net" and document["model"]["width"] == 6


def test_train_split_and_batch_size_do_not_change_the_result(cli, data_dir, tutorial_model):
    small = json.loads(cli("evaluate", "-m", str(tutorial_model), "--split", "train", "--batch-size", "7", "--json").stdout)
    large = json.loads(cli("evaluate", "-m", str(tutorial_model), "--split", "train", "--json").stdout)
    assert small["total"] == 300 and small["confusion"] == large["confusion"]


def test_foreign_state_dict_is_refused(cli, data_dir, tmp_path):
    torch.save(torch.nn.Linear(3, 2).state_dict(), tmp_path / "other.pth")
    result = cli("evaluate", "--model", "other.pth")
    assert result.exit_code == 1
    assert "does not know" in result.stderr and "expected the tutorial's Net" in result.stderr


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_booby_trapped_pickle_is_refused_without_running_it(cli, data_dir, tmp_path):
    torch.save({"conv1.weight": _Evil()}, tmp_path / "evil.pth")
    result = cli("evaluate", "--model", "evil.pth")
    assert result.exit_code == 1
    assert "refusing to load it" in result.stderr
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "is empty"), (b"hello, not a model\n", "not a PyTorch file"), (None, "does not exist")],
)
def test_unusable_model_files_are_named(cli, data_dir, tmp_path, content, fragment):
    path = tmp_path / "model.pth"
    if content is not None:
        path.write_bytes(content)
    result = cli("evaluate", "--model", str(path))
    assert result.exit_code == 1
    assert fragment in result.stderr and "Traceback" not in result.stderr


def test_truncated_model_file(cli, data_dir, tutorial_model):
    tutorial_model.write_bytes(tutorial_model.read_bytes()[:500])
    result = cli("evaluate", "--model", str(tutorial_model))
    assert result.exit_code == 1 and "truncated" in result.stderr


def test_model_directory_is_named(cli, data_dir, tmp_path):
    result = cli("evaluate", "--model", str(tmp_path))
    assert result.exit_code == 1 and "is a directory" in result.stderr


def test_cuda_without_a_gpu_is_a_clear_error(cli, data_dir, tutorial_model):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = cli("evaluate", "--model", str(tutorial_model), "--device", "cuda")
    assert result.exit_code == 1
    assert "--device cuda:" in result.stderr and "use --device cpu" in result.stderr


def test_evaluate_accepts_a_training_checkpoint(cli, data_dir):
    assert cli("train", "--epochs", "1", "--seed", "2").exit_code == 0
    from_model = json.loads(cli("evaluate", "--json").stdout)
    from_checkpoint = json.loads(cli("evaluate", "--model", "cifar_net.ckpt", "--json").stdout)
    assert from_model["confusion"] == from_checkpoint["confusion"]


def test_evaluate_without_a_model_says_how_to_get_one(cli, data_dir):
    result = cli("evaluate")
    assert result.exit_code == 1
    assert "train one with 'cifarctl train' or pass --model PATH" in result.stderr


def test_a_text_file_is_not_called_code(cli, data_dir, tmp_path):
    (tmp_path / "notes.pth").write_text("garbage\n")
    result = cli("evaluate", "--model", "notes.pth")
    assert result.exit_code == 1 and "not a PyTorch file" in result.stderr


def _compressed_copy(source, target):
    """The same torch file with its records deflated: what a hand-made 'zip bomb' model looks like."""
    import zipfile

    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as packed:
        for record in original.infolist():
            packed.writestr(record.filename, original.read(record.filename))


def _hostile_files(tmp_path, tutorial_model):
    state = torch.load(tutorial_model, weights_only=True)
    viewed = dict(state)
    viewed["fc3.bias"] = torch.zeros(2_000_000)[:10]  # 10 numbers shown, 8 MB carried
    torch.save(viewed, tmp_path / "view.pth")
    _compressed_copy(tutorial_model, tmp_path / "deflated.pth")
    return {"view.pth": "bytes of storage for", "deflated.pth": "holds compressed data"}


@pytest.mark.parametrize("name", ["view.pth", "deflated.pth"])
def test_model_files_that_would_expand_in_memory_are_refused_before_loading(cli, data_dir, tmp_path, tutorial_model,
                                                                           name):
    fragment = _hostile_files(tmp_path, tutorial_model)[name]
    for command in (["evaluate"], ["export", "-o", str(tmp_path / "x.pt2")], ["predict", str(tmp_path / "x.png")]):
        result = cli(*command[:1], "--model", str(tmp_path / name), *command[1:])
        assert result.exit_code == 1, result.stderr
        assert "refusing to load it" in result.stderr and fragment in result.stderr, result.stderr


@pytest.mark.parametrize(("version", "fragment"), [(4, "written by a newer cifarctl"), ("3", "without a valid version")])
def test_a_checkpoint_of_another_version_is_named_with_what_to_do(cli, data_dir, tmp_path, version, fragment):
    assert cli("train", "--steps", "5", "--seed", "0").exit_code == 0
    state = torch.load(tmp_path / "cifar_net.ckpt", weights_only=True)
    state["version"] = version
    torch.save(state, tmp_path / "cifar_net.ckpt")
    for args in (["evaluate", "--model", "cifar_net.ckpt"], ["train", "--steps", "10", "--seed", "0", "--resume"]):
        result = cli(*args)
        assert result.exit_code == 1, result.stderr
        assert fragment in result.stderr, result.stderr
    assert "pip install -U cifarctl" in cli("evaluate", "--model", "cifar_net.ckpt").stderr or version != 4
