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
