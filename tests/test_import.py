"""`cifarctl download --from`: archives, batches folders and image folders, offline."""

import json
import shutil

import pytest

from fake_cifar import SHORT_NAMES, write_image_folder


def test_import_archive(cli, fake_archive, fake_official, tmp_path):
    archive, _ = fake_archive
    result = cli("download", "--from", str(archive))
    assert result.exit_code == 0, result.stderr
    assert "imported" in result.stdout


def test_import_repackaged_archive_needs_md5(cli, fake_archive, tmp_path):
    archive, md5 = fake_archive
    refused = cli("download", "--from", str(archive))  # the real official checksums
    assert refused.exit_code == 1 and "pass --md5" in refused.stderr
    assert not (tmp_path / "data" / "cifar-10-batches-py").exists()
    accepted = cli("download", "--from", str(archive), "--md5", md5)
    assert accepted.exit_code == 0, accepted.stderr


def test_import_extracted_folder(cli, fake_batches, tmp_path):
    result = cli("download", "--from", str(fake_batches), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["counts"] == {"train": 300, "test": 100}
    assert "differ from the official release" in result.stderr  # fake data, honestly reported


def test_import_parent_of_extracted_folder(cli, fake_batches):
    assert cli("download", "--from", str(fake_batches.parent)).exit_code == 0


@pytest.mark.parametrize("names", ["long", "short"])
def test_import_image_folder(cli, tmp_path, names):
    from fake_cifar import LONG_NAMES

    root = write_image_folder(tmp_path / "pngs", names=LONG_NAMES if names == "long" else SHORT_NAMES)
    result = cli("--workers", "1", "download", "--from", str(root), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["counts"] == {"train": 60, "test": 30}
    from cifarctl.data.store import load_arrays

    images, labels = load_arrays(tmp_path / "data", "train")
    assert images.shape == (60, 3, 32, 32) and sorted(set(labels.tolist())) == list(range(10))


def test_import_jpeg_folder_with_parallel_workers(cli, tmp_path):
    root = write_image_folder(tmp_path / "jpgs", suffix=".jpg", per_class_train=210)
    result = cli("--workers", "2", "download", "--from", str(root))
    assert result.exit_code == 0, result.stderr
    assert "2,100 training and 30 test images" in result.stdout


def test_image_folder_with_wrong_size_or_class_is_refused(cli, tmp_path):
    from PIL import Image

    root = write_image_folder(tmp_path / "pngs")
    Image.new("RGB", (64, 64)).save(root / "train" / "cat" / "big.png")
    result = cli("download", "--from", str(root))
    assert result.exit_code == 1 and "is 64x64, not 32x32" in result.stderr
    (root / "train" / "cat" / "big.png").unlink()
    shutil.move(root / "test" / "dog", root / "test" / "wolf")
    result = cli("download", "--from", str(root))
    assert result.exit_code == 2 and "'wolf' is not a CIFAR-10 class" in result.stderr
    assert not (tmp_path / "data" / "cifar-10-batches-py").exists()


def test_from_a_missing_or_unknown_path(cli, tmp_path):
    assert cli("download", "--from", str(tmp_path / "nope")).exit_code == 2
    (tmp_path / "empty").mkdir()
    result = cli("download", "--from", str(tmp_path / "empty"))
    assert result.exit_code == 2 and "expected cifar-10-python.tar.gz" in result.stderr


def test_an_unreadable_archive_of_the_user_is_not_ours_to_delete(cli, tmp_path):
    import hashlib

    bogus = tmp_path / "cifar-10-python.tar.gz"
    bogus.write_text("this is not a tarball\n")
    result = cli("download", "--from", str(bogus), "--md5", hashlib.md5(bogus.read_bytes()).hexdigest())
    assert result.exit_code == 1 and "not a readable .tar.gz archive" in result.stderr
    assert "delete it" not in result.stderr and "import an extracted cifar-10-batches-py folder" in result.stderr
    assert bogus.exists()
