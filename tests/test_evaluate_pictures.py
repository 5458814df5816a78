"""`evaluate` pictures: confusion heat map and mistakes grid as PNGs, test images drawn in a terminal."""

import itertools
import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import run_on_a_terminal
from PIL import Image

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


# --- many classes: CIFAR-100's 100 x 100 heat map, long names under the mistakes ----------------------------------


def test_a_cifar100_heat_map_grows_goes_superclass_by_superclass_and_writes_no_numbers(cli, cifar100_model, tmp_path):
    from cifarctl.data.catalog import CIFAR100_CLASSES, CIFAR100_SUPERCLASSES
    from cifarctl.pictures.evaluation_plots import CELL_INCHES, confusion_figure
    from cifarctl.pictures.figures import DPI

    data, model = cifar100_model
    result = cli("--data-dir", str(data), "evaluate", "--model", str(model), "--save-confusion", "c100.png",
                 "--save-mistakes", "m100.png")
    assert result.exit_code == 0, result.stderr
    width, height = _png_size(tmp_path / "c100.png")
    assert width >= 100 * CELL_INCHES * DPI and height >= 100 * CELL_INCHES * DPI  # 13 pixels a cell at least
    confusion = np.array(json.loads(cli("--data-dir", str(data), "evaluate", "--model", str(model), "--json").stdout)
                         ["confusion"])
    figure = confusion_figure(confusion, CIFAR100_CLASSES.names, "t", CIFAR100_CLASSES.superclasses,
                              CIFAR100_CLASSES.superclass_of)
    axes = figure.axes[0]
    assert not axes.texts  # 10,000 counts would be a grey smear
    rows = [label.get_text() for label in axes.get_yticklabels()]
    assert rows == [name for members in CIFAR100_SUPERCLASSES.values() for name in members]  # superclass by superclass
    assert [label.get_text() for label in axes.get_xticklabels()] == rows
    shown = axes.images[0].get_array()
    first, second = CIFAR100_CLASSES.index(rows[0]), CIFAR100_CLASSES.index(rows[1])
    assert shown[0, 1] == pytest.approx(confusion[first, second] / confusion[first].sum())  # cells follow their names
    separators = [line for line in axes.lines if line.get_color() == "#555555"]
    assert len(separators) == 2 * 19  # between 20 superclasses, across and down
    names = [label.get_text() for side in axes.child_axes for label in side.get_yticklabels()]
    assert names == [name.replace("_", " ") for name in CIFAR100_SUPERCLASSES]
    assert max(label.get_fontsize() for label in axes.get_yticklabels()) < 8


def test_ten_classes_keep_their_numbered_cells():
    from cifarctl.data.catalog import SHORT_NAMES
    from cifarctl.pictures.evaluation_plots import confusion_figure

    figure = confusion_figure(np.eye(10, dtype=int) * 7, SHORT_NAMES, "t")
    assert len(figure.axes[0].texts) == 100 and figure.get_size_inches().tolist() == [8, 7]


def _caption_boxes(figure):
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    panels = [axes for axes in figure.axes if axes.images]
    return [(axes.title.get_window_extent(renderer), axes.get_window_extent(renderer)) for axes in panels]


def test_long_class_names_in_the_mistakes_grid_stay_over_their_own_image(tmp_path, monkeypatch):
    from cifarctl.pictures import evaluation_plots

    captions = ["aquarium_fish → sweet_pepper (0.93)", "pickup_truck → willow_tree (0.90)", "cat → dog (0.88)",
                "chimpanzee → lawn_mower (0.80)", "x" * 120 + " → " + "y" * 120 + " (0.70)", "bee → bed (0.51)"]
    fitted, _size, lines = evaluation_plots.fit_captions(captions, 2.1 * 72 - 6)
    assert fitted[0] == "aquarium_fish →\nsweet_pepper (0.93)" and fitted[2] == "cat →\ndog (0.88)" and lines == 2
    first, second = fitted[4].split("\n")  # names no font fits: cut, the arrow and the probability kept
    assert first.startswith("xxxx") and first.endswith("x… →") and second.endswith("y… (0.70)")
    drawn = {}
    save_png = evaluation_plots.save_png
    monkeypatch.setattr(evaluation_plots, "save_png", lambda figure, path: drawn.update(figure=figure)
                        or save_png(figure, path))
    evaluation_plots.plot_mistakes(np.zeros((6, 32, 32, 3), dtype=np.uint8), captions, tmp_path / "m.png", "long")
    boxes = _caption_boxes(drawn["figure"])
    assert len(boxes) == 6
    for (title, _), (next_title, _) in itertools.pairwise(boxes):
        assert title.x1 < next_title.x0  # never into the neighbour's caption
    for title, panel in boxes:
        assert title.width <= panel.width + 8 and title.y0 >= panel.y1  # over its own image, about its width


def test_short_captions_are_left_alone():
    from cifarctl.pictures.evaluation_plots import CAPTION_FONT, fit_captions

    captions = ["plane → truck (0.97)", "cat → dog (0.50)"]
    assert fit_captions(captions, 2.1 * 72 - 6) == (captions, CAPTION_FONT, 1)
