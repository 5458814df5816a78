"""`predict --explain` and `evaluate --explain`: Grad-CAM heatmaps where the class really is, for every family."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("captum")

from cifarctl.data.catalog import SHORT_NAMES
from cifarctl.inference.model_files import save_trained_model
from cifarctl.models import ModelInfo, build_model, registry

REGION = (slice(4, 12), slice(4, 12))  # the patch that decides the class: inside the top-left quadrant


def write_region_folder(root: Path, per_class: int, seed: int) -> Path:
    """Two classes told apart only by the colour of one patch in the top-left quadrant (red or
    blue); every other pixel is the same random noise for both."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, (name, colour) in enumerate((("red", (230, 30, 30)), ("blue", (30, 30, 230)))):
        folder = root / name
        folder.mkdir(parents=True)
        for index in range(per_class):
            image = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
            image[REGION] = colour
            Image.fromarray(image).save(folder / f"{label}{index:03d}.png")
    return root


def contrast(heat: np.ndarray) -> float:
    """The mean heat on the patch over the mean heat of the three quadrants without it."""
    outside = np.ones_like(heat, dtype=bool)
    outside[:16, :16] = False
    return float(heat[REGION].mean() / max(heat[outside].mean(), 1e-9))


@pytest.mark.parametrize(("family", "train"), [
    ("net", ["--epochs", "6", "--batch-size", "8", "--lr", "0.01"]),
    ("fast", ["--model-option", "width=16", "--epochs", "6"]),
])
def test_the_heat_lies_on_the_region_that_decides_the_class(cli, tmp_path, family, train):
    write_region_folder(tmp_path / "patches", per_class=200, seed=0)
    write_region_folder(tmp_path / "new", per_class=8, seed=1)
    assert cli("--dataset", "patches", "download", "--from", "patches").exit_code == 0
    trained = cli("--dataset", "patches", "train", "--model", family, *train, "--seed", "0", "-o", "m.pth")
    assert trained.exit_code == 0, trained.stderr
    result = cli("predict", "-m", "m.pth", "--explain", "heat.png", "--json", "new")
    assert result.exit_code == 0, result.stderr
    predictions = json.loads(result.stdout)["predictions"]
    right = [p for p in predictions if p["top"][0]["class"] == Path(p["path"]).parent.name]
    assert len(right) >= 14, "the model did not learn the patch"  # of 16
    heat = np.array([p["heatmap"] for p in right])
    assert heat.shape == (len(right), 32, 32) and heat.min() >= 0 and heat.max() <= 1
    contrasts = [contrast(one) for one in heat]
    assert np.median(contrasts) > 2, contrasts  # the patch is at least twice as hot as the rest
    centre = [np.unravel_index(one.argmax(), one.shape) for one in heat]
    assert sum(row < 16 and column < 16 for row, column in centre) >= 0.8 * len(right), centre
    assert "saved where the network looked for 16 images to heat.png" in result.stderr
    from PIL import Image

    with Image.open("heat.png") as picture:
        assert picture.format == "PNG" and picture.width > 1000


def untrained_model(family: str, classes: tuple[str, ...], path: Path) -> Path:
    torch.manual_seed(0)
    info = ModelInfo(family, registry.get(family).resolve_options({"width": 8} if family == "fast" else {}),
                     len(classes))
    network = build_model(info)
    save_trained_model(path, info, network.state_dict(), tta=False, dataset="mine", classes=classes)
    return path


@pytest.mark.parametrize("family", ["net", "fast", "resnet18"])
def test_every_family_names_its_layer_and_explains(cli, tmp_path, family):
    from fake_cifar import write_image_folder

    assert registry.get(family).explain_layer and registry.get(family).head
    untrained_model(family, SHORT_NAMES, tmp_path / "m.pth")
    write_image_folder(tmp_path / "images", per_class_train=0, per_class_test=1)
    result = cli("predict", "-m", "m.pth", "--explain", "h.png", "--json", "images/test")
    assert result.exit_code == 0, result.stderr
    heat = np.array([p["heatmap"] for p in json.loads(result.stdout)["predictions"]])
    assert heat.shape == (10, 32, 32) and heat.min() >= 0 and heat.max() <= 1
    assert Path("h.png").is_file()


def test_evaluate_explains_its_most_confident_mistakes_on_cifar100(cli, cifar100_model):
    data, model = cifar100_model
    result = cli("--data-dir", str(data), "evaluate", "-m", str(model), "--explain", "mistakes.png", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    explained = document["explained_mistakes"]
    assert 0 < len(explained) <= 24 and document["pictures"]["explain"] == "mistakes.png"
    assert all(one["true"] != one["predicted"] for one in explained)
    assert np.array(explained[0]["heatmap"]).shape == (32, 32)
    confidences = [one["probability"] for one in explained]
    assert confidences == sorted(confidences, reverse=True)
    assert Path("mistakes.png").is_file()


def test_without_captum_explain_stops_at_once_with_the_install_line(cli, data_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "captum", None)  # what an uninstalled package looks like to import
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    for args in (["predict", "--explain", "h.png", "x.png"], ["evaluate", "--explain", "h.png"]):
        result = cli("--data-dir", str(data_dir), *args)
        assert result.exit_code == 1 and result.stdout == "", result.stderr
        assert result.stderr.strip() == ("error: --explain needs the optional Captum package; install it with "
                                         "pip install 'cifarctl[explain]'")
    assert not Path("h.png").exists()


def test_help_and_completion_never_import_captum():
    import subprocess

    code = ("import sys, runpy\nsys.argv = ['cifarctl', 'predict', '--help']\n"
            "try:\n    runpy.run_module('cifarctl', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('LOADED=' + ','.join(m for m in ('captum', 'torch') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PATH": "/usr/bin:/bin"})
    assert "--explain" in done.stdout and done.stdout.strip().endswith("LOADED="), done.stdout[-300:] + done.stderr


def test_the_colours_run_from_dark_blue_to_dark_red_and_no_image_leaves_the_header_alone(tmp_path):
    from PIL import Image

    from cifarctl.pictures.heatmaps import jet, save_heatmaps

    assert jet(np.array([0.0, 0.5, 1.0])).tolist() == [[0, 0, 128], [128, 255, 128], [128, 0, 0]]
    save_heatmaps(np.zeros((0, 3, 32, 32), np.uint8), np.zeros((0, 32, 32)), [], [], tmp_path / "none.png",
                  "Where Net looked for its mistakes: it made none on the 100 test images")
    with Image.open(tmp_path / "none.png") as picture:
        assert picture.height < 200
