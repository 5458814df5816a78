"""`download --dataset NAME --from FOLDER`: the user's own labelled image folders.

Any number of classes (named by their folders, sorted), any size and mode (centre crop, then
antialiased resize to 32x32), with or without a test/ folder (a seeded, class-balanced split
is held out), and one line for every folder that cannot be a dataset.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cifarctl.data.catalog import CIFAR100_CLASSES, locate
from cifarctl.data.store import dataset_classes, load_arrays

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]


def make_folder(root: Path, classes: list[str], train: int = 3, test: int | None = 2, size=(32, 32),
                layout: str = "train+test") -> Path:
    """Solid images: class i has red = 40 * i (or COLOURS[i] at other sizes), image j has green = 10 * j."""
    for index, name in enumerate(classes):
        splits = {"train": train, "test": test} if layout == "train+test" else {"train": train}
        for split, count in splits.items():
            folder = root / name if layout == "plain" else root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for number in range(count):
                Image.new("RGB", size, (40 * index, 10 * number, 0)).save(folder / f"{number}.png")
    return root


def import_folder(cli, data: Path, folder: Path, *options: str, dataset: str = "pets"):
    return cli("--workers", "1", "--data-dir", str(data), "--dataset", dataset, "download", "--from", str(folder),
               *options)


def assert_one_line_error(result, code: int, fragment: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.stdout == ""


def assert_no_dataset_written(data: Path) -> None:
    left = sorted(path.name for path in data.iterdir()) if data.exists() else []
    assert left in ([], [".cifarctl.lock"]), left  # no dataset folder, no scratch folder


# --- classes ------------------------------------------------------------------------------------

def test_three_classes_are_named_by_their_folders_in_sorted_order(cli, tmp_path):
    root = make_folder(tmp_path / "pets", ["fox", "cat", "dog"])  # folder i has red 40 * i: cat 40, dog 80, fox 0
    data = tmp_path / "data"
    result = import_folder(cli, data, root)
    assert result.exit_code == 0, result.stderr
    assert "pets is ready in" in result.stdout and "9 training and 6 test images" in result.stdout
    assert "3 classes: cat, dog, fox" in result.stdout
    assert "resized" not in result.stdout and "test split" not in result.stdout  # 32x32, and its own test/
    place = locate(data, "pets")
    assert dataset_classes(place).names == ("cat", "dog", "fox")  # from the stored meta file
    for split in ("train", "test"):
        images, labels = load_arrays(place, split)
        red_of_label = {0: 40, 1: 80, 2: 0}
        assert [red_of_label[label] for label in labels.tolist()] == images[:, 0, 0, 0].tolist()
    document = json.loads(import_folder(cli, tmp_path / "other", root, "--json").stdout)
    assert document["classes"] == ["cat", "dog", "fox"] and document["test_split"] is None
    assert document["resized"]["images"] == 0 and document["resized"]["sizes"] == [{"size": "32x32", "images": 15}]


def test_150_classes_with_a_few_images_each(cli, tmp_path):
    root = tmp_path / "many"
    names = [f"class{index:03d}" for index in range(150)]
    for index, name in enumerate(names):
        for split, count in (("train", 2), ("test", 1)):
            (root / split / name).mkdir(parents=True)
            for number in range(count):
                Image.new("RGB", (32, 32), (index, number, 7)).save(root / split / name / f"{number}.png")
    result = import_folder(cli, tmp_path / "data", root, "--json", dataset="many")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["counts"] == {"train": 300, "test": 150} and document["classes"] == names
    place = locate(tmp_path / "data", "many")
    images, labels = load_arrays(place, "train")
    assert images[:, 0, 0, 0].tolist() == labels.tolist()  # red is the class: every image kept its label
    assert np.bincount(labels, minlength=150).tolist() == [2] * 150


# --- sizes and modes ----------------------------------------------------------------------------

def test_other_sizes_are_centre_cropped_then_resized_with_antialiasing(cli, tmp_path):
    root = tmp_path / "sizes"
    wide = np.zeros((32, 64, 3), np.uint8)
    wide[:, :16] = (255, 0, 0)  # left quarter red
    wide[:, 16:48] = (0, 255, 0)  # the centred square green
    wide[:, 48:] = (0, 0, 255)  # right quarter blue
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)  # one-pixel black and white
    for split in ("train", "test"):
        for name in ("wide", "checker", "photo"):
            (root / split / name).mkdir(parents=True)
        Image.fromarray(wide).save(root / split / "wide" / "wide.png")
        Image.fromarray(checker).convert("RGB").save(root / split / "checker" / "checker.png")
        for number in range(2):
            Image.new("RGB", (500, 375), (9, 9, 9)).save(root / split / "photo" / f"{number}.jpg")
    result = import_folder(cli, tmp_path / "data", root)
    assert result.exit_code == 0, result.stderr
    assert ("resized 8 images to 32x32 (centre crop to a square, then antialiased resize); "
            "sizes found: 500x375 (4), 64x32 (2), 64x64 (2)") in result.stdout
    images, labels = load_arrays(locate(tmp_path / "data", "pets"), "train")
    by_class = {label: images[index] for index, label in enumerate(labels.tolist())}
    names = dataset_classes(locate(tmp_path / "data", "pets")).names
    assert names == ("checker", "photo", "wide")
    assert (by_class[2].transpose(1, 2, 0) == (0, 255, 0)).all()  # the red and blue quarters are cut off
    assert by_class[0].min() > 100 and by_class[0].max() < 156  # averaged to grey, not sampled to black/white
    document = json.loads(import_folder(cli, tmp_path / "again", root, "--json").stdout)
    assert document["resized"] == {"images": 8, "of": 8, "rule": "centre crop to a square, then antialiased resize",
                                   "distinct_sizes": 3, "sizes": [{"size": "500x375", "images": 4},
                                                                  {"size": "64x32", "images": 2},
                                                                  {"size": "64x64", "images": 2}]}


def _mode_images() -> dict[str, tuple[Image.Image, tuple[int, int, int]]]:
    """One image per mode, with the RGB it must become."""
    palette = Image.new("P", (40, 24), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    deep = Image.fromarray(np.full((32, 48), 32896, np.uint16))
    assert deep.mode == "I;16"
    return {
        "grey": (Image.new("L", (48, 48), 77), (77, 77, 77)),
        "rgba": (Image.new("RGBA", (32, 32), (255, 0, 0, 128)), (255, 127, 127)),  # half-transparent red on white
        "palette": (palette, (10, 200, 30)),
        "sixteen": (deep, (128, 128, 128)),  # 32896 of 65535: mid-grey, not clipped to white
    }


def test_grey_rgba_palette_and_16_bit_images_become_rgb(cli, tmp_path):
    root = tmp_path / "modes"
    modes = _mode_images()
    for split in ("train", "test"):
        for name, (image, _) in modes.items():
            (root / split / name).mkdir(parents=True)
            image.save(root / split / name / f"{name}.png")
    result = import_folder(cli, tmp_path / "data", root)
    assert result.exit_code == 0, result.stderr
    place = locate(tmp_path / "data", "pets")
    names = dataset_classes(place).names
    images, labels = load_arrays(place, "test")
    for image, label in zip(images, labels.tolist()):
        expected = modes[names[label]][1]
        assert np.abs(image.transpose(1, 2, 0).astype(int) - expected).max() <= 1, (names[label], image[:, 0, 0])


def test_odd_names_work_and_hidden_files_are_skipped_silently(cli, tmp_path):
    root = make_folder(tmp_path / "odd", ["sea lion", "日本", "-dash", "Zebra"], layout="plain", train=5)
    (root / ".DS_Store").write_bytes(b"litter")
    (root / ".ipynb_checkpoints" / "cat").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(root / ".ipynb_checkpoints" / "cat" / "0.png")
    (root / "sea lion" / "._0.png").write_bytes(b"macOS resource fork")
    (root / "sea lion" / ".DS_Store").write_bytes(b"litter")
    (root / "日本" / ".hidden").mkdir()
    (root / "日本" / ".hidden" / "x.png").write_bytes(b"not an image")
    result = import_folder(cli, tmp_path / "data", root, "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["classes"] == ["-dash", "Zebra", "sea lion", "日本"]  # sorted as ImageFolder sorts them
    assert document["skipped"] == [] and "warning" not in result.stderr
    assert document["counts"] == {"train": 16, "test": 4}
    assert dataset_classes(locate(tmp_path / "data", "pets")).names == ("-dash", "Zebra", "sea lion", "日本")


def test_a_class_named_train_and_a_folder_beside_train_and_test(cli, tmp_path):
    """train/ holding images is a class (CIFAR-100 has one); train/ holding class folders is the split."""
    vehicles = make_folder(tmp_path / "vehicles", ["bus", "car", "train"], train=5, layout="plain")
    result = import_folder(cli, tmp_path / "data", vehicles, "--json", dataset="vehicles")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["classes"] == ["bus", "car", "train"]
    kaggle = make_folder(tmp_path / "kaggle", ["cat", "dog"])
    make_folder(kaggle / "valid", ["cat", "dog"], layout="plain")
    result = import_folder(cli, tmp_path / "data", kaggle, "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["classes"] == ["cat", "dog"] and document["counts"] == {"train": 6, "test": 4}
    assert document["skipped"] == [{"path": str(kaggle / "valid"),
                                    "reason": "a folder beside train/ and test/ (only those two are read)"}]


def test_a_cifar100_image_folder_copy_names_the_fine_labels(cli, tmp_path):
    """A built-in's folders must be its classes; case and a space for '_' do not matter."""
    root = tmp_path / "c100"
    for index, name in enumerate(CIFAR100_CLASSES.names):
        shown = {"aquarium_fish": "aquarium fish", "apple": "Apple"}.get(name, name)
        (root / shown).mkdir(parents=True)
        for number in range(2):
            Image.new("RGB", (32, 32), (index, number, 0)).save(root / shown / f"{number}.png")
    result = import_folder(cli, tmp_path / "data", root, "--test-split", "100", dataset="cifar100")
    assert result.exit_code == 0, result.stderr
    assert "CIFAR-100 is ready" in result.stdout and "100 training and 100 test images" in result.stdout
    for split in ("train", "test"):
        images, labels = load_arrays(locate(tmp_path / "data", "cifar100"), split)
        assert images[:, 0, 0, 0].tolist() == labels.tolist()  # the official label order
        assert sorted(labels.tolist()) == list(range(100))


