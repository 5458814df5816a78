"""`cifarctl export`: files that run without cifarctl, checked against the PyTorch model."""

import json
import sys

import numpy as np
import pytest
import torch
from helpers import save_tutorial_model


@pytest.fixture
def model(tmp_path):
    return save_tutorial_model(tmp_path)


def reference_probabilities(model_path, images_uint8):
    """What cifarctl itself says about these images."""
    from cifarctl.inference.evaluation import predict_probabilities
    from cifarctl.inference.model_files import load_trained_model

    trained = load_trained_model(model_path)
    return predict_probabilities(trained.network, images_uint8, torch.device("cpu"), 100, trained.mean, trained.std)


def images(count, seed=1):
    return torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def load_without_cifarctl(export_format, path):
    """How the README tells a user to run each file: plain torch or onnxruntime."""
    if export_format == "torchscript":
        module = torch.jit.load(str(path))
        return lambda batch: module(batch)
    if export_format == "exported-program":
        module = torch.export.load(str(path)).module()
        return lambda batch: module(batch)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path))
    return lambda batch: torch.from_numpy(session.run(None, {"images": batch.numpy()})[0])


FORMATS = [
    ("torchscript", ".pt"),
    ("exported-program", ".pt2"),
    pytest.param("onnx", ".onnx", marks=pytest.mark.skipif(
        not all(__import__("importlib").util.find_spec(name) for name in ("onnx", "onnxscript", "onnxruntime")),
        reason="the onnx extra (onnx, onnxscript, onnxruntime) is not installed")),
]


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")  # this test loads TorchScript as a user would
@pytest.mark.parametrize(("export_format", "suffix"), FORMATS)
@pytest.mark.parametrize("input_kind", ["uint8", "float"])
def test_exported_file_runs_alone_on_any_batch_size_and_matches(cli, model, tmp_path, export_format, suffix, input_kind):
    result = cli("export", "--model", str(model), "--format", export_format, "--input", input_kind, "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    path = tmp_path / f"cifar_net{suffix}"
    assert document["path"] == str(path) and document["input"] == input_kind
    check = document["check"]
    assert check["images"] == 64 and check["images_source"].startswith("random images")
    assert 0 <= check["max_abs_difference"] <= check["tolerance"]
    run = load_without_cifarctl(export_format, path)
    for count in (1, 5):
        batch = images(count)
        given = batch if input_kind == "uint8" else batch.float() / 255
        with torch.no_grad():
            probabilities = run(given)
        assert probabilities.shape == (count, 10)
        assert torch.allclose(probabilities, reference_probabilities(model, batch), atol=1e-5)
    assert not [name for name in tmp_path.iterdir() if ".tmp-" in name.name]
    assert class_names(export_format, path) == ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def class_names(export_format, path):
    """The class names that travel with the file: ONNX metadata, or the .json beside it."""
    if export_format == "onnx":
        import onnx

        properties = {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}
        return json.loads(properties["classes"])
    return json.loads(path.with_name(path.name + ".json").read_text())["classes"]


def test_check_uses_test_images_when_the_dataset_is_there(cli, data_dir, model, tmp_path):
    result = cli("export", "-m", str(model), "-o", "net.pt2")
    assert result.exit_code == 0, result.stderr
    assert "on 64 test images the largest difference" in result.stdout
    assert (tmp_path / "net.pt2").is_file() and (tmp_path / "net.pt2.json").is_file()
    import zipfile

    with zipfile.ZipFile(tmp_path / "net.pt2") as archive:  # its example input, not the whole test set
        assert sum(entry.file_size for entry in archive.infolist() if "sample_inputs" in entry.filename) < 20_000


def test_a_resnet_file_exports_with_its_own_normalisation(cli, tmp_path):
    from cifarctl.inference.model_files import save_trained_model
    from cifarctl.models import ModelInfo, build_model, registry

    info = ModelInfo("resnet18", registry.get("resnet18").resolve_options({}))
    torch.manual_seed(0)
    network = build_model(info).eval()
    save_trained_model(tmp_path / "r.pth", info, network.state_dict(), tta=True)
    result = cli("export", "-m", "r.pth", "--json")
    assert result.exit_code == 0, result.stderr
    described = json.loads((tmp_path / "r.pt2.json").read_text())
    assert described["model"]["family"] == "resnet18"
    assert described["normalization"]["mean"] == pytest.approx([0.4914, 0.4822, 0.4465])
    batch = images(3)
    with torch.no_grad():
        exported = torch.export.load(str(tmp_path / "r.pt2")).module()(batch)
    assert torch.allclose(exported, reference_probabilities(tmp_path / "r.pth", batch), atol=1e-5)


def test_missing_onnx_packages_name_the_extra(cli, model, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # makes `import onnxscript` fail
    result = cli("export", "-m", str(model), "--format", "onnx")
    assert result.exit_code == 1
    assert "onnxscript missing" in result.stderr and "pip install 'cifarctl[onnx]'" in result.stderr
    assert not (tmp_path / "cifar_net.onnx").exists()


def test_without_onnxruntime_the_onnx_checker_checks_the_file(cli, model, monkeypatch):
    pytest.importorskip("onnxscript")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = cli("export", "-m", str(model), "--format", "onnx", "--json")
    assert result.exit_code == 0, result.stderr
    check = json.loads(result.stdout)["check"]
    assert check["loaded_with"].startswith("onnx.checker") and check["max_abs_difference"] is None


def test_an_export_that_disagrees_is_an_error(cli, model, monkeypatch):
    from cifarctl.inference import export

    real = export._reloaded

    def off_by_a_bit(export_format, path):
        run, name = real(export_format, path)
        return (lambda batch: run(batch) + 0.01), name

    monkeypatch.setattr(export, "_reloaded", off_by_a_bit)
    result = cli("export", "-m", str(model))
    assert result.exit_code == 1
    assert "differ from the PyTorch model's by up to 0.01" in result.stderr


def test_torchscript_deprecation_is_one_warning_line(cli, model):
    result = cli("export", "-m", str(model), "-f", "torchscript")
    assert result.exit_code == 0, result.stderr
    assert "FutureWarning" not in result.stderr
    assert np.sum(["deprecated" in line for line in result.stderr.splitlines()]) <= 1


def test_unknown_format_or_wrong_suffix_is_a_usage_error(cli, model):
    assert cli("export", "-m", str(model), "--format", "tflite").exit_code == 2
    result = cli("export", "-m", str(model), "--format", "exported-program", "-o", "net.pt")
    assert result.exit_code == 2 and "does not end in .pt2" in result.stderr


@pytest.mark.parametrize(("stage", "written"), [("check", ["cifar_net.pt2", "cifar_net.pt2.json"]),
                                               ("metadata", ["cifar_net.pt2"])])
def test_ctrl_c_after_the_files_were_written_says_what_was_written(cli, model, monkeypatch, stage, written):
    """It said only "interrupted", leaving the user to guess whether the files were there and sound."""
    from cifarctl.inference import export

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    if stage == "check":
        monkeypatch.setattr(export, "_reloaded", ctrl_c)
    else:
        real = export.atomic_write
        monkeypatch.setattr(export, "atomic_write", lambda path: ctrl_c() if path.suffix == ".json" else real(path))
    result = cli("export", "-m", str(model))
    assert result.exit_code == 130
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: interrupted after writing "), result.stderr
    for name in written:
        assert str(model.parent / name) in lines[0] and (model.parent / name).is_file()
    assert "run the export again" in lines[0]
    assert ("was not" in lines[0]) == (stage == "metadata")


def test_ctrl_c_before_anything_was_written_says_interrupted(cli, model, monkeypatch):
    from cifarctl.inference import export

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "_write_exported_program", ctrl_c)
    result = cli("export", "-m", str(model))
    assert result.exit_code == 130 and result.stderr.strip() == "error: interrupted"
    assert not (model.parent / "cifar_net.pt2").exists()


def test_a_cifar100_model_exports_its_hundred_names_and_outputs(cli, cifar100_model, tmp_path):
    from cifarctl.data.catalog import CIFAR100_CLASSES

    data, model = cifar100_model
    result = cli("--data-dir", str(data), "export", "-m", str(model), "-o", "net100.pt2", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["classes"] == list(CIFAR100_CLASSES.names)
    described = json.loads((tmp_path / "net100.pt2.json").read_text())
    assert described["classes"] == list(CIFAR100_CLASSES.names) and described["dataset"] == "cifar100"
    assert described["output"]["shape"] == ["batch", 100]
    probabilities = torch.export.load(str(tmp_path / "net100.pt2")).module()(images(3))
    assert probabilities.shape == (3, 100) and torch.allclose(probabilities.sum(dim=1), torch.ones(3), atol=1e-5)
    told = cli("--data-dir", str(data), "export", "-m", str(model), "-o", "again.pt2")
    assert "on 64 test images" in told.stdout  # checked on CIFAR-100's test images, the model's own dataset
