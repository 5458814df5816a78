"""`cifarctl predict`: image files of any kind in, top classes out; bad files named and skipped."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import save_tutorial_model
from PIL import Image

from cifarctl.data.catalog import locate

REPO = Path(__file__).resolve().parents[1]
CLASSES = {"plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}


@pytest.fixture
def model(tmp_path):
    return save_tutorial_model(tmp_path)


def noise(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def photos(tmp_path):
    """One picture of each kind predict must take, none of them 32x32 RGB PNG."""
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(noise((480, 640, 3))).save(folder / "photo.jpg", quality=90)
    Image.fromarray(noise((32, 32, 3), 1)).save(folder / "tiny.png")
    Image.fromarray(noise((50, 20), 2), "L").save(folder / "grey.png")
    Image.fromarray(noise((40, 70, 4), 3), "RGBA").save(folder / "alpha.png")
    Image.fromarray(noise((33, 31, 3), 4)).convert("P").save(folder / "palette.gif")
    Image.fromarray(noise((64, 48, 3), 5)).save(folder / "odd.bmp")
    return folder


def lines(stdout):
    return [line.split("\t") for line in stdout.splitlines()]


def test_every_kind_of_image_gets_its_top_classes(cli, model, photos):
    names = ["photo.jpg", "tiny.png", "grey.png", "alpha.png", "palette.gif", "odd.bmp"]
    result = cli("predict", *(str(photos / name) for name in names))
    assert result.exit_code == 0, result.stderr
    rows = lines(result.stdout)  # off a terminal: one tab-separated line per image
    assert [Path(row[0]).name for row in rows] == names
    for row in rows:
        assert len(row) == 4  # the file and the default top 3
        classes = [cell.split()[0] for cell in row[1:]]
        percentages = [float(cell.split()[1].rstrip("%")) for cell in row[1:]]
        assert set(classes) <= CLASSES and len(set(classes)) == 3
        assert percentages == sorted(percentages, reverse=True)


def test_json_has_one_entry_per_image_with_top_k(cli, model, photos):
    result = cli("predict", str(photos), "--json", "--top", "2")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"count", "failed", "tta", "resize", "predictions", "failures", "model"}
    assert (document["count"], document["failed"], document["resize"]) == (6, 0, "crop")
    assert document["model"] == {"path": "cifar_net.pth", "name": "net", "width": 6, "made_by": None,
                                 "made_by_missing": "a plain state_dict (the tutorial's format): no record of how "
                                                    "it was made"}
    for entry in document["predictions"]:
        assert set(entry) == {"path", "top"}
        assert [set(item) for item in entry["top"]] == [{"class", "probability"}] * 2
        assert 0 <= entry["top"][1]["probability"] <= entry["top"][0]["probability"] <= 1


def test_folders_are_searched_recursively_in_sorted_order(cli, model, tmp_path):
    for name in ("b/z.png", "b/deeper/a.png", "a.png", ".hidden/x.png", "notes.txt"):
        path = tmp_path / "pics" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".png"):
            Image.fromarray(noise((32, 32, 3))).save(path)
        else:
            path.write_text("not an image, and not an image name: ignored in folders")
    document = json.loads(cli("predict", "pics", "--json").stdout)
    assert [entry["path"] for entry in document["predictions"]] == ["pics/a.png", "pics/b/deeper/a.png", "pics/b/z.png"]


def test_unreadable_files_are_named_skipped_and_counted(cli, model, photos, tmp_path):
    (tmp_path / "broken.png").write_bytes((photos / "tiny.png").read_bytes()[:60])
    (tmp_path / "notes.jpg").write_text("hello")
    result = cli("predict", str(photos / "tiny.png"), "broken.png", "notes.jpg", "missing.png", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)  # the images that could be read are still reported
    assert [entry["path"] for entry in document["predictions"]] == [str(photos / "tiny.png")]
    assert {entry["path"] for entry in document["failures"]} == {"broken.png", "notes.jpg", "missing.png"}
    assert document["failed"] == 3
    for name in ("broken.png", "notes.jpg", "missing.png"):
        assert f"warning: skipped {name}: " in result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == ("error: 3 of 4 inputs could not be read (named above); "
                                                       "1 image was classified")


def test_strict_stops_at_the_first_unreadable_file(cli, model, photos, tmp_path):
    (tmp_path / "notes.jpg").write_text("hello")
    result = cli("predict", str(photos / "tiny.png"), "notes.jpg", str(photos / "grey.png"), "--strict", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: notes.jpg: not an image Pillow can read (--strict")


@pytest.fixture
def many_pngs(tmp_path):
    """Enough files for the parallel decoder (see PARALLEL_MIN_FILES)."""
    from cifarctl.inference.images import PARALLEL_MIN_FILES

    folder = tmp_path / "many"
    folder.mkdir()
    pixels = noise((PARALLEL_MIN_FILES + 40, 32, 32, 3))
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{index:04d}.png")
    return folder


def test_many_files_show_progress_on_stderr_only(cli, model, many_pngs, monkeypatch):
    from cifarctl.cli import predict as predict_command

    monkeypatch.setattr(predict_command, "PROGRESS_MIN_IMAGES", 100)
    result = cli("--workers", "2", "predict", str(many_pngs), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["count"] == len(list(many_pngs.iterdir()))
    assert "predicting" in result.stderr and "images/s" in result.stderr


def test_decoder_processes_are_capped_at_the_cpus_and_it_is_said_once(cli, model, many_pngs, monkeypatch):
    """`predict --workers 256` on 2 CPUs starts 2 decoders (as the import does), and one line says so."""
    from concurrent.futures import ProcessPoolExecutor

    from cifarctl import cpu_threads
    from cifarctl.inference import images

    started = []

    def counted(max_workers, **settings):
        started.append(max_workers)
        return ProcessPoolExecutor(max_workers=max_workers, **settings)

    monkeypatch.setattr(cpu_threads, "cores_available", lambda: 2)
    monkeypatch.setattr(images, "ProcessPoolExecutor", counted)
    result = cli("predict", str(many_pngs), "--workers", "256", "--json")
    assert result.exit_code == 0, result.stderr
    assert started == [2]
    assert result.stderr == ("warning: --workers: 256 decoder processes asked, capped at the 2 CPUs this process "
                             "may use\n")


def test_strict_stops_the_decoder_processes_too(cli, model, many_pngs):
    (many_pngs / "0007.png").write_text("damaged")
    result = cli("--workers", "2", "predict", str(many_pngs), "--strict")
    assert result.exit_code == 1 and result.stdout == ""
    assert "0007.png: not an image Pillow can read" in result.stderr


def _die(paths, resize):
    os._exit(3)


def test_a_decoder_process_that_dies_is_one_clear_error(cli, model, many_pngs, monkeypatch):
    from cifarctl.inference import images

    monkeypatch.setattr(images, "decode_chunk", _die)
    result = cli("--workers", "2", "predict", str(many_pngs))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: an image decoder process died")


def test_names_can_come_from_stdin(cli, model, photos, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{photos / 'grey.png'}\n\n{photos / 'odd.bmp'}\n"))
    result = cli("predict", str(photos / "tiny.png"), "-")
    assert result.exit_code == 0, result.stderr
    assert [Path(row[0]).name for row in lines(result.stdout)] == ["tiny.png", "grey.png", "odd.bmp"]


@pytest.mark.parametrize("binary", [True, False], ids=["bytes", "text"])
def test_names_on_stdin_are_taken_exactly_as_given(cli, model, tmp_path, monkeypatch, binary):
    """`' x.png'` is that file, not `x.png`; only the line's end is not part of a name (and a name that is
    not UTF-8 arrives as the file system spells it)."""
    Image.fromarray(noise((32, 32, 3), 7)).save(tmp_path / " x.png")
    Image.fromarray(noise((32, 32, 3), 8)).save(tmp_path / "x.png")
    Image.fromarray(noise((32, 32, 3), 9)).save(tmp_path / "y.png ", format="PNG")
    odd = os.fsdecode(b"z\xff.png")
    Image.fromarray(noise((32, 32, 3), 9)).save(tmp_path / odd, format="PNG")
    text = " x.png\ny.png \n\n" + (odd + "\n" if binary else "")
    stdin = io.TextIOWrapper(io.BytesIO(os.fsencode(text))) if binary else io.StringIO(text)
    monkeypatch.setattr(sys, "stdin", stdin)
    result = cli("predict", "-", "--json")
    assert result.exit_code == 0, result.stderr
    expected = [" x.png", "y.png "] + ([odd] if binary else [])
    assert [item["path"] for item in json.loads(result.stdout)["predictions"]] == expected


def test_a_file_name_never_breaks_a_line_or_a_column(cli, model, tmp_path):
    """A TAB, a line break or ESC in a file name is written as Python writes it in a string (\\t, \\n, \\x1b)
    in predict's tab-separated lines and in warnings, so every image keeps one line of four cells."""
    Image.fromarray(noise((32, 32, 3), 1)).save(tmp_path / "a\tb.png")
    Image.fromarray(noise((32, 32, 3), 2)).save(tmp_path / "\x1b[2Jc.png")
    (tmp_path / "x\ny.png").write_text("not an image")
    result = cli("predict", "a\tb.png", "\x1b[2Jc.png", "x\ny.png")
    assert result.exit_code == 1
    rows = lines(result.stdout)
    assert [row[0] for row in rows] == ["a\\tb.png", "\\x1b[2Jc.png"] and all(len(row) == 4 for row in rows)
    assert "\x1b" not in result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: skipped x\\ny.png: "), result.stderr
    assert len(result.stderr.splitlines()) == 2  # the warning and the error, one line each


