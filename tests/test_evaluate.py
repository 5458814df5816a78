"""`cifarctl evaluate`: the tutorial's report, better, and safe loading of model files."""

import json

import pytest
import torch
from helpers import save_tutorial_model

from cifarctl.torch_files import CHECKPOINT_VERSION


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
                             "model", "accuracy_ci95", "top5_accuracy", "per_class_scores", "macro_f1", "calibration",
                             "dataset", "classes", "most_confused", "superclass_accuracy", "per_superclass"}
    assert document["dataset"] == "cifar10" and document["classes"] == list(document["per_class"])
    assert document["superclass_accuracy"] is None and document["per_superclass"] is None  # CIFAR-10 has none
    assert document["total"] == 100 and document["baseline"] == 0.1
    assert document["accuracy"] == document["correct"] / document["total"]
    assert len(document["confusion"]) == 10 and all(len(row) == 10 for row in document["confusion"])
    assert sum(map(sum, document["confusion"])) == 100
    assert list(document["per_class"]) == ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                           "truck"]
    assert document["model"]["name"] == "net" and document["model"]["width"] == 6


def test_train_split_and_batch_size_do_not_change_the_result(cli, data_dir, tutorial_model):
    measure = ("evaluate", "-m", str(tutorial_model), "--split", "train", "--json")
    small = json.loads(cli(*measure, "--batch-size", "7").stdout)
    large = json.loads(cli(*measure).stdout)
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


# (the version written into the checkpoint, what the refusal says, what it tells the user to do)
@pytest.mark.parametrize(("version", "fragment", "advice"), [
    (CHECKPOINT_VERSION + 1, "written by a newer cifarctl", "upgrade cifarctl (pip install -U cifarctl)"),
    (str(CHECKPOINT_VERSION), "without a valid version", "it is damaged or was not written by cifarctl"),
])
def test_a_checkpoint_of_another_version_is_named_with_what_to_do(cli, data_dir, tmp_path, version, fragment, advice):
    assert cli("train", "--steps", "5", "--seed", "0").exit_code == 0
    state = torch.load(tmp_path / "cifar_net.ckpt", weights_only=True)
    state["version"] = version
    torch.save(state, tmp_path / "cifar_net.ckpt")
    for args in (["evaluate", "--model", "cifar_net.ckpt"], ["train", "--steps", "10", "--seed", "0", "--resume"]):
        result = cli(*args)
        assert result.exit_code == 1, result.stderr
        assert fragment in result.stderr and advice in result.stderr, result.stderr


# --- CIFAR-100: too many classes for a row each and a 100 x 100 table -------------------------------------------


def test_cifar100_report_shows_the_ends_the_superclasses_and_the_most_confused_pairs(cli, cifar100_model):
    data, model = cifar100_model
    result = cli("--data-dir", str(data), "evaluate", "--model", str(model))  # the model says it is CIFAR-100's
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Accuracy of the network on the 300 test images:" in out and "(random guessing: 1.0 %)" in out
    document = json.loads(cli("--data-dir", str(data), "evaluate", "--model", str(model), "--json").stdout)
    # the per-class table: the best five and the worst five, the other 90 said to be in --json
    assert "the best 5 and the worst 5 of 100" in out and "… 90 more" in out
    assert "all 100 classes are in --json" in out
    per_class = out.split("Accuracy per class")[1].split("Accuracy per superclass")[0]
    rows = [line.split("│")[1].strip() for line in per_class.splitlines() if line.startswith("│")]
    ranked = sorted(document["per_class"], key=lambda name: -document["per_class"][name])  # stable, as the table's
    assert rows == ranked[:5] + ["… 90 more"] + ranked[-5:]
    # no 100 x 100 confusion table: the largest cells off its diagonal instead
    assert "Confusion matrix" not in out and "Most confused pairs" in out
    confused = out.split("Most confused pairs")[1].split("Calibration:")[0]
    pairs = [[cell.strip() for cell in line.split("│")[1:-1]] for line in confused.splitlines() if line.startswith("│")]
    assert len(pairs) == 10
    assert [(true, predicted, int(count)) for true, _, predicted, count, _ in pairs] == [
        (pair["true"], pair["predicted"], pair["count"]) for pair in document["most_confused"]]
    # superclass accuracy beside the accuracy, and one row per superclass
    assert "superclass" in out.split("Accuracy per class")[0]
    assert f"{100 * document['superclass_accuracy']:.1f} %" in out.split("Accuracy per class")[0]
    superclasses = out.split("Accuracy per superclass")[1].split("Most confused pairs")[0]
    assert sum(line.startswith("│") for line in superclasses.splitlines()) == 20
    assert "large_man-made_outdoor_things" in superclasses and "aquatic_mammals" in superclasses
    assert len(out.splitlines()) < 80  # the old report ran to over 200 lines


