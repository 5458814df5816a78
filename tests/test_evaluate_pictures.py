"""`evaluate` pictures: confusion heat map and mistakes grid as PNGs, test images drawn in a terminal."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import run_on_a_terminal

from cifarctl.pictures.evaluation_plots import most_confident_mistakes, plot_mistakes



@pytest.fixture
def trained(cli, data_dir):
    result = cli("train", "--epochs", "1", "--seed", "3")
    assert result.exit_code == 0, result.stderr


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)


def _area_of_colour(pixels: np.ndarray, colour: np.ndarray, tolerance: int = 6) -> int:
    return int((np.abs(pixels - colour).max(axis=1) <= tolerance).sum())


def test_save_confusion_and_mistakes_write_pngs(cli, trained, tmp_path):
    from matplotlib import colormaps

    from cifarctl.pictures.evaluation_plots import MISTAKES_PER_ROW, MISTAKES_SHOWN
    from cifarctl.pictures.figures import DPI

    result = cli("evaluate", "--save-confusion", "confusion.png", "--save-mistakes", "mistakes.png")
    assert result.exit_code == 0, result.stderr
    assert "saved the confusion picture to confusion.png" in result.stderr
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    document = json.loads(cli("evaluate", "--json").stdout)

    # the heat map colours each cell by its share of the true class: the largest share's
    # colour fills at least most of one cell, the empty cells' colour several
    confusion = np.array(document["confusion"])
    shares = confusion / confusion.sum(axis=1, keepdims=True)
    pixels = _pixels(tmp_path / "confusion.png")
    cell = (len(pixels) ** 0.5 / 14) ** 2  # ten cells across about 70% of the figure
    for share in (shares.max(), 0.0):
        colour = np.round(np.array(colormaps["Blues"](share)[:3]) * 255)
        assert _area_of_colour(pixels, colour) >= cell / 2, f"no cell of share {share:.2f} in the heat map"

    # the mistakes grid: one panel per mistake (up to the limit), each showing its image
    wrong = int(confusion.sum() - np.trace(confusion))
    shown = min(wrong, MISTAKES_SHOWN)
    assert shown > 0
    columns = min(MISTAKES_PER_ROW, shown)
    rows = -(-shown // columns)
    assert _png_size(tmp_path / "mistakes.png") == (round(2.1 * columns * DPI), round((2.35 * rows + 0.5) * DPI))
    pixels = _pixels(tmp_path / "mistakes.png")
    coloured = (pixels.max(axis=1) - pixels.min(axis=1) > 60).sum()  # the fake images are saturated colours
    assert coloured >= shown * 32 * 32, "the panels do not show the images"


def test_json_names_the_pictures_and_stays_one_document(cli, trained, tmp_path):
    result = cli("evaluate", "--json", "--save-confusion", "c.png")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["pictures"] == {"confusion": "c.png"}
    assert "pictures" not in json.loads(cli("evaluate", "--json").stdout)


@pytest.mark.parametrize(("args", "fragment"), [
    (["--save-confusion", "c.jpg"], "does not end in .png"),
    (["--save-mistakes", "missing/m.png"], "does not exist"),
    (["--show", "-1"], "--show"),
])
def test_bad_picture_options_fail_before_any_work(cli, tmp_path, args, fragment):
    result = cli("evaluate", "--model", "nothing.pth", *args)  # the model is never looked at
    assert result.exit_code == 2 and fragment in result.stderr


def test_no_images_are_drawn_off_a_terminal(cli, trained):
    result = cli("evaluate", "--show", "8")
    assert result.exit_code == 0, result.stderr
    assert "predicted" not in result.stdout.split("GroundTruth:")[0]
    assert result.stdout.startswith("GroundTruth: ")


def test_a_terminal_sees_the_test_images_with_both_labels(trained, data_dir, tmp_path):
    shown = run_on_a_terminal(["--data-dir", str(data_dir), "evaluate", "--show", "3"], tmp_path)
    pictures = shown.split("GroundTruth:")[0]
    assert pictures.count(", predicted ") == 3 and "▀" in pictures
    hidden = run_on_a_terminal(["--data-dir", str(data_dir), "evaluate", "--no-show"], tmp_path)
    assert hidden.startswith("GroundTruth:") and "▀" not in hidden


def test_mistakes_are_the_wrong_ones_most_confident_first():
    truth = np.array([0, 1, 2, 3, 4])
    predicted = np.array([0, 2, 2, 1, 1])
    confidence = np.array([0.99, 0.5, 0.9, 0.8, 0.5])
    assert most_confident_mistakes(truth, predicted, confidence).tolist() == [3, 1, 4]
    assert most_confident_mistakes(truth, predicted, confidence, count=1).tolist() == [3]


def test_a_perfect_model_gets_a_picture_that_says_so(tmp_path):
    plot_mistakes(np.zeros((0, 32, 32, 3), dtype=np.uint8), [], tmp_path / "none.png", "no mistakes")
    assert _png_size(tmp_path / "none.png") == (600, 200)


def test_a_model_whose_name_is_not_utf8_gets_its_pictures(cli, trained, tmp_path):
    """The picture's title names the model file; matplotlib cannot draw a lone surrogate."""
    name = os.fsdecode(b"net\xe9.pth")
    (tmp_path / name).write_bytes((tmp_path / "cifar_net.pth").read_bytes())
    result = cli("evaluate", "--model", name, "--save-confusion", "c.png")
    assert result.exit_code == 0, result.stderr
    assert _png_size(tmp_path / "c.png")[0] > 0
    assert "net\\xe9.pth" in result.stdout