def test_tta_follows_the_option_as_in_evaluate(cli, model, photos):
    from cifarctl.inference.evaluation import predict_probabilities
    from cifarctl.inference.images import load_image
    from cifarctl.inference.model_files import load_trained_model

    plain = json.loads(cli("predict", str(photos / "tiny.png"), "--json", "--top", "10").stdout)
    augmented = json.loads(cli("predict", str(photos / "tiny.png"), "--json", "--top", "10", "--tta").stdout)
    assert (plain["tta"], augmented["tta"]) == (False, True)  # the tutorial's Net: no TTA unless asked
    trained = load_trained_model(model)
    pixels = torch.from_numpy(load_image(photos / "tiny.png"))[None]
    expected = predict_probabilities(trained.network, pixels, torch.device("cpu"), 10, trained.mean, trained.std,
                                     tta=True)[0]
    got = {item["class"]: item["probability"] for item in augmented["predictions"][0]["top"]}
    names = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert got == pytest.approx({name: float(value) for name, value in zip(names, expected)}, abs=1e-6)


def test_webp_where_pillow_has_it(cli, model, tmp_path):
    from PIL import features

    if not features.check("webp"):
        pytest.skip("this Pillow was built without WebP")
    Image.fromarray(noise((40, 60, 3))).save(tmp_path / "picture.webp")
    result = cli("predict", "picture.webp", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["count"] == 1


def test_no_inputs_is_a_usage_error(cli, model):
    result = cli("predict")
    assert result.exit_code == 2
    assert "give image files or folders" in result.stderr


def test_predictions_agree_with_evaluate_on_the_same_images(cli, data_dir, model, tmp_path):
    """The 300 training images as PNG files (enough for the parallel decoder) and as the dataset."""
    from cifarctl.data.catalog import CLASS_NAMES
    from cifarctl.data.memory import load_split
    from cifarctl.inference.evaluation import predict as predict_labels
    from cifarctl.inference.model_files import load_trained_model

    split = load_split(locate(data_dir), "train")
    for index, (image, label) in enumerate(zip(split.images, split.labels.tolist())):
        folder = tmp_path / "images" / CLASS_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{index:04d}.png")
    result = cli("predict", "images", "--json", "--top", "1")
    assert result.exit_code == 0, result.stderr
    predictions = json.loads(result.stdout)["predictions"]
    predicted = {Path(entry["path"]).stem: entry["top"][0]["class"] for entry in predictions}
    trained = load_trained_model(model)
    expected = predict_labels(trained.network, split.images, torch.device("cpu"), 1000, trained.mean, trained.std)
    names = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert predicted == {f"{index:04d}": names[label] for index, label in enumerate(expected.tolist())}


def test_save_writes_one_captioned_picture_and_nothing_else(cli, model, photos, tmp_path):
    before = set(tmp_path.rglob("*"))
    result = cli("predict", str(photos), "--save", "grid.png")
    assert result.exit_code == 0, result.stderr
    assert set(tmp_path.rglob("*")) - before == {tmp_path / "grid.png"}
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.format == "PNG" and grid.width > 6 * 128
    assert cli("predict", str(photos), "--save", "grid.jpg").exit_code == 2


def test_without_save_nothing_is_written(cli, model, photos, tmp_path):
    before = set(tmp_path.rglob("*"))
    assert cli("predict", str(photos), "--json").exit_code == 0
    assert set(tmp_path.rglob("*")) == before


def test_a_terminal_gets_a_table_with_thumbnails(cli, model, photos, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLORTERM", "truecolor")
    shown = cli("predict", str(photos / "tiny.png"), str(photos / "photo.jpg"))
    assert shown.exit_code == 0, shown.stderr
    assert "Predictions for 2 images" in shown.stdout and "▀" in shown.stdout and "\x1b[38;2;" in shown.stdout
    plain = cli("predict", str(photos / "tiny.png"), "--no-thumbnails")
    assert "tiny.png" in plain.stdout and "▀" not in plain.stdout


def test_crop_takes_the_centre_and_stretch_keeps_everything(tmp_path):
    from cifarctl.inference.images import load_image

    wide = np.zeros((32, 96, 3), np.uint8)
    wide[:, :32] = (255, 0, 0)
    wide[:, 32:64] = (0, 255, 0)
    wide[:, 64:] = (0, 0, 255)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    cropped = load_image(tmp_path / "wide.png", "crop")
    assert cropped.shape == (3, 32, 32) and (cropped[1] == 255).all() and (cropped[0] == 0).all()
    stretched = load_image(tmp_path / "wide.png", "stretch")
    assert stretched[0, :, 0].min() > 200 and stretched[2, :, -1].min() > 200  # red left, blue right


def test_transparency_is_shown_on_white_and_grey_becomes_rgb(tmp_path):
    from cifarctl.inference.images import load_image

    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert (load_image(tmp_path / "clear.png") == 255).all()
    Image.new("L", (64, 64), 77).save(tmp_path / "grey.png")
    assert (load_image(tmp_path / "grey.png") == 77).all()


def _high_bit_depth(path, mode, value, dtype):
    """A 40x40 grey picture of `mode`, left half 0, right half `value`."""
    pixels = np.zeros((40, 40), dtype)
    pixels[:, 20:] = value
    image = Image.fromarray(pixels)
    assert image.mode == mode
    image.save(path)


# (suffix, Pillow mode, numpy type, right half's value, its expected 8-bit grey; None: refused by name)
HIGH_BIT_DEPTH = [
    (".tif", "I", np.int32, 32896, 128),  # 32-bit integers holding 16-bit data: mid-grey, not white
    (".tif", "I", np.int32, 65535, 255),
    (".png", "I;16", np.uint16, 32896, 128),
    (".tif", "F", np.float32, 0.5, 128),
    (".tif", "I", np.int32, 2**31 - 1, None),
    (".tif", "I", np.int32, -5, None),
    (".tif", "F", np.float32, 300.0, None),
]


@pytest.mark.parametrize(("suffix", "mode", "dtype", "value", "grey"), HIGH_BIT_DEPTH,
                         ids=[f"{mode}-{value}" for _, mode, _, value, _ in HIGH_BIT_DEPTH])
def test_high_bit_depth_images_are_scaled_by_their_real_range_or_refused(cli, model, tmp_path, suffix, mode, dtype,
                                                                          value, grey):
    from cifarctl.inference.images import load_image

    path = tmp_path / f"deep{suffix}"
    _high_bit_depth(path, mode, value, dtype)
    if grey is None:
        with pytest.raises(ValueError, match="save it as an 8- or 16-bit image"):
            load_image(path, "stretch")
        result = cli("predict", str(path))
        assert result.exit_code == 1 and f"skipped {path}" in result.stderr and "8- or 16-bit" in result.stderr
        return
    image = load_image(path, "stretch")
    assert image[:, :, :12].max() == 0 and abs(int(image[0, 5, 25]) - grey) <= 1, image[0, 5]


def test_a_photo_is_shown_upright_as_its_exif_says(tmp_path):
    from cifarctl.inference.images import load_image

    tall = np.zeros((64, 32, 3), np.uint8)
    tall[:32] = 255  # white top half
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise
    Image.fromarray(tall).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    upright = load_image(tmp_path / "rotated.jpg", "stretch")
    assert upright[:, :, 16:].mean() > 200 and upright[:, :, :16].mean() < 50  # the white half is now on the right


def _run(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "cifarctl", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


def test_real_process_keeps_stdout_for_results(model, photos, tmp_path):
    (tmp_path / "notes.jpg").write_text("hello")
    done = _run("predict", str(photos / "tiny.png"), "notes.jpg", "--json", cwd=tmp_path)
    assert done.returncode == 1
    assert json.loads(done.stdout)["failed"] == 1
    assert done.stderr.count("error: ") == 1 and "notes.jpg" in done.stderr


@pytest.mark.parametrize("command", ["predict", "export"])
def test_help_does_not_import_torch(command, tmp_path):
    probe = ("import sys\nfrom cifarctl.cli.app import run\n"
             f"code = run([{command!r}, '--help'])\n"
             "print('HEAVY=' + ','.join(m for m in ('torch', 'torchvision', 'numpy', 'PIL') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "centre" in done.stdout or "normalisation" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "HEAVY="


def test_special_files_are_skipped_not_waited_for(cli, data_dir, tmp_path):
    assert cli("train", "--epochs", "1", "--seed", "0").exit_code == 0
    folder = tmp_path / "pictures"
    folder.mkdir()
    os.mkfifo(folder / "fifo.png")
    os.mkfifo(tmp_path / "named.png")
    result = cli("predict", "--model", "cifar_net.pth", str(folder), "named.png", "--json")
    assert result.exit_code == 1
    failures = {Path(item["path"]).name for item in json.loads(result.stdout)["failures"]}
    assert {"fifo.png", "named.png"} <= failures


def test_names_from_stdin_are_bounded_by_the_longest_path(cli, model, monkeypatch):
    """`predict - < /dev/zero`: a 'name' with no end is refused, not read into memory whole."""
    monkeypatch.setattr("sys.stdin", io.StringIO("\0" * 100_000))
    result = cli("predict", "-")
    assert result.exit_code == 2 and "longer than 4096 characters" in result.stderr


def test_a_cifar100_model_names_cifar100_classes_as_evaluate_does(cli, cifar100_model, tmp_path):
    """Test images of the fake CIFAR-100 as PNG files: predict's top class is evaluate's prediction, by name."""
    from cifarctl.data.catalog import CIFAR100_CLASSES
    from cifarctl.data.memory import load_split
    from cifarctl.inference.evaluation import predict as predict_labels
    from cifarctl.inference.model_files import load_trained_model

    data, model = cifar100_model
    split = load_split(locate(data, "cifar100"), "test")
    folder = tmp_path / "images"
    folder.mkdir()
    for index, image in enumerate(split.images[:12]):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{index:02d}.png")
    result = cli("predict", "--model", str(model), str(folder), "--json", "--top", "5", "--no-tta")
    assert result.exit_code == 0, result.stderr
    entries = json.loads(result.stdout)["predictions"]
    assert all(top["class"] in CIFAR100_CLASSES.names for entry in entries for top in entry["top"])
    assert all(len(entry["top"]) == 5 for entry in entries)
    trained = load_trained_model(model)
    expected = predict_labels(trained.network, split.images[:12], torch.device("cpu"), 100, trained.mean, trained.std)
    assert [entry["top"][0]["class"] for entry in entries] == [CIFAR100_CLASSES.names[label]
                                                              for label in expected.tolist()]
    plain = cli("predict", "--model", str(model), str(folder / "00.png"), "--no-tta")
    assert plain.stdout.split("\t")[1].split()[0] == CIFAR100_CLASSES.names[expected[0]]