# --- a test split held out ----------------------------------------------------------------------

def _test_images(data: Path, dataset: str = "pets") -> set[tuple[int, int]]:
    """Which images went to the test split, as (red, green): (class, number)."""
    images, _ = load_arrays(locate(data, dataset), "test")
    return {(int(image[0, 0, 0]), int(image[1, 0, 0])) for image in images}


@pytest.mark.parametrize("layout", ["train-only", "plain"])
def test_without_test_folder_a_seeded_class_balanced_split_is_held_out(cli, tmp_path, layout):
    root = make_folder(tmp_path / "pets", ["cat", "dog", "fox"], train=10, layout=layout, test=None)
    result = import_folder(cli, tmp_path / "a", root, "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["counts"] == {"train": 24, "test": 6}  # 0.2 by default
    assert document["test_split"] == {"size": 6, "seed": 0, "of": 30, "classes_without_test_images": []}
    _, labels = load_arrays(locate(tmp_path / "a", "pets"), "test")
    assert np.bincount(labels).tolist() == [2, 2, 2]
    train_images, _ = load_arrays(locate(tmp_path / "a", "pets"), "train")
    train = {(int(image[0, 0, 0]), int(image[1, 0, 0])) for image in train_images}
    assert len(train) == 24 and not train & _test_images(tmp_path / "a")  # every image in one split only

    assert import_folder(cli, tmp_path / "b", root).exit_code == 0
    assert _test_images(tmp_path / "b") == _test_images(tmp_path / "a")  # the same seed, the same split
    plain = import_folder(cli, tmp_path / "c", root, "--split-seed", "7", "--test-split", "7")
    assert plain.exit_code == 0, plain.stderr
    assert ("test split: 7 of 30 images held out, as even over the classes as their counts allow (seed 7)"
            in plain.stdout)
    _, labels = load_arrays(locate(tmp_path / "c", "pets"), "test")
    assert sorted(np.bincount(labels).tolist()) == [2, 2, 3]
    assert import_folder(cli, tmp_path / "d", root, "--split-seed", "7").exit_code == 0
    assert _test_images(tmp_path / "d") != _test_images(tmp_path / "a")  # another seed, another split


def test_split_options_are_refused_where_they_do_not_apply(cli, tmp_path):
    root = make_folder(tmp_path / "pets", ["cat", "dog"])
    data = tmp_path / "data"
    assert_one_line_error(import_folder(cli, data, root, "--test-split", "0.1"), 2,
                          f"--test-split: {root / 'test'} already is the test split")
    assert_one_line_error(import_folder(cli, data, root, "--split-seed", "3"), 2, "--split-seed")
    assert_one_line_error(cli("--data-dir", str(data), "download", "--test-split", "0.1"), 2,
                          "use it with --from FOLDER")
    assert_no_dataset_written(data)


# --- bad input: one line, exit 2 (1 for a damaged image), nothing written ----------------------

def _one_class(root: Path) -> str:
    make_folder(root, ["cat"], layout="plain")
    return f"{root} has 1 class folder; a dataset needs 2 to 1,000 classes"


def _empty_class(root: Path) -> str:
    make_folder(root, ["cat", "dog"])
    (root / "train" / "empty").mkdir()
    (root / "train" / "empty" / ".DS_Store").write_bytes(b"litter")
    (root / "test" / "empty").mkdir()
    return "no .jpeg/.jpg/.png images in the folder of class empty; every class needs images"


def _test_class_not_in_train(root: Path) -> str:
    make_folder(root, ["cat", "dog"])
    (root / "test" / "wolf").mkdir()
    Image.new("RGB", (32, 32)).save(root / "test" / "wolf" / "0.png")
    return "train/ and test/ must hold the same class folders, but test/ has class wolf that train/ lacks"


def _train_class_not_in_test(root: Path) -> str:
    make_folder(root, ["cat", "dog", "fox"])
    for path in (root / "test" / "fox").iterdir():
        path.unlink()
    (root / "test" / "fox").rmdir()
    return "train/ has class fox that test/ lacks"


def _names_differing_in_case(root: Path) -> str:
    make_folder(root, ["Cat", "cat", "dog"])
    return "class folders 'Cat' and 'cat' in"


def _too_many_classes(root: Path) -> str:
    for index in range(1001):
        (root / "train" / f"c{index}").mkdir(parents=True)
    return "has 1,001 class folders; a dataset needs 2 to 1,000 classes"


def _undecodable_image(root: Path) -> str:
    make_folder(root, ["cat", "dog"])
    (root / "train" / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return f"{root / 'train' / 'dog' / 'broken.png'} is not a readable image"


def _too_large_a_test_split(root: Path) -> str:
    make_folder(root, ["cat", "dog", "fox"], train=4, test=None, layout="plain")
    return "which would leave a class of its 3 nothing to train on"


def _test_without_train(root: Path) -> str:
    make_folder(root, ["cat", "dog"])
    (root / "train").rename(root / "elsewhere")
    return "has a test/ folder but no train/ folder"


def _two_spellings_of_cafe(root: Path) -> str:
    import unicodedata

    make_folder(root, [unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café"), "dog"])
    return "are the same letters, spelt two ways in Unicode"


def _class_named(name: str, fragment: str):
    def build(root: Path) -> str:
        make_folder(root, [name, "dog"])
        return f"class folder {name!r} in {root / 'train'}: a class name {fragment}"
    return build


BAD_FOLDERS = {
    "one class": (_one_class, 2, ()),
    "empty class": (_empty_class, 2, ()),
    "test class not in train": (_test_class_not_in_train, 2, ()),
    "train class not in test": (_train_class_not_in_test, 2, ()),
    "names differing in case": (_names_differing_in_case, 2, ()),
    "more than 1,000 classes": (_too_many_classes, 2, ()),
    "undecodable image": (_undecodable_image, 1, ()),
    "test split too large": (_too_large_a_test_split, 2, ("--test-split", "0.9")),
    "test split not a number": (lambda root: make_folder(root, ["a", "b"], layout="plain") and "neither a count",
                                2, ("--test-split", "abc")),
    "test/ without train/": (_test_without_train, 2, ()),
    # class names are printed in tables, tab-separated lines and captions: printable characters only
    "a TAB in a class name": (_class_named("a\tb", "holds U+0009, a control or invisible format character"), 2, ()),
    "a line break in a class name": (_class_named("x\ny", "holds U+000A"), 2, ()),
    "ESC in a class name": (_class_named("\x1b[31mred", "holds U+001B"), 2, ()),
    "a bidi override in a class name": (_class_named("abc\u202edef", "holds U+202E RIGHT-TO-LEFT OVERRIDE"), 2, ()),
    "a zero-width space in a class name": (_class_named("ca\u200bt", "holds U+200B ZERO WIDTH SPACE"), 2, ()),
    "a no-break space in a class name": (_class_named("sea\xa0lion", "holds U+00A0 NO-BREAK SPACE, a space"), 2, ()),
    "a class name ending in a space": (_class_named("cat ", "starts or ends with a space"), 2, ()),
    "café spelt two ways": (_two_spellings_of_cafe, 2, ()),
}


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
def test_a_folder_that_cannot_be_a_dataset_gets_one_line(cli, tmp_path, case):
    build, code, options = BAD_FOLDERS[case]
    root = tmp_path / "pets"
    fragment = build(root)
    data = tmp_path / "data"
    assert_one_line_error(import_folder(cli, data, root, *options), code, fragment)
    assert_no_dataset_written(data)


def test_a_data_dir_among_the_class_folders_is_refused(cli, tmp_path):
    root = make_folder(tmp_path / "pets", ["cat", "dog"], layout="plain")
    assert_one_line_error(import_folder(cli, root / "data", root), 2,
                          "is inside the image folder's class folders")
    assert not (root / "data").exists() or not (root / "data" / "pets").exists()


# --- then used by name with every command -------------------------------------------------------

def test_an_imported_folder_is_used_by_name_from_training_to_export(cli, tmp_path):
    root = tmp_path / "shapes-folder"
    for index, name in enumerate(["circle", "square", "triangle"]):
        for split, count in (("train", 16), ("test", 4)):
            (root / split / name).mkdir(parents=True)
            for number in range(count):
                Image.new("RGB", (48, 48), tuple(min(255, c + number) for c in COLOURS[index])).save(
                    root / split / name / f"{number}.png")
    data = str(tmp_path / "data")
    shapes = ("--data-dir", data, "--dataset", "shapes")
    result = cli(*shapes, "download", "--from", str(root))
    assert result.exit_code == 0, result.stderr
    assert "3 classes: circle, square, triangle" in result.stdout and "48x48 (60)" in result.stdout

    preview = cli(*shapes, "preview", "-n", "4", "--split", "test")
    assert preview.exit_code == 0, preview.stderr
    assert any(name in preview.stdout for name in ("circle", "square", "triangle"))
    trained = cli(*shapes, "train", "--model", "net", "--epochs", "1", "--batch-size", "8")
    assert trained.exit_code == 0, trained.stderr
    evaluated = cli("--data-dir", data, "evaluate", "--json")  # the model file says which dataset it was trained on
    assert evaluated.exit_code == 0, evaluated.stderr
    document = json.loads(evaluated.stdout)
    assert document["total"] == 12 and set(document["per_class"]) == {"circle", "square", "triangle"}

    predicted = cli("predict", str(root / "test" / "square" / "0.png"), "--json", "--top", "3")
    assert predicted.exit_code == 0, predicted.stderr
    top = json.loads(predicted.stdout)["predictions"][0]["top"]
    assert sorted(item["class"] for item in top) == ["circle", "square", "triangle"]
    exported = cli("export", "--format", "torchscript", "--json")
    assert exported.exit_code == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["classes"] == ["circle", "square", "triangle"]
    assert json.loads(Path(document["metadata"]).read_text())["classes"] == ["circle", "square", "triangle"]


# --- what a user forgets or leaves lying around ---------------------------------------------------

def test_own_classes_without_a_dataset_name_say_how_to_name_one(cli, tmp_path):
    root = make_folder(tmp_path / "photos", ["big dog", "cat"])
    result = cli("--data-dir", str(tmp_path / "data"), "download", "--from", str(root))
    assert_one_line_error(result, 2, f"is not a CIFAR-10 class (plane, car, bird, cat, deer, ...); to import classes "
                                     f"of your own, name the dataset: cifarctl download --dataset NAME --from {root}")
    assert_no_dataset_written(tmp_path / "data")


def test_another_built_in_datasets_copy_says_which_dataset_it_is(cli, tmp_path, fake_cifar100):
    result = cli("--data-dir", str(tmp_path / "data"), "download", "--from", str(fake_cifar100))
    assert_one_line_error(result, 2, f"--from {fake_cifar100} is CIFAR-100's folder; add --dataset cifar100")
    names = ["apple", "aquarium fish", "train"]  # CIFAR-100 names, as an image folder of a subset would have them
    root = make_folder(tmp_path / "c100", names)
    result = cli("--data-dir", str(tmp_path / "data"), "download", "--from", str(root))
    assert_one_line_error(result, 2,
                          f"--from {root}: its class folders are CIFAR-100's classes; add --dataset cifar100")


def test_an_image_beside_the_class_folders_is_named_as_skipped(cli, tmp_path):
    root = make_folder(tmp_path / "pets", ["cat", "dog"])
    Image.new("RGB", (32, 32)).save(root / "train" / "stray.png")  # train/ still holds class folders
    result = import_folder(cli, tmp_path / "data", root)
    assert result.exit_code == 0, result.stderr
    assert f"skipped {root / 'train' / 'stray.png'}: beside the class folders, not in one" in result.stderr
    assert "2 classes: cat, dog" in result.stdout and "1 file skipped" in result.stdout


def test_a_small_class_keeps_an_image_and_the_others_give_more(cli, tmp_path):
    root = tmp_path / "tiny"
    make_folder(root, ["dog"], train=10, test=None, layout="plain")
    make_folder(tmp_path / "one", ["cat"], train=1, test=None, layout="plain")
    (tmp_path / "one" / "cat").rename(root / "cat")
    result = import_folder(cli, tmp_path / "data", root, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["test_split"] == {"size": 2, "seed": 0, "of": 11,
                                                           "classes_without_test_images": ["cat"]}
    from cifarctl.data.store import load_arrays

    train_labels = load_arrays(locate(tmp_path / "data", "pets"), "train")[1].tolist()
    test_labels = load_arrays(locate(tmp_path / "data", "pets"), "test")[1].tolist()
    assert (train_labels.count(0), sorted(test_labels)) == (1, [1, 1])  # cat (label 0) keeps its one image


def test_a_subset_of_cifar10s_classes_without_a_dataset_name_says_how_to_name_it(cli, tmp_path):
    root = make_folder(tmp_path / "photos", ["cat", "dog", "ship"])
    result = cli("--data-dir", str(tmp_path / "data"), "download", "--from", str(root))
    assert_one_line_error(result, 2, f"--from {root} has 3 of CIFAR-10's 10 classes; for a dataset of just these, "
                                     f"name it: cifarctl download --dataset NAME --from {root}")


def test_class_names_that_look_like_markup_are_shown_as_they_are(cli, tmp_path):
    root = make_folder(tmp_path / "pets", ["[red]cats", "dogs [old]"])  # rich would colour the first, hide the second's
    data = tmp_path / "data"
    result = import_folder(cli, data, root)
    assert result.exit_code == 0, result.stderr
    assert "2 classes: [red]cats, dogs [old]" in result.stdout
    base = ("--data-dir", str(data), "--dataset", "pets")
    preview = cli(*base, "preview", "--count", "3", "--seed", "0", "--classes", "dogs [old]")
    assert preview.exit_code == 0 and preview.stdout.strip().splitlines()[-1].count("dogs [old]") == 3
    assert cli(*base, "train", "--epochs", "1", "--batch-size", "2", "--output", str(tmp_path / "m.pth")).exit_code == 0
    evaluated = cli(*base, "evaluate", "--model", str(tmp_path / "m.pth"))
    assert evaluated.exit_code == 0, evaluated.stderr
    assert "[red]cats" in evaluated.stdout.split("Confusion matrix")[1]
    assert "dogs [old]" in evaluated.stdout.split("Confusion matrix")[1]


def test_classes_left_without_test_images_are_said_and_not_scored(cli, tmp_path):
    root = tmp_path / "few"
    make_folder(root, ["a", "b", "c", "d"], train=3, test=None, layout="plain")  # 12 images, 2 held out
    data = tmp_path / "data"
    result = import_folder(cli, data, root, "--test-split", "2", "--json")
    assert result.exit_code == 0, result.stderr
    untested = json.loads(result.stdout)["test_split"]["classes_without_test_images"]
    assert len(untested) == 2
    base = ("--data-dir", str(data), "--dataset", "pets")
    assert cli(*base, "train", "--epochs", "1", "--batch-size", "4", "--output", str(tmp_path / "m.pth")).exit_code == 0
    document = json.loads(cli(*base, "evaluate", "--model", str(tmp_path / "m.pth"), "--json").stdout)
    assert [name for name, value in document["per_class"].items() if value is None] == untested
    assert all(document["per_class_scores"][name]["f1"] is None for name in untested)
    text = cli(*base, "evaluate", "--model", str(tmp_path / "m.pth"), "--no-show").stdout
    assert f"no test images of {', '.join(untested)}: not measured, and left out of the macro F1" in text


def test_a_class_name_is_kept_in_nfc_so_both_spellings_are_one_class(cli, tmp_path):
    """macOS writes `café` as `e` and a combining accent: train/ in one spelling and test/ in the other is one
    class, kept (and printed, and recorded in models) in NFC."""
    import unicodedata

    composed, decomposed = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    root = make_folder(tmp_path / "pets", [decomposed, "dog"])
    (root / "test" / decomposed).rename(root / "test" / composed)
    data = tmp_path / "data"
    result = import_folder(cli, data, root, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["classes"] == [composed, "dog"]
    assert dataset_classes(locate(data, "pets")).names == (composed, "dog")
    base = ("--data-dir", str(data), "--dataset", "pets")
    assert cli(*base, "preview", "--count", "2", "--classes", decomposed).exit_code == 0


def test_a_stored_class_name_that_breaks_output_is_refused_when_read(tmp_path):
    """A meta file edited by hand (or written before the rule) cannot bring a TAB into predict's lines."""
    import pickle

    from cifarctl.data.python_format import read_classes
    from cifarctl.errors import DatasetCorruptError

    (tmp_path / "meta").write_bytes(pickle.dumps({"fine_label_names": ["c\tat", "dog"], "coarse_label_names": []}))
    with pytest.raises(DatasetCorruptError, match=r"lists the class name 'c\\tat', which holds U\+0009"):
        read_classes(tmp_path, None)
    (tmp_path / "meta").write_bytes(pickle.dumps({"fine_label_names": ["cafe\u0301", "dog"], "coarse_label_names": []}))
    with pytest.raises(DatasetCorruptError, match="is not in Unicode's NFC"):
        read_classes(tmp_path, None)
