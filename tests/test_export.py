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
def test_exported_file_runs_alone_on_any_batch_size_and_matches(cli, model, tmp_path, export_format, suffix,
                                                               input_kind):
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
    assert class_names(export_format, path) == ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                                "truck"]


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


def test_an_export_that_disagrees_is_an_error_and_leaves_no_file(cli, model, monkeypatch):
    from cifarctl.inference import export

    real = export._reloaded

    def off_by_a_bit(export_format, exported):
        run, name = real(export_format, exported)
        return (lambda batch: run(batch) + 0.01), name

    monkeypatch.setattr(export, "_reloaded", off_by_a_bit)
    before = sorted(model.parent.iterdir())
    result = cli("export", "-m", str(model))
    assert result.exit_code == 1
    assert "differs from the PyTorch model's probabilities by up to 0.01" in result.stderr
    assert "nothing was written" in result.stderr
    assert sorted(model.parent.iterdir()) == before  # neither cifar_net.pt2 nor its .json


def test_torchscript_deprecation_is_one_warning_line(cli, model):
    result = cli("export", "-m", str(model), "-f", "torchscript")
    assert result.exit_code == 0, result.stderr
    assert "FutureWarning" not in result.stderr
    assert np.sum(["deprecated" in line for line in result.stderr.splitlines()]) <= 1


def test_unknown_format_or_wrong_suffix_is_a_usage_error(cli, model):
    assert cli("export", "-m", str(model), "--format", "tflite").exit_code == 2
    result = cli("export", "-m", str(model), "--format", "exported-program", "-o", "net.pt")
    assert result.exit_code == 2 and "does not end in .pt2" in result.stderr


@pytest.mark.parametrize("stage", ["making", "check", "writing"])
def test_ctrl_c_at_any_stage_leaves_no_file(cli, model, monkeypatch, stage):
    """The export is made and checked in memory and written last, both files or neither: Ctrl-C says
    `interrupted` and leaves nothing, whenever it comes."""
    from cifarctl import atomic_writes
    from cifarctl.inference import export

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    if stage == "making":
        monkeypatch.setitem(export._WRITERS, "exported-program", ctrl_c)
    elif stage == "check":
        monkeypatch.setattr(export, "_reloaded", ctrl_c)
    else:  # after the model file's temporary is written, while its class names are
        real = open
        monkeypatch.setattr(atomic_writes, "open",
                            lambda path, *a: ctrl_c() if ".json.tmp-" in str(path) else real(path, *a), raising=False)
    before = sorted(model.parent.iterdir())
    result = cli("export", "-m", str(model))
    assert result.exit_code == 130 and result.stderr.strip() == "error: interrupted"
    assert sorted(model.parent.iterdir()) == before


def test_class_names_that_cannot_be_written_take_the_exported_file_with_them(cli, model, monkeypatch):
    """A .pt2 without its .json would be a model without its class names: both are written, or neither,
    and the line says so."""
    import errno

    from cifarctl import atomic_writes

    real = open

    def full_for_the_json(path, *args):
        if ".json.tmp-" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, *args)

    monkeypatch.setattr(atomic_writes, "open", full_for_the_json, raising=False)
    before = sorted(model.parent.iterdir())
    result = cli("export", "-m", str(model))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"cannot write {model.parent / 'cifar_net.pt2.json'}: No space left" in errors[0]
    assert f"{model.parent / 'cifar_net.pt2'} was not written either" in errors[0]
    assert sorted(model.parent.iterdir()) == before


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


@pytest.mark.parametrize(("export_format", "suffix"), FORMATS)
def test_a_full_disk_is_one_line_and_leaves_nothing_for_every_format(model, tmp_path, export_format, suffix):
    """The exported-program writer aborted the process (a C++ terminate, exit 134) when the disk filled while
    it wrote; every format is now made in memory and written by cifarctl: one line, exit 1, no file."""
    import subprocess

    from helpers import limit_file_size

    before = sorted(tmp_path.iterdir())
    done = subprocess.run(["cifarctl", "export", "-m", str(model), "-f", export_format], cwd=tmp_path,
                          capture_output=True, text=True, preexec_fn=limit_file_size(20_000), timeout=300)
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"cannot write {tmp_path / ('cifar_net' + suffix)}: File too large" in errors[0]
    assert "internal error" not in done.stderr and "terminate" not in done.stderr
    assert sorted(tmp_path.iterdir()) == before


def test_an_export_that_will_not_fit_is_refused_before_writing(cli, model, monkeypatch):
    from collections import namedtuple

    from cifarctl import output_paths

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(output_paths.shutil, "disk_usage", lambda path: usage(1 << 30, 1 << 30, 10_000))
    before = sorted(model.parent.iterdir())
    result = cli("export", "-m", str(model))
    assert result.exit_code == 1
    assert f"the export to {model.parent / 'cifar_net.pt2'} needs about" in result.stderr
    assert "which has 10.0 kB" in result.stderr
    assert sorted(model.parent.iterdir()) == before
