import pytest
from PIL import Image


def test_preview_in_a_plain_terminal(cli, data_dir):
    result = cli("preview", "--seed", "3", "--count", "4")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "\x1b[" not in result.stdout  # no colour codes when not a terminal
    label_line = lines[-1].split()
    assert len(label_line) == 4
    assert all(name in {"plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
               for name in label_line)
    assert "@" in result.stdout  # the bright squares of the fake images
    assert result.stderr == ""  # the seed was given: no hint needed
    assert "pass --seed" in cli("preview", "--count", "1").stderr


def test_preview_is_repeatable_with_a_seed(cli, data_dir):
    first, again, other = (cli("preview", "--seed", seed, "--count", "8") for seed in ("5", "5", "6"))
    assert [first.exit_code, again.exit_code, other.exit_code] == [0, 0, 0], first.stderr
    labels = first.stdout.splitlines()[-1].split()
    assert len(labels) == 8  # two failures print the same nothing
    assert first.stdout == again.stdout
    assert other.stdout != first.stdout  # the seed chooses the images


def test_preview_filters_classes(cli, data_dir):
    result = cli("preview", "--classes", "cat,dog", "--count", "12", "--seed", "1")
    assert set(result.stdout.splitlines()[-1].split()) <= {"cat", "dog"}


def test_preview_saves_a_png(cli, data_dir, tmp_path):
    from cifarctl.pictures.grids import caption_font_size

    result = cli("preview", "--count", "8", "--save", "grid.png", "--scale", "2", "--split", "test")
    assert result.exit_code == 0, result.stderr
    band = round(caption_font_size(2) * 1.5)
    with Image.open(tmp_path / "grid.png") as image:
        assert image.format == "PNG"
        assert image.size == (8 * (64 + 4) + 4, 64 + band + 8)


def _dark_pixels(image, box) -> int:
    import numpy as np

    return int((np.asarray(image.crop(box).convert("L")) < 128).sum())


@pytest.mark.parametrize("scale", [1, 4, 16])
def test_the_png_names_each_image_under_it(data_dir, tmp_path, scale):
    import torch

    from cifarctl.pictures.grids import GRID_PADDING, caption_font_size, save_grid

    images = torch.full((3, 3, 32, 32), 255, dtype=torch.uint8)  # white, so only the text is dark
    save_grid(images, tmp_path / "grid.png", ["cat", "truck", "plane"], scale=scale, per_row=2)
    side, padding, band = 32 * scale, GRID_PADDING * scale, round(caption_font_size(scale) * 1.5)
    with Image.open(tmp_path / "grid.png") as image:
        assert image.size == (2 * (side + padding) + padding, 2 * (side + band + padding) + padding)
        for index in range(3):
            row, column = divmod(index, 2)
            x, y = padding + column * (side + padding), padding + row * (side + band + padding)
            assert _dark_pixels(image, (x, y + side, x + side, y + side + band)) > 10 * scale, index
            assert _dark_pixels(image, (x, y, x + side, y + side)) == 0
        assert _dark_pixels(image, (side + 2 * padding, side + band + 2 * padding, image.size[0], image.size[1])) == 0


def test_the_png_captions_are_the_printed_labels(cli, data_dir, tmp_path, monkeypatch):
    from cifarctl.pictures import grids as preview

    seen = {}
    monkeypatch.setattr(preview, "save_grid", lambda images, path, captions, scale: seen.update(captions=captions))
    result = cli("preview", "--count", "5", "--seed", "2", "--save", "grid.png")
    assert seen["captions"] == result.stdout.splitlines()[-1].split()


def test_preview_in_colour_uses_half_blocks(data_dir):
    import numpy as np

    from cifarctl.cli.pictures import HALF_BLOCK, colour_grid

    images = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    lines = colour_grid(images, ["cat", "dog"], width=80)
    assert len(lines) == 16 + 1
    assert lines[0].plain.count(HALF_BLOCK) == 64


def test_bad_preview_options(cli):
    assert cli("preview", "--count", "0").exit_code == 2
    assert cli("preview", "--split", "val").exit_code == 2
    result = cli("preview", "--classes", "cow")
    assert result.exit_code == 2 and "'cow' is not a CIFAR-10 class" in result.stderr


def test_preview_png_only(cli, data_dir):
    result = cli("preview", "--save", "grid.jpg")
    assert result.exit_code == 2 and "does not end in .png" in result.stderr


def test_preview_names_one_image_in_the_singular(cli, data_dir):
    result = cli("preview", "--count", "1", "--seed", "1", "--save", "one.png")
    assert "saved 1 image to one.png" in result.stderr


def _preview_on_a_terminal(data_dir, term: str) -> str:
    """stdout of `preview` on a pseudo-terminal with this TERM, as a person would see it."""
    from helpers import run_on_a_terminal

    return run_on_a_terminal(["--data-dir", str(data_dir), "preview", "--seed", "1", "--count", "2"], data_dir, term)


@pytest.mark.parametrize(("term", "colour"), [("xterm-256color", True), ("xterm", False), ("linux", False)])
def test_terminals_with_16_colours_get_ascii_pictures(data_dir, term, colour):
    """Under TERM=xterm rich maps each pixel to one of 16 colours: the images were grey blotches."""
    from cifarctl.cli.pictures import HALF_BLOCK

    shown = _preview_on_a_terminal(data_dir, term)
    assert (HALF_BLOCK in shown) == colour, shown[:400]
    if not colour:
        assert "@" in shown and "\x1b[4" not in shown  # the ramp's brightest character; no background colours


def test_long_names_break_onto_a_second_line_instead_of_running_into_the_next(tmp_path):
    """CIFAR-100's sweet_pepper and aquarium_fish do not fit under a 64-pixel image even in the smallest font."""
    import torch

    from cifarctl.pictures.grids import GRID_PADDING, MIN_FONT_SIZE, save_grid

    images = torch.full((3, 3, 32, 32), 255, dtype=torch.uint8)
    scale = 2
    save_grid(images, tmp_path / "grid.png", ["sweet_pepper", "aquarium_fish", "bee"], scale=scale, per_row=3)
    side, padding = 32 * scale, GRID_PADDING * scale
    band = round(MIN_FONT_SIZE * 1.5) + round(MIN_FONT_SIZE * 1.2)  # the smallest font, and one line more
    with Image.open(tmp_path / "grid.png") as image:
        assert image.size == (3 * (side + padding) + padding, side + band + 2 * padding)
        for column in range(3):
            x = padding + column * (side + padding)
            gap = (x - padding, padding + side, x, padding + side + band)  # between this caption and the last
            assert column == 0 or _dark_pixels(image, gap) == 0, column
        first_line = (padding, padding + side, padding + side, padding + side + band // 2)
        second_line = (padding, padding + side + band // 2, padding + side, padding + side + band)
        assert _dark_pixels(image, first_line) > 10 and _dark_pixels(image, second_line) > 10  # "sweet_" / "pepper"


def test_a_class_whose_name_has_a_comma_can_be_chosen(cli, tmp_path):
    from PIL import Image

    for index, name in enumerate(["red, blue", "green"]):
        for split in ("train", "test"):
            (tmp_path / "photos" / split / name).mkdir(parents=True)
            for number in range(2):
                Image.new("RGB", (32, 32), (100 * index, 50 * number, 0)).save(
                    tmp_path / "photos" / split / name / f"{number}.png")
    base = ("--data-dir", str(tmp_path / "data"), "--dataset", "colours")
    assert cli(*base, "download", "--from", str(tmp_path / "photos")).exit_code == 0
    result = cli(*base, "preview", "--classes", "red, blue", "--count", "2", "--seed", "0")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["red,", "blue", "red,", "blue"]
    both = cli(*base, "preview", "--classes", "green,red, blue", "--count", "2", "--seed", "0")
    assert both.exit_code == 2 and "'red' is not one of the dataset's classes" in both.stderr


@pytest.mark.parametrize("save", [False, True])
def test_preview_json_names_the_images_their_labels_and_where_they_are(cli, data_dir, tmp_path, save):
    import json

    from cifarctl.data.catalog import locate
    from cifarctl.data.memory import load_split

    args = ["preview", "--seed", "4", "--count", "5", "--split", "test", "--classes", "cat,ship"]
    result = cli(*args, "--json", *(["--save", "grid.png"] if save else []))
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)  # stdout is the one JSON document, no pictures
    assert (document["dataset"], document["split"], document["seed"]) == ("cifar10", "test", 4)
    assert document["classes"] == ["cat", "ship"]
    test = load_split(locate(data_dir), "test")
    for image in document["images"]:
        assert int(test.labels[image["index"]]) == image["label"]
        assert image["class"] == test.classes.names[image["label"]] and image["class"] in ("cat", "ship")
    assert len(document["images"]) == 5 and len({image["index"] for image in document["images"]}) == 5
    assert [image["class"] for image in document["images"]] == cli(*args).stdout.splitlines()[-1].split()
    assert document["png"] == ("grid.png" if save else None)
    assert (tmp_path / "grid.png").is_file() == save