def test_cifar100_json_has_every_class_the_superclasses_and_the_pairs(cli, cifar100_model):
    from cifarctl.data.catalog import CIFAR100_CLASSES

    data, model = cifar100_model
    result = cli("--data-dir", str(data), "evaluate", "--model", str(model), "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["dataset"] == "cifar100" and document["classes"] == list(CIFAR100_CLASSES.names)
    assert len(document["per_class"]) == 100 and len(document["confusion"]) == 100
    assert document["baseline"] == 0.01
    confusion = torch.tensor(document["confusion"])
    assert set(document["per_superclass"]) == set(CIFAR100_CLASSES.superclasses)
    assert sum(score["images"] for score in document["per_superclass"].values()) == 300
    # superclass accuracy from the matrix: the cells whose two classes share a superclass
    member = torch.tensor(CIFAR100_CLASSES.superclass_of)
    same = member[:, None] == member[None, :]
    assert document["superclass_accuracy"] == pytest.approx(int(confusion[same].sum()) / 300, abs=1e-6)
    assert document["superclass_accuracy"] >= document["accuracy"]
    fish = document["per_superclass"]["fish"]
    fish_rows = [CIFAR100_CLASSES.index(name) for name in ("aquarium_fish", "flatfish", "ray", "shark", "trout")]
    assert fish["fine_accuracy"] == pytest.approx(sum(int(confusion[i, i]) for i in fish_rows) / 15, abs=1e-6)
    assert fish["accuracy"] == pytest.approx(int(confusion[fish_rows][:, fish_rows].sum()) / 15, abs=1e-6)
    pairs = document["most_confused"]
    off_diagonal = (confusion - torch.diag(confusion.diagonal())).flatten()
    assert [pair["count"] for pair in pairs] == off_diagonal.sort(descending=True).values[:10].tolist()
    first = pairs[0]
    true, predicted = CIFAR100_CLASSES.index(first["true"]), CIFAR100_CLASSES.index(first["predicted"])
    assert confusion[true, predicted] == first["count"]
    assert first["share"] == pytest.approx(first["count"] / 3, abs=1e-6)


def test_several_cifar100_models_are_compared(cli, cifar100_model, tmp_path):
    data, model = cifar100_model
    other = tmp_path / "other.pth"
    other.write_bytes(model.read_bytes())
    result = cli("--data-dir", str(data), "evaluate", str(model), str(other))
    assert result.exit_code == 0, result.stderr
    # one set of weights twice is not two runs: no mean ± std
    assert "2 separate models" in result.stdout and "mean ± std of" not in result.stdout
    assert "hold the same weights" in result.stdout
    document = json.loads(cli("--data-dir", str(data), "evaluate", str(model), str(other), "--json").stdout)
    assert [entry["dataset"] for entry in document["models"]] == ["cifar100", "cifar100"]
    assert document["models"][0]["confusion"] == document["models"][1]["confusion"]
    assert document["pooled"] is False and document["accuracy"] is None and "same weights" in document["not_pooled"]


def test_the_models_own_dataset_wins_over_a_configured_one(cli, cifar100_model, tmp_path):
    data, model = cifar100_model
    (tmp_path / "cifarctl.toml").write_text('dataset = "cifar10"\n')  # a default for training, not for this model
    result = cli("--data-dir", str(data), "evaluate", "--model", str(model), "--json")
    assert result.exit_code == 0, result.stderr
    assert (json.loads(result.stdout)["dataset"], json.loads(result.stdout)["total"]) == ("cifar100", 300)


def test_models_of_different_datasets_are_not_measured_together(cli, cifar100_model, data_dir, tmp_path):
    _, model = cifar100_model
    assert cli("train", "--epochs", "1", "--batch-size", "32", "--output", str(tmp_path / "ten.pth")).exit_code == 0
    result = cli("evaluate", str(model), str(tmp_path / "ten.pth"))
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: the models were trained on different datasets ({model} on cifar100 and "
                                     f"{tmp_path / 'ten.pth'} on cifar10); evaluate the models of one dataset "
                                     "together, or pass --dataset")


def test_a_dataset_imported_again_with_other_classes_is_named_as_such(cli, tmp_path):
    from PIL import Image

    def folder(names):
        root = tmp_path / "photos"
        for index, name in enumerate(names):
            for split in ("train", "test"):
                (root / split / name).mkdir(parents=True, exist_ok=True)
                for number in range(4):
                    Image.new("RGB", (32, 32), (60 * index, 20 * number, 0)).save(root / split / name / f"{number}.png")
        return root

    base = ("--data-dir", str(tmp_path / "data"), "--dataset", "pets")
    assert cli(*base, "download", "--from", str(folder(["cat", "dog"]))).exit_code == 0
    assert cli(*base, "train", "--epochs", "1", "--output", str(tmp_path / "pets.pth")).exit_code == 0
    assert cli(*base, "download", "--from", str(folder(["cat", "dog", "fox"])), "--force").exit_code == 0
    result = cli(*base, "evaluate", "--model", str(tmp_path / "pets.pth"))
    assert result.exit_code == 2
    assert ("was trained on pets when it had 2 classes: cat, dog; pets has 3 classes: cat, dog, fox now (it was "
            "imported again)") in result.stderr
